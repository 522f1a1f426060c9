"""``calpolicy watch`` and ``pytest -m watch`` against a real journal (systemd in a namespace) and real files.

The AI engine's decision lines are printed by a real unit, so they reach the verdict through journalctl
exactly as on a host; the shipped calpolicy-watch.timer is installed in the namespace and must fire and
leave its verdicts in the journal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.localenv.defects import write_records
from calpolicy.localenv.ports import wait_for
from calpolicy.localenv.systemd_ns import SystemdNamespace
from calpolicy.localenv.watch_data import applied_calibration_json, decision_lines, trades_around
from calpolicy.vocabulary.config import dumps_toml
from unit_tests.conftest import run_cli

ENGINE = "quantum-ai-engine"
CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "systemd"


@pytest.fixture(scope="module")
def ns(systemd_ns: SystemdNamespace) -> SystemdNamespace:
    return systemd_ns


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Outside /tmp: the namespace mounts a fresh /tmp, and the timer's runs must see these files."""
    path = Path(tempfile.mkdtemp(prefix="calpolicy-watch-test-", dir=Path.home()))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def log_decisions(ns: SystemdNamespace, lines: list[str], marker: str) -> None:
    ns.log_to_journal(ENGINE, [*lines, marker])
    wait_for(lambda: ns.journal_count(ENGINE, marker) >= 1, 15, f"{marker} in the journal")


def applied_setup(
    ns: SystemdNamespace, workdir: Path, post_confidence: float, percent: bool = False, complete: bool = True
) -> tuple[Path, str]:
    """Baseline decisions, an approval, post-apply decisions and trades: the config and a ``--now``.

    The journal cannot be back-dated, so the baseline window is the few seconds the baseline lines took,
    and ``--now`` keeps the post-apply window at least that long, so HOLDs per hour compare like for like.
    """
    baseline_start = datetime.now(UTC)
    log_decisions(ns, decision_lines(60), f"baseline-done-{post_confidence}")
    time.sleep(1.1)
    approved_at = datetime.now(UTC)
    baseline_hours = (approved_at - baseline_start).total_seconds() / 3600
    time.sleep(0.2)
    # the engine's run after the apply: it loaded the applied version at start, as the real engine logs it
    # (watch judges only a version the engine's current run serves)
    loaded = "[CalibrationLoader] ✅ Loaded calibration: cal_20261120_120000"
    post = [loaded, *decision_lines(40, confidence=post_confidence, percent=percent)]
    log_decisions(ns, post, f"post-done-{post_confidence}")
    calibration = workdir / "calibration.json"
    calibration.write_text(json.dumps(applied_calibration_json(approved_at)))
    clm = write_records(workdir / "clm_trades.jsonl", trades_around(approved_at))
    now = max(datetime.now(UTC), approved_at + (approved_at - baseline_start))
    config = workdir / "calpolicy.toml"
    config.write_text(
        dumps_toml(
            {
                "paths": {"clm_file": str(clm), "calibration_file": str(calibration)},
                "systemd": {"command_prefix": list(ns.prefix), "ai_engine_unit": ENGINE},
                "watch": {
                    "min_post_hours": baseline_hours / 2,
                    "baseline_hours": baseline_hours,
                    # the whole window is the seconds the test took, so its looks are complete at ``now``
                    **({"hours": (now - approved_at).total_seconds() / 3600} if complete else {}),
                },
            }
        )
    )
    return config, now.isoformat()


def test_steady_signals_are_ok_and_hot_confidences_recommend_rollback(ns: SystemdNamespace, workdir: Path) -> None:
    config, now = applied_setup(ns, workdir, post_confidence=0.72)
    result = run_cli("--config", str(config), "watch", "--json", "--now", now)
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["verdict"] == "OK"
    assert report["findings"] == report["signals"]
    counts = {s["id"]: s["n"] for s in report["findings"]}
    assert counts == {"P4.2.a": 40, "P4.2.b": 40, "P4.2.c": 40, "P4.2.d": 32, "P4.2.cal": 40}

    ns.clear_journal()
    config, now = applied_setup(ns, workdir, post_confidence=0.99, percent=True)
    result = run_cli("--config", str(config), "watch", "--now", now)
    assert result.returncode == 1, result.stdout + result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.startswith("ROLLBACK RECOMMENDED")
    assert any("BREACH" in line and "P4.2.d" in line for line in rest)
    assert f"calpolicy --config {config} rollback" in result.stdout

    policy = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(workdir),
            str(Path(__file__).resolve().parents[2] / "policy_tests" / "phase4" / "test_watch.py"),
            f"--calpolicy-config={config}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
    )
    assert policy.returncode == 1, policy.stdout
    assert "P4.2.d" in policy.stdout
    assert "ROLLBACK RECOMMENDED" in policy.stdout


def test_without_an_applied_calibration_the_watch_could_not_check(workdir: Path) -> None:
    config = workdir / "calpolicy.toml"
    config.write_text(dumps_toml({"paths": {"calibration_file": str(workdir / "missing.json")}}))
    result = run_cli("--config", str(config), "watch")
    assert result.returncode == 3
    assert "no calibration is applied" in result.stdout


