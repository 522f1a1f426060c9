"""JSON as calpolicy reads it: only ever a value or a ValueError; strictly, a duplicated key is refused.

``json.loads`` keeps the last of two equal keys, so ``{"ready": false, "ready": true}`` reads as ready
and a second ``"actions"`` can hide ``"retrain"``. A body that says two things has no meaning a gate
may act on: the probe that reads it reports "could not check" with the key named, and a trade-log line
with one is a reported defect (``clm/decode.py`` uses the same hook). The loader distribution refuses
duplicate keys with its own few lines (``calpolicy_loader.parse``): it imports nothing of calpolicy, and its
refusal is a ``CalibrationError`` naming the file, not this module's error.

``parse_json`` is the lenient reader for every other file or network body: standard JSON as ``json.loads``
reads it, but the only exception it lets out is a ``ValueError``. ``json.loads`` also raises
``RecursionError`` (a body nested past the parser's reach, 100,000 ``[`` long), which a caller catching
``ValueError`` forgets; and it returns a value nested 990 deep that a later ``json.dumps`` or recursive
walk cannot follow, so the crash came one call later. Both are one ``JSONTooDeepError`` here: nothing
calpolicy reads nests near ``MAX_DEPTH``. An integer of more than 4,300 digits stays Python's
``ValueError``. No module but this one calls ``json.loads`` (``unit_tests/test_json_loads_confined.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# The deepest nesting any reader accepts. calpolicy's own documents nest under ten levels (a trade record
# three); 100 leaves room for any honest body and stays far below the interpreter's recursion limit
# (1,000), so json.dumps or a recursive walk of an accepted value never runs out of stack.
MAX_DEPTH = 100


class StrictJSONError(ValueError):
    """The text is not JSON, or is JSON no gate should interpret (a duplicate key, NaN, Infinity)."""


class JSONTooDeepError(ValueError):
    """Nested deeper than ``MAX_DEPTH``: no document calpolicy reads, and past what a recursive walk can follow."""


class DuplicateKeyError(StrictJSONError):
    """A key given twice in one object."""


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses a key given twice, whatever whitespace surrounds it."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(
                f"the key {key!r} appears more than once in one object: which value is meant cannot be known"
            )
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` arrays or objects; iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(
    text: str | bytes | bytearray,
    *,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_int: Callable[[str], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """Parse one JSON document as ``json.loads`` does; whatever the text, the only exception is a ValueError.

    Malformed text raises ``json.JSONDecodeError`` (its ``msg`` and ``colno`` intact), bytes that are not
    UTF-8 ``UnicodeDecodeError``, an over-long integer Python's own ``ValueError``, nesting deeper than
    ``MAX_DEPTH`` ``JSONTooDeepError``; the hooks are ``json.loads``'s, and whatever they raise passes through.
    """
    marks: tuple[Any, Any] = (b"[", b"{") if isinstance(text, (bytes, bytearray)) else ("[", "{")
    opening = text.count(marks[0]) + text.count(marks[1])
    try:
        value = json.loads(
            text, object_pairs_hook=object_pairs_hook, parse_int=parse_int, parse_constant=parse_constant
        )
    except RecursionError:
        raise JSONTooDeepError(f"nested more than {MAX_DEPTH} levels deep: not a document calpolicy reads") from None
    if opening > MAX_DEPTH and _depth_exceeds(value, MAX_DEPTH):  # fewer brackets cannot nest that deep
        raise JSONTooDeepError(f"nested more than {MAX_DEPTH} levels deep: not a document calpolicy reads")
    return value


def loads_strict(text: str | bytes) -> Any:
    """Parse one JSON document; duplicate keys (any whitespace around them), NaN and ±Infinity raise."""
    try:
        return parse_json(text, object_pairs_hook=reject_duplicate_keys, parse_constant=_no_constant)
    except StrictJSONError:
        raise
    except ValueError as error:
        raise StrictJSONError(f"not valid JSON: {str(error)[:200]}") from None
