"""Just enough TOML writing for a generated ``calpolicy.toml`` (the standard library only reads TOML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dumps(tree: dict[str, dict[str, Any]]) -> str:
    """Sections of scalars and lists, with one level of sub-tables (``[redis.halt_keys]``)."""
    out: list[str] = []
    for section, values in tree.items():
        out.append(f"[{section}]")
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        for key, value in values.items():
            if not isinstance(value, dict):
                out.append(f"{key} = {_value(value)}")
        out.append("")
        for key, table in tables.items():
            out.append(f"[{section}.{json.dumps(key)}]")
            out.extend(f"{json.dumps(k)} = {_value(v)}" for k, v in table.items())
            out.append("")
    return "\n".join(out)
