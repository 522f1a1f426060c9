"""``watch``'s shell in-process against a real private systemd: what it reads, and each way it refuses.

``gather`` asks systemd which version the AI engine's current run serves, reads the apply history, the CLM
log and the engine's journal through ``journalctl``. test_watch_live.py runs the same through the CLI in a
child process, where a mutant of this code cannot be seen (docs/mutation.md, issue 21 §5); these tests call
``watch``/``gather``/``require_served`` in this process, with ``systemd.command_prefix`` entering a namespace
booted once for the module (the engine unit and every file are set up inside each test).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.jobs import history as apply_history
from calpolicy.localenv.defects import write_records
from calpolicy.localenv.ports import wait_for
from calpolicy.localenv.systemd_ns import SystemdNamespace
from calpolicy.localenv.watch_data import applied_calibration_json, decision_lines, trades_around
from calpolicy.vocabulary.config import Config, dumps_toml, load_config
from calpolicy.watch import WatchError, gather, journal_since, require_served, watch

ENGINE = "quantum-ai-engine"
VERSION = "cal_20261120_120000"
LOADED = "[CalibrationLoader] ✅ Loaded calibration: "


def engine_logs(ns: SystemdNamespace, lines: list[str], marker: str) -> None:
    """(Re)start the engine unit printing ``lines``: a new run, whose loader line is the evidence."""
    ns.log_to_journal(ENGINE, [*lines, marker])
    wait_for(lambda: ns.journal_count(ENGINE, marker) >= 1, 15, f"{marker} in the journal")


def write_config(ns: SystemdNamespace, tmp_path: Path, **watch_section: Any) -> Config:
    tree = {
        "paths": {
            "calibration_file": str(tmp_path / "calibration.json"),
            "clm_file": str(tmp_path / "clm_trades.jsonl"),
            "archive_dir": str(tmp_path / "archive"),
        },
        "systemd": {"command_prefix": list(ns.prefix), "ai_engine_unit": ENGINE},
        "watch": watch_section,
    }
    path = tmp_path / "calpolicy.toml"
    path.write_text(dumps_toml(tree))
    return load_config(path, environ={})


def test_watch_judges_the_served_version_on_its_journal_and_log(systemd_ns: SystemdNamespace, tmp_path: Path) -> None:
    ns = systemd_ns
    ns.clear_journal()
    baseline_start = datetime.now(UTC)
    engine_logs(ns, decision_lines(60), "baseline-done")
    time.sleep(1.1)
    approved_at = datetime.now(UTC)
    time.sleep(0.2)
    engine_logs(ns, [LOADED + VERSION, *decision_lines(40)], "post-done")
    (tmp_path / "calibration.json").write_text(json.dumps(applied_calibration_json(approved_at, VERSION)))
    write_records(tmp_path / "clm_trades.jsonl", trades_around(approved_at))
    now = max(datetime.now(UTC), approved_at + (approved_at - baseline_start))
    hours = (approved_at - baseline_start).total_seconds() / 3600
    config = write_config(
        ns, tmp_path, min_post_hours=hours / 2, baseline_hours=hours, hours=(now - approved_at).total_seconds() / 3600
    )

    read = gather(config)
    assert read.applied.version == VERSION
    assert read.live_from == approved_at  # no apply history: live from its approval
    assert read.log.path == tmp_path / "clm_trades.jsonl"
    assert len(read.log.frame) == 160
    since = journal_since(approved_at, config.watch)
    assert read.entries, "the engine's lines were read"
    assert {e.unit for e in read.entries} == {f"{ENGINE}.service"}
    assert all(e.when >= since.replace(microsecond=0) for e in read.entries)
    assert sum(LOADED in e.message for e in read.entries) == 1

    report = watch(config, now)
    assert report.verdict == "OK", report.to_json()
    assert report.version == VERSION
    assert report.approved_at == approved_at
    assert report.now == now
    assert {s.id: s.n for s in report.signals} == {"P4.2.a": 40, "P4.2.b": 40, "P4.2.c": 40, "P4.2.d": 32,
                                                   "P4.2.cal": 40}  # fmt: skip

    before = datetime.now(UTC)
    unnamed = watch(config)  # no --now: judged as of this moment
    assert before <= unnamed.now <= datetime.now(UTC)


def test_a_version_the_engine_does_not_serve_is_not_judged(systemd_ns: SystemdNamespace, tmp_path: Path) -> None:
    ns = systemd_ns
    ns.clear_journal()
    engine_logs(ns, [LOADED + "cal_20261101_120000"], "old-served")
    approved_at = datetime.now(UTC)
    (tmp_path / "calibration.json").write_text(json.dumps(applied_calibration_json(approved_at, VERSION)))
    write_records(tmp_path / "clm_trades.jsonl", trades_around(approved_at))
    config = write_config(ns, tmp_path)
    with pytest.raises(WatchError) as caught:
        watch(config, approved_at + timedelta(hours=1))
    message = str(caught.value)
    assert message.startswith(f"the AI engine does not serve {VERSION}: {ENGINE} main PID "), message
    assert "its latest loader line says it serves cal_20261101_120000" in message
    assert message.endswith("; nothing was judged (to make it live: calpolicy confirm --allow-restart)")
    require_served(config, "cal_20261101_120000")  # the one it serves passes


def test_an_unreadable_clm_log_stops_a_served_version_before_judging(
    systemd_ns: SystemdNamespace, tmp_path: Path
) -> None:
    ns = systemd_ns
    ns.clear_journal()
    engine_logs(ns, [LOADED + VERSION], "served")
    approved_at = datetime.now(UTC)
    (tmp_path / "calibration.json").write_text(json.dumps(applied_calibration_json(approved_at, VERSION)))
    (tmp_path / "clm_trades.jsonl").mkdir()  # a folder where the log should be
    config = write_config(ns, tmp_path)
    with pytest.raises(WatchError) as caught:
        watch(config, approved_at + timedelta(hours=1))
    assert str(caught.value).startswith("cannot read the CLM log: "), str(caught.value)
    assert "clm_trades.jsonl" in str(caught.value)


def test_a_version_live_at_a_later_restart_is_judged_from_then(systemd_ns: SystemdNamespace, tmp_path: Path) -> None:
    """approve wrote the file at ``approved_at``; ``confirm --allow-restart`` made it live 40 min later."""
    ns = systemd_ns
    ns.clear_journal()
    engine_logs(ns, [LOADED + VERSION, *decision_lines(10)], "served-late")
    live_at = datetime.now(UTC).replace(microsecond=0)
    approved_at = live_at - timedelta(minutes=40)
    history = tmp_path / "archive" / apply_history.HISTORY_NAME
    history.parent.mkdir()
    apply_history.append(history, {"id": "a1", "phase": "begin", "event": "approve", "to": VERSION,
                                   "at": approved_at.isoformat()})  # fmt: skip
    apply_history.append(history, {"id": "a1", "phase": "done", "at": approved_at.isoformat()})
    apply_history.append(history, {"id": "a1", "phase": "ack", "acknowledged": True, "at": live_at.isoformat()})
    (tmp_path / "calibration.json").write_text(json.dumps(applied_calibration_json(approved_at, VERSION)))
    write_records(tmp_path / "clm_trades.jsonl", trades_around(approved_at))
    config = write_config(ns, tmp_path)

    assert gather(config).live_from == live_at
    report = watch(config, live_at + timedelta(hours=1))
    assert report.approved_at == approved_at
    assert report.notes[0].startswith(
        f"approved at {approved_at.isoformat(timespec='seconds')}, live in the engine only from "
        f"{live_at.isoformat(timespec='seconds')} (its restart)"
    ), report.notes
