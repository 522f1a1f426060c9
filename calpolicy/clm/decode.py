"""Decode one log line, strictly: a line the reader cannot judge faithfully is a reported defect.

The line-by-line path sees exactly the lines the fast path refused, so it meets every hostile input:
duplicated keys, lone surrogates, numbers too large for a float, nesting thousands deep, other encodings.
Each becomes a plain reason string for that line; nothing here raises on bad data.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from calpolicy.files.strict_json import DuplicateKeyError, JSONTooDeepError, parse_json, reject_duplicate_keys

MAX_DEPTH = 64  # a trade record nests three levels (record, model_predictions, model); 64 is generous
MAX_INT_DIGITS = 300  # a longer integer cannot be a float without overflow; it is read as infinity
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"


def _parse_int(text: str) -> int | float:
    """Integers as Python does, except ones too long for a float: those become inf (reported as infinite)
    instead of an OverflowError later, or the 4300-digit ValueError now."""
    return int(text) if len(text) <= MAX_INT_DIGITS else float(text)


def _strict_loads(text: str) -> Any:
    return parse_json(text, object_pairs_hook=reject_duplicate_keys, parse_int=_parse_int)


def _shape(obj: Any) -> tuple[int, int, int, bool]:
    """Walk a decoded value without recursion: (keys, ':' inside keys and strings, depth, all text valid)."""
    keys = colons = depth = 0
    valid = True
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            depth = max(depth, level)
            keys += len(value)
            for key, item in value.items():
                colons += key.count(":")
                valid = valid and _encodable(key)
                stack.append((item, level + 1))
        elif isinstance(value, list):
            depth = max(depth, level)
            stack.extend((item, level + 1) for item in value)
        elif isinstance(value, str):
            colons += value.count(":")
            valid = valid and _encodable(value)
    return keys, colons, depth, valid


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _needs_strict_parse(raw: bytes, keys: int, colons_in_text: int) -> bool:
    """Whether a key may have been swallowed by a parser that keeps the last of two equal keys.

    Sound for any JSON whitespace: every key in the text is followed by exactly one structural ':', and
    every other ':' byte lies inside a key or string, where it survives decoding. So the ':' bytes of the
    line equal (keys kept + ':' in decoded text) unless a key was dropped, or a ':' was written as the
    escape \\u003a (any ``\\u`` escape sends the line to the strict parser).
    """
    return b"\\u" in raw or raw.count(b":") != keys + colons_in_text


def encoding_problem(raw: bytes) -> str:
    """Name the encoding when a line is not UTF-8, so the operator knows what the writer did."""
    if raw.startswith(_UTF16_BOMS):
        return "UTF-16 text (it starts with a UTF-16 byte-order mark); the log must be UTF-8 JSON lines"
    if b"\x00" in raw:
        return "holds NUL bytes: the file looks UTF-16 encoded; the log must be UTF-8 JSON lines"
    return "not valid UTF-8"


def decode_line(raw: bytes) -> tuple[Any, str | None]:
    """``(object, None)`` for a line that is one faithful JSON value, else ``(None, reason)``."""
    if raw.startswith(_UTF8_BOM):
        return None, "starts with a UTF-8 byte-order mark (BOM): the writer must not add one"
    try:
        obj = orjson.loads(raw)
        strict = False
    except orjson.JSONDecodeError:
        # Python's own json accepts NaN/Infinity, which the engine's json.dumps writes for float('nan'):
        # such a line is a record with a NaN value (reported as such), not "not JSON". It also keeps
        # integers orjson refuses (beyond 64 bits) and reports what orjson only calls a decode error.
        if b"\x00" in raw:
            return None, encoding_problem(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, encoding_problem(raw)
        try:
            obj = _strict_loads(text)
        except DuplicateKeyError as error:
            return None, str(error)
        except JSONTooDeepError:
            return None, f"nested more than {MAX_DEPTH} levels deep: not a trade record"
        except json.JSONDecodeError as error:
            return None, f"not valid JSON ({error.msg} at column {error.colno})"
        except ValueError as error:
            return None, f"not valid JSON ({error})"
        strict = True
    keys, colons, depth, valid = _shape(obj)
    if depth > MAX_DEPTH:
        return None, f"nested {depth} levels deep (more than {MAX_DEPTH}): not a trade record"
    if not valid:
        return None, "holds a lone UTF-16 surrogate escape (e.g. \\ud800): not valid Unicode text"
    if not strict and _needs_strict_parse(raw, keys, colons):
        try:
            _strict_loads(raw.decode("utf-8"))
        except DuplicateKeyError as error:
            return None, str(error)
        except ValueError:
            pass  # orjson read it; only the duplicate question was open
    return obj, None
