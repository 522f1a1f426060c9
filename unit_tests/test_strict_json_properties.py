"""Properties of calpolicy's two JSON readers: any input is a value or a ValueError, never another exception.

``parse_json`` reads standard JSON exactly as ``json.loads`` does (the same values, NaN included), except
that a document nested deeper than ``MAX_DEPTH`` is a ``JSONTooDeepError`` instead of a
``RecursionError`` (100,000 deep) or a value the next ``json.dumps`` cannot follow (990 deep); an integer
of more than 4,300 digits stays a ``ValueError``. ``loads_strict`` refuses a duplicate key, NaN and
Infinity on top, always as a ``StrictJSONError``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calpolicy.files.strict_json import (
    MAX_DEPTH,
    DuplicateKeyError,
    JSONTooDeepError,
    StrictJSONError,
    loads_strict,
    parse_json,
)

# Text that looks like JSON often enough to reach every branch of the parser: brackets to nest, quotes
# and escapes, digits and exponents, the NaN/Infinity words, a byte-order mark and a lone surrogate.
_PIECES = ['[', ']', '{', '}', '"', ":", ",", " ", "0", "7", "-", ".", "e", "E", "+", "\\", "u", "d800",
           "true", "false", "null", "NaN", "Infinity", '"k"', "\ufeff", "\ud800", "é", "1" * 400]  # fmt: skip
jsonish = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def _outcome(read: Any, text: str | bytes) -> Any:
    """What ``read`` makes of the text: ("value", v) or ("error", type); any other exception escapes."""
    try:
        return "value", read(text)
    except ValueError as error:
        return "error", type(error)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values, NaN equal to NaN (json.loads reads NaN, and NaN != NaN)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _depth(value: Any) -> int:
    """How many arrays or objects deep the value nests (0 for a scalar)."""
    if not isinstance(value, dict | list):
        return 0
    return 1 + max(map(_depth, value.values() if isinstance(value, dict) else value), default=0)


@given(st.text() | jsonish)
def test_any_text_is_a_value_or_a_value_error(text: str) -> None:
    _outcome(parse_json, text)
    _outcome(loads_strict, text)


@given(st.binary() | jsonish.map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_any_bytes_are_a_value_or_a_value_error(data: bytes) -> None:
    _outcome(parse_json, data)
    _outcome(loads_strict, data)


@given(st.text() | jsonish)
def test_what_json_loads_reads_parse_json_reads_alike(text: str) -> None:
    """Standard semantics: the same value where json.loads gives one (nested within MAX_DEPTH), and an
    error where it raises one."""
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError):
        assert _outcome(parse_json, text)[0] == "error"
        return
    kind, value = _outcome(parse_json, text)
    if _depth(expected) > MAX_DEPTH:
        assert (kind, value) == ("error", JSONTooDeepError)
        return
    assert kind == "value"
    assert _same(value, expected)


@given(json_values)
def test_every_json_value_reads_back_as_written(value: Any) -> None:
    text = json.dumps(value)
    assert _same(parse_json(text), value)
    assert _same(loads_strict(text), value)


@given(st.integers(min_value=0, max_value=150_000), st.sampled_from(["[", '{"a":']))
def test_nesting_is_a_value_up_to_max_depth_and_our_error_past_it(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "0" + closer * depth
    if depth <= MAX_DEPTH:
        assert _depth(parse_json(text)) == depth
    else:
        with pytest.raises(JSONTooDeepError, match=f"nested more than {MAX_DEPTH} levels deep"):
            parse_json(text)
        with pytest.raises(StrictJSONError, match=f"nested more than {MAX_DEPTH} levels deep"):
            loads_strict(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, sys.getrecursionlimit() - 10, 100_000])
def test_a_value_too_deep_to_write_back_is_refused_when_read(depth: int) -> None:
    """Was: json.loads returned a value 990 deep, and the json.dumps that hashes it a few calls further
    down the stack raised RecursionError; a body 100,000 deep raised RecursionError at once."""
    with pytest.raises(JSONTooDeepError):
        parse_json("[" * depth + "]" * depth)


@given(st.integers(min_value=4301, max_value=20_000))
def test_an_integer_past_pythons_digit_limit_is_a_value_error(digits: int) -> None:
    kind, error = _outcome(parse_json, '{"n": ' + "9" * digits + "}")
    assert kind == "error"
    assert not issubclass(error, JSONTooDeepError)  # Python's own refusal, not ours: nothing is nested


def test_standard_semantics_stay_for_parse_json_and_strictness_for_loads_strict() -> None:
    assert math.isnan(parse_json('{"x": NaN}')["x"])  # as json.loads: the callers judge the value
    assert parse_json('{"a": 1, "a": 2}') == {"a": 2}
    with pytest.raises(DuplicateKeyError):
        loads_strict('{"a": 1, "a": 2}')
    with pytest.raises(StrictJSONError, match="NaN is not a JSON number"):
        loads_strict('{"x": NaN}')
    with pytest.raises(json.JSONDecodeError) as caught:  # its position stays readable (clm/decode.py uses it)
        parse_json('{"a": }')
    assert caught.value.colno == 7


def test_the_hooks_are_json_loads_hooks() -> None:
    assert parse_json("[1, 2]", parse_int=float) == [1.0, 2.0]
    assert parse_json('{"a": 1}', object_pairs_hook=lambda pairs: pairs) == [("a", 1)]
    assert parse_json(bytearray(b'{"a": [1]}')) == {"a": [1]}
