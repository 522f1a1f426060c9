"""The append-only history of every apply and rollback, and the rollback lineage it implies.

Each command appends a ``begin`` line (what is live, what will be, and the rollback target the new state
will have) before it swaps the file, and a ``done`` line after. The ``begin`` line is written first so a
command killed after the swap still left its rollback target on disk. Lines are never rewritten.

Lineage, so that rolling back twice walks back instead of toggling: every state made live records its own
rollback target (``then_previous``). An apply of B over A records A. A rollback to T records T's own
target, as first recorded when T was made live — not the version being left.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calpolicy.atomic_io import append_durably
from calpolicy.safe_read import read_optional

HISTORY_NAME = "calpolicy_history.jsonl"


def append(path: Path, entry: dict[str, Any]) -> None:
    append_durably(path, json.dumps(entry, sort_keys=True, allow_nan=False).encode())


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete line; a torn last line (a writer killed mid-write) is ignored."""
    data = read_optional(path, "history")  # a FIFO, a symlink or a huge file is refused, never waited on
    if data is None:
        return []
    text = data.decode("utf-8", errors="replace")
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def rollback_target_of(entries: list[dict[str, Any]], version: str) -> str | None:
    """The version a plain ``rollback`` from ``version`` goes to; None when none was ever recorded."""
    for entry in reversed(entries):
        if entry.get("phase") == "begin" and entry.get("to") == version and entry.get("then_previous"):
            return str(entry["then_previous"])
    return None


def completed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per command: its begin line, marked with whether its done line followed."""
    done_ids = {e.get("id") for e in entries if e.get("phase") == "done"}
    rows = []
    for entry in entries:
        if entry.get("phase") == "begin":
            rows.append({**entry, "completed": entry.get("id") in done_ids})
    return rows
