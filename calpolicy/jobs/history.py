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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.files.atomic_io import append_durably
from calpolicy.files.safe_read import read_optional
from calpolicy.files.strict_json import parse_json

HISTORY_NAME = "calpolicy_history.jsonl"
ABORT = "abort"  # the phase of a job's abort: one line, written by `calpolicy abort` under the apply lock


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
            entry = parse_json(line)
        except ValueError:  # nesting a million deep is no entry either, never a crash
            continue
        if isinstance(entry, dict) and isinstance(entry.get("id", ""), str):
            entries.append(entry)  # an id that is a list or an object could match nothing: not a line of ours
    return entries


def rollback_target_of(entries: list[dict[str, Any]], version: str) -> str | None:
    """The version a plain ``rollback`` from ``version`` goes to; None when none was ever recorded."""
    for entry in reversed(entries):
        if entry.get("phase") == "begin" and entry.get("to") == version and entry.get("then_previous"):
            return str(entry["then_previous"])
    return None


def aborted(entries: list[dict[str, Any]], job_id: str) -> dict[str, Any] | None:
    """The last line that records ``job_id``'s abort, or None.

    Why here and not only in the jobs folder: a user who can rewrite the jobs folder can cut its decisions
    log and restore the signed manifest; this line, beside the live config, still says the job ended. It is
    keyed by the job ID alone, as the approve lines are: a job ID is the version it would go live under.
    """
    for entry in reversed(entries):
        if entry.get("phase") == ABORT and entry.get("job_id") == job_id:
            return entry
    return None


def completed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per command: its begin line, marked with whether its done line followed."""
    done_ids = {e.get("id") for e in entries if e.get("phase") == "done"}
    rows = []
    for entry in entries:
        if entry.get("phase") == "begin":
            rows.append({**entry, "completed": entry.get("id") in done_ids})
    return rows


def live_since(entries: list[dict[str, Any]], version: str) -> str | None:
    """When the engine was first shown to serve ``version`` after the approve that made it live (ISO), or None.

    Why: the real engine loads only at start, so an approve can be "written, NOT LIVE" for a while and go
    live at a later ``calpolicy confirm --allow-restart``; the decisions in between were made with the
    previous map. The first acknowledged ``ack`` of that approve is the moment; a later, unrelated restart
    does not move it. None when the latest command was not an approve of ``version`` or never confirmed.
    """
    begins = [e for e in entries if e.get("phase") == "begin"]
    if not begins or begins[-1].get("event") != "approve" or begins[-1].get("to") != version:
        return None
    entry_id = begins[-1].get("id")
    for entry in entries:
        if entry.get("id") == entry_id and entry.get("phase") == "ack" and entry.get("acknowledged") is True:
            return str(entry.get("at")) if entry.get("at") else None
    return None


def live_from(history: Path, version: str | None, approved_at: datetime) -> datetime:
    """``approved_at``, or the later moment the engine was first shown to serve ``version`` (``live_since``):
    where the watch's windows start, for the watch and for the demo that feeds it."""
    if version is None:
        return approved_at
    raw = live_since(read(history), version)
    if raw is None:
        return approved_at
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return approved_at
    return max(approved_at, moment if moment.tzinfo else moment.replace(tzinfo=UTC))
