"""JSON as calpolicy reads it: a duplicated key or a non-standard number is refused, never resolved.

``json.loads`` keeps the last of two equal keys, so ``{"ready": false, "ready": true}`` reads as ready
and a second ``"actions"`` can hide ``"retrain"``. A body that says two things has no meaning a gate
may act on: the probe that reads it reports "could not check" with the key named, and a trade-log line
with one is a reported defect (``clm/decode.py`` uses the same hook). The loader distribution refuses
duplicate keys with its own few lines (``calpolicy_loader.parse``): it imports nothing of calpolicy, and its
refusal is a ``CalibrationError`` naming the file, not this module's error.
"""

from __future__ import annotations

import json
from typing import Any


class StrictJSONError(ValueError):
    """The text is not JSON, or is JSON no gate should interpret (a duplicate key, NaN, Infinity)."""


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


def loads_strict(text: str | bytes) -> Any:
    """Parse one JSON document; duplicate keys (any whitespace around them), NaN and ±Infinity raise."""
    try:
        return json.loads(text, object_pairs_hook=reject_duplicate_keys, parse_constant=_no_constant)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as error:
        raise StrictJSONError(f"not valid JSON: {str(error)[:200]}") from None