def test_the_shipped_timer_fires_and_its_verdicts_land_in_the_journal(ns: SystemdNamespace, workdir: Path) -> None:
    config, _ = applied_setup(ns, workdir, post_confidence=0.72, complete=False)  # the 24 h window is open
    calpolicy = [sys.executable, "-m", "calpolicy.cli"]
    service = (CONTRIB / "calpolicy-watch.service").read_text()
    service = service.replace("User=qt\n", "").replace(
        "WorkingDirectory=/home/qt/quantum_trader", f"WorkingDirectory={workdir}"
    )
    inside = workdir / "calpolicy-inside.toml"  # inside the namespace journalctl needs no nsenter prefix
    tree = tomllib.loads(config.read_text())
    tree["systemd"]["command_prefix"] = []
    inside.write_text(dumps_toml(tree))
    assert "nsenter" not in inside.read_text()
    service = service.replace("/home/qt/quantum_trader/calpolicy.toml", str(inside))
    service = service.replace("/opt/calpolicy/bin/calpolicy", " ".join(calpolicy))
    service += f"Environment=PYTHONPATH={Path(__file__).resolve().parents[2]}\n"
    timer = (CONTRIB / "calpolicy-watch.timer").read_text().replace("OnUnitActiveSec=15min", "OnUnitActiveSec=2s")
    timer = timer.replace("AccuracySec=30s", "AccuracySec=100ms")
    for name, body in (("calpolicy-watch.service", service), ("calpolicy-watch.timer", timer)):
        ns.run("/bin/sh", "-c", f"cat > /run/systemd/system/{name} <<'UNIT'\n{body}UNIT\n")
    ns.run("systemctl", "daemon-reload")
    ns.run("systemctl", "start", "calpolicy-watch.timer")
    try:
        # no harm so far, the day's looks not complete: each run says INCONCLUSIVE (exit 4, a success)
        wait_for(
            lambda: ns.journal_count("calpolicy-watch", "INCONCLUSIVE — post-apply watch") >= 2, 30, "two timer runs"
        )
    finally:
        ns.run("systemctl", "stop", "calpolicy-watch.timer", check=False)
        print(ns.run("journalctl", "-u", "calpolicy-watch", "--no-pager", check=False).stdout)
    out = ns.run("journalctl", "-u", "calpolicy-watch", "-o", "cat", "--no-pager", "-q").stdout
    assert "P4.2.d" in out
    assert "look 0 of 96" in out  # the first look is 15 min after approval: nothing judged yet
    assert ns.run("systemctl", "show", "-p", "Result", "calpolicy-watch.service").stdout.strip() == "Result=success"
    assert os.path.exists(config)


def test_a_version_that_went_live_at_a_later_restart_is_judged_from_then(ns: SystemdNamespace, workdir: Path) -> None:
    """Rehearsal on the real engine (loads only at start): approve wrote the file, the engine kept the old map
    until ``confirm --allow-restart``; the HOLD-only decisions in between are the old map's, not the new one's."""
    from calpolicy.jobs import history as apply_history

    ns.clear_journal()
    version = "cal_20261120_120000"
    baseline_start = datetime.now(UTC)
    log_decisions(ns, decision_lines(60), "late-baseline-done")
    time.sleep(1.1)
    approved_at = datetime.now(UTC)
    baseline = approved_at - baseline_start
    time.sleep(0.2)
    log_decisions(ns, decision_lines(30, hold_every=1), "old-map-done")  # written, NOT LIVE: the old map
    time.sleep(1.1)
    live_at = datetime.now(UTC)  # confirm --allow-restart: the new main process logs the version
    time.sleep(0.2)
    post = ["[CalibrationLoader] ✅ Loaded calibration: " + version, *decision_lines(40)]
    log_decisions(ns, post, "new-map-done")
    archive = workdir / "archive"
    history = archive / apply_history.HISTORY_NAME
    archive.mkdir()
    apply_history.append(history, {"id": "a1", "phase": "begin", "event": "approve", "to": version,
                                   "at": approved_at.isoformat()})  # fmt: skip
    apply_history.append(history, {"id": "a1", "phase": "done", "at": approved_at.isoformat()})
    apply_history.append(history, {"id": "a1", "phase": "ack", "acknowledged": False, "at": approved_at.isoformat()})
    apply_history.append(history, {"id": "a1", "phase": "ack", "acknowledged": True, "at": live_at.isoformat()})
    calibration = workdir / "calibration.json"
    calibration.write_text(json.dumps(applied_calibration_json(approved_at, version)))
    clm = write_records(workdir / "clm_trades.jsonl", trades_around(live_at))
    config = workdir / "calpolicy.toml"
    hours = baseline.total_seconds() / 3600
    now = max(datetime.now(UTC), live_at + baseline)
    window = (now - live_at).total_seconds() / 3600  # the day's looks complete at ``now``, counted from going live
    config.write_text(dumps_toml({
        "paths": {"clm_file": str(clm), "calibration_file": str(calibration), "archive_dir": str(archive)},
        "systemd": {"command_prefix": list(ns.prefix), "ai_engine_unit": ENGINE},
        "watch": {"min_post_hours": hours / 2, "baseline_hours": hours, "hours": window},
    }))  # fmt: skip
    result = run_cli("--config", str(config), "watch", "--json", "--now", now.isoformat())
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["verdict"] == "OK"
    assert {s["id"]: s["n"] for s in report["findings"]}["P4.2.c"] == 40  # the old map's 30 HOLDs are not post-apply
    assert report["approved_at"] == approved_at.isoformat()
    assert any("live in the engine only from" in note for note in report["notes"]), report["notes"]


def test_the_window_stays_open_one_look_past_its_end_for_the_final_verdict(workdir: Path) -> None:
    calibration = workdir / "calibration.json"
    config = workdir / "calpolicy.toml"
    config.write_text(dumps_toml({"paths": {"calibration_file": str(calibration)}}))
    approved_at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    calibration.write_text(json.dumps(applied_calibration_json(approved_at)))
    for minutes, expected in ((60 * 24 - 1, 0), (60 * 24 + 10, 0), (60 * 24 + 16, 1)):
        now = (approved_at + timedelta(minutes=minutes)).isoformat()
        result = run_cli("--config", str(config), "watch", "--in-window", "--now", now)
        assert result.returncode == expected, (minutes, result.stdout)
