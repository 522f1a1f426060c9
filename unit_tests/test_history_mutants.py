"""The apply history (``calpolicy_history.jsonl``), in-process on real files (issue 21 §5: its mutants).

What a caller sees: the exact bytes a line is written as, which lines ``read`` gives back (a torn tail, a
line that is not ours, bytes that are not UTF-8), the rollback target the lineage implies, whether each
command finished, and the moment the watch's windows start from.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.files.safe_read import UnsafeFileError
from calpolicy.jobs.history import HISTORY_NAME, append, completed, live_from, live_since, read, rollback_target_of

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def lines(path: Path, *entries: dict) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


# ============================================================================== append


def test_the_history_file_name() -> None:
    assert HISTORY_NAME == "calpolicy_history.jsonl"


def test_append_writes_one_line_with_sorted_keys_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_NAME
    append(path, {"phase": "begin", "id": "a", "to": "v2", "é": "ü"})
    append(path, {"id": "a", "phase": "done"})
    assert path.read_bytes() == (
        b'{"id": "a", "phase": "begin", "to": "v2", "\\u00e9": "\\u00fc"}\n{"id": "a", "phase": "done"}\n'
    )
    assert read(path) == [{"phase": "begin", "id": "a", "to": "v2", "é": "ü"}, {"id": "a", "phase": "done"}]


def test_append_refuses_a_number_json_cannot_hold_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_NAME
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError):  # noqa: PT011 -- json's own words are not ours to pin
            append(path, {"id": "a", "value": bad})
    assert not path.exists() or path.read_bytes() == b""


def test_append_after_a_torn_tail_keeps_the_new_line_whole(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_NAME
    path.write_bytes(b'{"id": "a", "phase": "begin"}\n{"id": "b", "pha')
    append(path, {"id": "c", "phase": "begin"})
    assert read(path) == [{"id": "a", "phase": "begin"}, {"id": "c", "phase": "begin"}]


# ============================================================================== read


def test_read_of_an_absent_history_is_empty(tmp_path: Path) -> None:
    assert read(tmp_path / HISTORY_NAME) == []


def test_read_keeps_every_complete_line_of_ours_and_drops_the_rest(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_NAME
    path.write_bytes(
        b'{"id": "a", "phase": "begin"}\n'
        b"\n"
        b"[1, 2]\n"  # not an object
        b'"text"\n'
        b"null\n"
        b'{"id": ["a"], "phase": "done"}\n'  # an id that is not a string could match nothing
        b'{"id": {"x": 1}, "phase": "done"}\n'
        b'{"id": 5, "phase": "done"}\n'
        b'{"phase": "note"}\n'  # no id at all: still a line of ours
        b"{not json\n" + b"[" * 100_000 + b"\n"  # nesting deep enough to exhaust the recursion limit
        b'{"id": "\xff\xfe", "phase": "done"}\n'  # bytes that are not UTF-8 inside a line: replaced, never a crash
        b'{"id": "b", "phase": "done"}\n'
        b'{"id": "c", "pha'  # a writer killed mid-line
    )
    entries = read(path)
    assert entries == [
        {"id": "a", "phase": "begin"},
        {"phase": "note"},
        {"id": "\ufffd\ufffd", "phase": "done"},
        {"id": "b", "phase": "done"},
    ]


def test_read_refuses_a_symlink_or_a_fifo_in_the_historys_place(tmp_path: Path) -> None:
    real = lines(tmp_path / "real.jsonl", {"id": "a"})
    path = tmp_path / HISTORY_NAME
    path.symlink_to(real)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        read(path)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(UnsafeFileError, match="FIFO"):
        read(path)


def test_read_accepts_a_history_with_a_second_name(tmp_path: Path) -> None:
    """A hard-link snapshot of the folders (``cp -al``) still reads: the history is only judged here."""
    path = lines(tmp_path / HISTORY_NAME, {"id": "a", "phase": "begin"})
    os.link(path, tmp_path / "snapshot.jsonl")
    assert read(path) == [{"id": "a", "phase": "begin"}]


def test_read_accepts_a_history_larger_than_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_NAME
    line = json.dumps({"id": "a", "phase": "note", "pad": "x" * 1000}) + "\n"
    path.write_text(line * (17 * 1024))  # 17 MiB: over a config's 16 MiB cap, under the history's 64 MiB
    assert len(read(path)) == 17 * 1024


# ============================================================================== rollback_target_of


def test_the_rollback_target_is_the_latest_recorded_for_that_version() -> None:
    entries = [
        {"phase": "begin", "to": "B", "then_previous": "A"},
        {"phase": "begin", "to": "C", "then_previous": "B"},
        {"phase": "begin", "to": "B", "then_previous": "X"},  # B made live again later, over X
        {"phase": "done", "to": "B", "then_previous": "Z"},  # not a begin line
        {"phase": "begin", "to": "B", "then_previous": None},  # no target recorded
        {"phase": "begin", "to": "B", "then_previous": ""},
        {"phase": "begin", "to": "b", "then_previous": "Q"},  # another version
    ]
    assert rollback_target_of(entries, "B") == "X"
    assert rollback_target_of(entries, "C") == "B"
    assert rollback_target_of(entries, "A") is None
    assert rollback_target_of([], "B") is None


def test_the_rollback_target_is_given_as_text() -> None:
    assert rollback_target_of([{"phase": "begin", "to": "B", "then_previous": 20260101}], "B") == "20260101"


# ============================================================================== completed


def test_completed_marks_each_command_by_whether_its_done_line_followed() -> None:
    entries = [
        {"id": "a", "phase": "begin", "to": "B"},
        {"id": "a", "phase": "done"},
        {"id": "b", "phase": "begin", "to": "C"},
        {"id": "b", "phase": "ack", "acknowledged": True},
        {"id": "c", "phase": "done"},  # a done line without its begin: no row
        {"phase": "begin", "to": "D"},  # no id, and a done without one elsewhere
        {"phase": "done"},
    ]
    assert completed(entries) == [
        {"id": "a", "phase": "begin", "to": "B", "completed": True},
        {"id": "b", "phase": "begin", "to": "C", "completed": False},
        {"phase": "begin", "to": "D", "completed": True},
    ]
    assert completed([]) == []
    assert entries[0] == {"id": "a", "phase": "begin", "to": "B"}  # the entries themselves are not marked


# ============================================================================== live_since / live_from


def approve(version: str, entry_id: str = "a1") -> dict:
    return {"id": entry_id, "phase": "begin", "event": "approve", "to": version}


def ack(entry_id: str, acknowledged: object, at: object) -> dict:
    return {"id": entry_id, "phase": "ack", "acknowledged": acknowledged, "at": at}


def test_live_since_is_the_first_acknowledged_ack_of_the_latest_approve() -> None:
    entries = [
        approve("V"),
        {"id": "a1", "phase": "done", "at": "T-done"},
        ack("a1", False, "T0"),
        ack("a1", "true", "T1"),  # not the boolean
        ack("a1", 1, "T1b"),
        {"id": "a1", "phase": "note", "acknowledged": True, "at": "T-note"},  # not an ack line
        ack("other", True, "T-other"),  # another command's ack
        ack("a1", True, "T2"),
        ack("a1", True, "T3"),  # a later restart does not move it
    ]
    assert live_since(entries, "V") == "T2"
    assert live_since(entries, "W") is None


def test_live_since_is_none_unless_the_latest_command_approved_that_version() -> None:
    acked = [approve("V"), ack("a1", True, "T2")]
    assert live_since([], "V") is None
    assert live_since([ack("a1", True, "T2")], "V") is None  # no begin line at all
    rolled = [*acked, {"id": "r1", "phase": "begin", "event": "rollback", "to": "V"}, ack("r1", True, "T5")]
    assert live_since(rolled, "V") is None
    assert live_since([*acked, approve("W", "a2")], "V") is None
    assert live_since([*acked, {"id": "x", "phase": "done"}], "V") == "T2"  # later non-begin lines do not count
    assert live_since([approve("V"), ack("a1", True, "")], "V") is None  # acknowledged, but no moment
    assert live_since([approve("V"), ack("a1", True, None)], "V") is None
    assert live_since([approve("V"), ack("a1", False, "T1")], "V") is None
    assert live_since([approve("V"), ack("a1", True, 17)], "V") == "17"


def test_live_since_with_an_earlier_approve_of_the_same_version_takes_the_latest_ones_ack() -> None:
    entries = [approve("V", "a1"), ack("a1", True, "T-old"), approve("V", "a2"), ack("a2", True, "T-new")]
    assert live_since(entries, "V") == "T-new"


def test_live_from_is_the_approval_unless_the_engine_went_live_later(tmp_path: Path) -> None:
    history = tmp_path / HISTORY_NAME
    later = T0 + timedelta(hours=3)
    lines(history, approve("V"), ack("a1", True, later.isoformat()))
    assert live_from(history, "V", T0) == later
    assert live_from(history, None, T0) == T0  # nothing made live: no history read
    assert live_from(history, "W", T0) == T0
    assert live_from(history, "V", T0 + timedelta(hours=5)) == T0 + timedelta(hours=5)  # never before the approval
    assert live_from(tmp_path / "absent.jsonl", "V", T0) == T0


def test_live_from_reads_a_moment_without_a_zone_as_utc_and_ignores_one_it_cannot_read(tmp_path: Path) -> None:
    history = tmp_path / HISTORY_NAME
    lines(history, approve("V"), ack("a1", True, "2026-12-01T15:00:00"))
    moment = live_from(history, "V", T0)
    assert moment == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert moment.tzinfo is not None
    lines(history, approve("V"), ack("a1", True, "2026-12-01T15:00:00+02:00"))
    assert live_from(history, "V", T0) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    lines(history, approve("V"), ack("a1", True, "three o'clock"))
    assert live_from(history, "V", T0) == T0


def test_live_from_never_follows_a_symlinked_history(tmp_path: Path) -> None:
    real = lines(tmp_path / "real.jsonl", approve("V"), ack("a1", True, (T0 + timedelta(hours=1)).isoformat()))
    history = tmp_path / HISTORY_NAME
    history.symlink_to(real)
    with pytest.raises(UnsafeFileError):
        live_from(history, "V", T0)
