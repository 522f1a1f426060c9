"""``watch``'s judging as a pure function of what it read (``report_from``), in-process on real files.

Found by mutation testing (docs/mutation.md, issue 21 §5): ``watch()`` read the engine's journal and asked
systemd what it serves in one body, so only the systemd tests that run the CLI in a child reached it, and
no mutant there could be seen. Now ``gather`` reads and ``report_from`` judges; these tests feed
``report_from`` a real ``calibration.json``, a real CLM file read by the real reader, and journal entries in
``journalctl -o json``'s own shape, and check what the operator reads: the windows, the HOLD baseline's span,
every note word for word. The shell's parts that need no booted systemd are here too (the apply history,
a systemd that cannot be reached, a journal that cannot be read); the rest is in test_watch_gather.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.apply.confirmation import ConfirmError, evidence
from calpolicy.clm import read_clm_for
from calpolicy.jobs import history as apply_history
from calpolicy.localenv.defects import write_records
from calpolicy.localenv.watch_data import applied_calibration_json, decision_lines, trades_around
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.journal import JournalEntry, parse_journal_json, read_journal
from calpolicy.vocabulary.config import Config, WatchConfig, dumps_toml, load_config
from calpolicy.watch import (
    LiveInputs,
    WatchError,
    WatchReport,
    _live_from,
    gather,
    journal_since,
    judge,
    parse_decisions,
    read_applied,
    read_engine_journal,
    report_from,
    require_served,
    trades_from_frame,
    watch,
)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
VERSION = "cal_20261120_120000"
ENGINE = "quantum-ai-engine"
UNREACHABLE = ["/nonexistent/nsenter"]  # a command prefix that cannot run: systemd cannot be asked
# a small watch: 2 looks an hour apart, a 3-hour baseline, and minimums a handful of records can meet
WATCH = {
    "hours": 2.0,
    "looks": 2,
    "baseline_hours": 3.0,
    "baseline_min_trades": 2,
    "min_post_trades": 2,
    "min_decisions": 1,
    "min_post_hours": 0.5,
}


def write_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    """A real calpolicy.toml read by the real loader (paths into ``tmp_path``)."""
    tree: dict[str, Any] = {
        "paths": {
            "calibration_file": str(tmp_path / "calibration.json"),
            "clm_file": str(tmp_path / "clm_trades.jsonl"),
            "archive_dir": str(tmp_path / "archive"),
        },
        "systemd": {"ai_engine_unit": ENGINE, "command_prefix": UNREACHABLE},
        "watch": WATCH,
    }
    for name, values in sections.items():
        tree[name] = {**tree.get(name, {}), **values}
    path = tmp_path / "calpolicy.toml"
    path.write_text(dumps_toml(tree))
    return load_config(path, environ={})


def journal(*lines: tuple[datetime, str]) -> tuple[JournalEntry, ...]:
    """Entries as ``journalctl -o json`` prints them for the engine unit, parsed by the real parser."""
    out = [
        json.dumps(
            {
                "__CURSOR": f"s=1;i={i}",
                "__REALTIME_TIMESTAMP": str(int(when.timestamp() * 1e6)),
                "_SYSTEMD_UNIT": f"{ENGINE}.service",
                "PRIORITY": "6",
                "MESSAGE": text,
            }
        )
        for i, (when, text) in enumerate(lines)
    ]
    return tuple(parse_journal_json("\n".join(out)))


def decisions_at(start: datetime, count: int, step: timedelta, **kwargs: Any) -> list[tuple[datetime, str]]:
    """``decision_lines`` (each decision logged plain and JSON-wrapped, as the engine does) from ``start``."""
    lines = decision_lines(count, **kwargs)
    return [(start + step * (i // 2) + timedelta(milliseconds=10 * (i % 2)), text) for i, text in enumerate(lines)]


def clm_records(approved_at: datetime = T0, unusable: int = 0, repeats: int = 0) -> list[dict[str, Any]]:
    """12 baseline trades 15 min apart, 10 post-apply trades over 2 h; some unusable or repeated records."""
    records = trades_around(approved_at, baseline=12, baseline_step=timedelta(minutes=15), post=10,
                            post_span=timedelta(hours=2))  # fmt: skip
    for i in range(unusable):
        broken = {**records[i], "entry_price": 1000.0 + i, "exit_price": 1000.0 + i}  # no trade's repeat
        del broken["timestamp" if i % 2 else "pnl_percent"]
        records.append(broken)
    records.extend(dict(records[-1 - i]) for i in range(repeats))  # the same trade logged again
    return records


def inputs(
    config: Config,
    tmp_path: Path,
    live_from: datetime = T0,
    entries: tuple[JournalEntry, ...] | None = None,
    **clm: int,
) -> LiveInputs:
    """What ``gather`` would have read: real files through the real readers."""
    (tmp_path / "calibration.json").write_text(json.dumps(applied_calibration_json(T0, VERSION)))
    write_records(tmp_path / "clm_trades.jsonl", clm_records(**clm))
    if entries is None:
        entries = journal(
            *decisions_at(T0 - timedelta(hours=2), 20, timedelta(minutes=5)),
            *decisions_at(T0 + timedelta(minutes=1), 24, timedelta(minutes=5), confidence=0.7),
        )
    log = read_clm_for(config)
    assert log.read_error is None
    return LiveInputs(read_applied(config.paths.calibration_file), live_from, log, entries)


def expected(config: Config, given: LiveInputs, now: datetime, approved_at: datetime) -> WatchReport:
    """``judge`` called by hand on the same inputs, with the window starting at ``approved_at``."""
    trades, _ = trades_from_frame(given.log.frame, given.log.models, config.data.duplicate_window_ms)
    return judge(
        trades=trades,
        decisions=parse_decisions(given.entries, config.watch.decision_dedupe_s),
        approved_at=approved_at,
        now=now,
        version=VERSION,
        watch_config=config.watch,
        mapping={"0.0": 0.5, "1.0": 0.5},
        predicted_brier=0.25,
        journal_start=min(e.when for e in given.entries) if given.entries else approved_at,
    )


def counts(report: WatchReport) -> dict[str, int]:
    return {s.id: s.n for s in report.signals}


NOW = T0 + timedelta(hours=2, minutes=5)  # both looks reached: the window is complete


def test_the_report_is_judge_on_what_was_read_from_the_approval(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    given = inputs(config, tmp_path)
    report = report_from(given, config, NOW)
    assert report.to_dict() == expected(config, given, NOW, T0).to_dict()
    assert report.version == VERSION
    assert report.approved_at == T0
    assert report.now == NOW
    # 10 trades after approval; 24 decisions (each logged twice, counted once), 19 acted on (every 5th a HOLD)
    assert counts(report) == {"P4.2.a": 10, "P4.2.b": 10, "P4.2.c": 24, "P4.2.d": 19, "P4.2.cal": 10}
    assert report.notes == (
        "baseline: the 3 h before approval; HOLD baseline over the 2.00 h of journal read before approval",
        "look 2 of 2 (every 60 min for 2 h): data up to 2026-11-20T14:00:00+00:00",
        "family-wise: a no-harm day says ROLLBACK at any look of any signal with at most 5% chance",
        "the watch window is complete",
    )
    assert report.verdict == "OK"


def test_the_applied_maps_prediction_reaches_the_calibration_signal(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    report = report_from(inputs(config, tmp_path), config, NOW)
    calibration = {s.id: s for s in report.signals}["P4.2.cal"]
    assert calibration.evidence["brier_predicted"] == 0.25, calibration.evidence
    assert calibration.evidence["mean_predicted"] == 0.5, calibration.evidence


def test_a_version_live_at_a_later_restart_is_judged_from_then_and_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    live = T0 + timedelta(minutes=30)
    given = inputs(config, tmp_path, live_from=live)
    now = live + timedelta(hours=2, minutes=1)
    report = report_from(given, config, now)
    by_hand = expected(config, given, now, live)
    assert report.signals == by_hand.signals
    assert report.approved_at == T0  # what was approved, not when it went live
    assert report.now == now
    # the trades and decisions of the first 30 min were made with the old map: baseline, not post-apply
    assert counts(report) == {"P4.2.a": 8, "P4.2.b": 8, "P4.2.c": 18, "P4.2.d": 15, "P4.2.cal": 8}
    assert report.notes == (
        "approved at 2026-11-20T12:00:00+00:00, live in the engine only from 2026-11-20T12:30:00+00:00 (its "
        "restart): the windows are counted from then; decisions and trades before it were made with the "
        "previous map and count as baseline",
        *by_hand.notes,
    )


def test_a_version_live_from_its_approval_has_no_restart_note(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    report = report_from(inputs(config, tmp_path, live_from=T0), config, NOW)
    assert not any("live in the engine only from" in note for note in report.notes)


def test_unusable_records_are_counted_in_the_last_note(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    report = report_from(inputs(config, tmp_path, unusable=3), config, NOW)
    assert report.notes[-1] == "3 CLM records without a timestamp or PnL were not used"
    assert counts(report)["P4.2.a"] == 10  # they are not trades
    assert report.approved_at == T0
    assert report.version == VERSION
    assert report.now == NOW
    assert report.verdict == "OK"


def test_both_notes_keep_their_places_around_judges_own(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    live = T0 + timedelta(minutes=30)
    given = inputs(config, tmp_path, live_from=live, unusable=1)
    now = live + timedelta(hours=2, minutes=1)
    report = report_from(given, config, now)
    by_hand = expected(config, given, now, live)
    assert report.notes[0].startswith("approved at 2026-11-20T12:00:00+00:00, live in the engine only from ")
    assert report.notes[1:-1] == by_hand.notes
    assert report.notes[-1] == "1 CLM records without a timestamp or PnL were not used"
    assert report.approved_at == T0
    assert report.signals == by_hand.signals


def test_repeated_records_are_dropped_and_said(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    report = report_from(inputs(config, tmp_path, repeats=2), config, NOW)
    assert counts(report)["P4.2.a"] == 10
    repeats = "2 duplicate CLM records dropped by the data gate's rule (2 after approval): a repeat is not more "
    repeats += "evidence"
    assert repeats in report.notes
    assert not any("were not used" in note for note in report.notes)


def test_the_hold_baseline_spans_the_journal_actually_read(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    late = journal(*decisions_at(T0 - timedelta(minutes=45), 9, timedelta(minutes=5)),
                   *decisions_at(T0 + timedelta(minutes=1), 24, timedelta(minutes=5)))  # fmt: skip
    report = report_from(inputs(config, tmp_path, entries=late), config, NOW)
    assert report.notes[0].endswith("HOLD baseline over the 0.75 h of journal read before approval")
    hold = {s.id: s for s in report.signals}["P4.2.c"]
    assert hold.evidence["baseline_hours"] == 0.75, hold.evidence


def test_no_journal_entry_at_all_leaves_no_hold_baseline(tmp_path: Path) -> None:
    """Nothing read is no span: the HOLD baseline is 0 h (its signal cannot judge), not the configured 3 h."""
    config = write_config(tmp_path)
    report = report_from(inputs(config, tmp_path, entries=()), config, NOW)
    assert report.notes[0].endswith("HOLD baseline over the 0.00 h of journal read before approval")
    assert counts(report)["P4.2.c"] == 0
    assert {s.id: s.status for s in report.signals}["P4.2.c"] == "inconclusive"


def test_the_decision_repeat_window_is_the_configured_one(tmp_path: Path) -> None:
    config = write_config(tmp_path, watch={"decision_dedupe_s": 0.0})
    report = report_from(inputs(config, tmp_path), config, NOW)
    assert counts(report)["P4.2.c"] == 48  # each decision's plain and JSON lines now count as two


def test_the_journal_is_read_from_the_baseline_window_before_going_live() -> None:
    config = Config()
    live = T0 + timedelta(minutes=30)
    assert journal_since(live, config.watch) == live - timedelta(hours=24)
    assert journal_since(live, WatchConfig(baseline_hours=1.5)) == T0 - timedelta(hours=1)


# --------------------------------------------------------------------------------------------- the shell, fast


def test_the_apply_history_moves_the_start_to_the_first_acknowledged_serve(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert _live_from(config, VERSION, T0) == T0  # no history yet
    history = tmp_path / "archive" / apply_history.HISTORY_NAME
    history.parent.mkdir()
    live = T0 + timedelta(minutes=40)
    begin = {"id": "a1", "phase": "begin", "event": "approve", "to": VERSION, "at": T0.isoformat()}
    apply_history.append(history, begin)
    apply_history.append(history, {"id": "a1", "phase": "done", "at": T0.isoformat()})
    apply_history.append(history, {"id": "a1", "phase": "ack", "acknowledged": True, "at": live.isoformat()})
    assert _live_from(config, VERSION, T0) == live
    assert _live_from(config, "cal_other", T0) == T0  # the history's approve is of another version
    assert _live_from(config, None, T0) == T0


def test_a_systemd_that_cannot_be_asked_stops_the_watch_before_judging(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    marker = tmp_path / ".calpolicy_loaded"
    with pytest.raises(ConfirmError) as cause:
        evidence(marker, VERSION, 0.0, config.systemd)
    with pytest.raises(WatchError) as caught:
        require_served(config, VERSION)
    assert str(caught.value) == (
        f"cannot tell which version the AI engine serves: {cause.value}; nothing was judged "
        "(to make it live: calpolicy confirm --allow-restart)"
    )


def test_a_journal_that_cannot_be_read_is_could_not_check(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with pytest.raises(ProbeError) as cause:
        read_journal([ENGINE], T0, config.systemd)
    with pytest.raises(WatchError) as caught:
        read_engine_journal(config, T0)
    assert str(caught.value) == f"cannot read the AI engine's journal: {cause.value}"
    assert "not installed" in str(caught.value)


def test_without_an_applied_calibration_nothing_else_is_read(tmp_path: Path) -> None:
    config = write_config(tmp_path)  # systemd unreachable: asking it would be another error
    with pytest.raises(WatchError, match=r"^no calibration is applied: .*calibration\.json does not exist$"):
        gather(config)
    with pytest.raises(WatchError, match=r"^no calibration is applied: "):
        watch(config, NOW)


def test_an_unreachable_systemd_is_the_watchs_error_after_the_calibration_is_read(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "calibration.json").write_text(json.dumps(applied_calibration_json(T0, VERSION)))
    with pytest.raises(WatchError, match=r"^cannot tell which version the AI engine serves: .*; nothing was judged"):
        watch(config)
