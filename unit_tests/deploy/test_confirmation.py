"""approve and rollback end confirmed only by the engine's own evidence (issue 20, points 5 and 6).

The AI engine is a real unit in a systemd namespace running ``calpolicy/localenv/ai_engine.py`` as the
real engine behaves: it loads calibration.json once at start, logs `[CalibrationLoader] ✅ Loaded
calibration: <v>`, writes no acknowledgement, SIGHUP ends it and Restart=always brings it back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from calpolicy.apply.confirmation import evidence, headline, served_problem, unit_run
from calpolicy.apply.deploy import approve_job, rollback
from calpolicy.jobs import history as apply_history
from calpolicy.loader import CalibrationLoader
from calpolicy.localenv.ai_engine import UNIT_PROPERTIES, engine_argv
from calpolicy.localenv.systemd_ns import SystemdNamespace, unit_interpreter, wait_journal
from unit_tests.conftest import run_cli
from unit_tests.deploy.site import ENGINE_UNIT, EXISTING_VERSION, Site, site_in_namespace
from unit_tests.deploy.site import write_toml as site_toml

UNIT = ENGINE_UNIT
JOB_A, JOB_B, JOB_C = "cal_20261101_120000", "cal_20261102_120000", "cal_20261103_120000"


def quiet(_: str) -> None:
    pass


@pytest.fixture
def site(namespace: SystemdNamespace, proposal_json: str) -> Iterator[Site]:
    overrides = {"deploy.ack_timeout_s": 2.0, "deploy.restart_wait_s": 30.0}
    with site_in_namespace(namespace, proposal_json, (JOB_A, JOB_B, JOB_C), **overrides) as site:
        yield site


def start_engine(ns: SystemdNamespace, site: Site, *extra: str) -> int:
    """The engine unit, up and serving the existing version; its main PID."""
    ns.start_unit(UNIT, engine_argv(unit_interpreter(), site.live, "--tick", "5", *extra), UNIT_PROPERTIES)
    wait_journal(ns, UNIT, 1, 30, f"Loaded calibration: {EXISTING_VERSION}" if not extra else EXISTING_VERSION)
    return unit_run(site.config.systemd).main_pid


def write_toml(site: Site) -> Path:
    return site_toml(site, deploy={"ack_timeout_s": 2.0, "restart_wait_s": 30.0}, systemd=True)


def history_of(site: Site, entry_id: str | None) -> list[dict]:
    return [e for e in apply_history.read(site.paths.history) if e.get("id") == entry_id]


def test_approve_with_allow_restart_is_confirmed_by_the_new_main_pids_line(
    namespace: SystemdNamespace, site: Site
) -> None:
    before = start_engine(namespace, site)
    outcome = approve_job(site.config, JOB_A, "alice", allow_restart=True, say=quiet)
    assert outcome.acknowledged is True, outcome.lines
    assert outcome.restarted is True
    after = unit_run(site.config.systemd)
    assert after.main_pid != before
    assert any(f"Loaded calibration: {JOB_A}" in line and f"PID {after.main_pid}" in line for line in outcome.lines)
    phases = [e["phase"] for e in history_of(site, outcome.entry_id)]
    assert phases.count("restart") == 1, phases
    marker = site.paths.marker
    assert headline("APPLIED", JOB_A, outcome.confirmation, marker, None) == f"APPLIED — version {JOB_A} is live"


@pytest.mark.parametrize("log_format", ["envelope", "jsonlogger", "prefixed", "fallback"])
def test_the_engines_json_log_forms_confirm_apply_and_rollback(
    namespace: SystemdNamespace, site: Site, log_format: str
) -> None:
    """The real engine logs through a JSON formatter that escapes ``✅`` (rehearsal, docs/real-host-rehearsal.md):
    the envelope's ``msg``, python-json-logger's ``message``, either after a prefix; and main.py's fallback."""
    start_engine(namespace, site, "--log-format", log_format)
    assert served_problem(site.config, EXISTING_VERSION) is None  # status/watch read the start line too
    outcome = approve_job(site.config, JOB_A, "alice", allow_restart=True, say=quiet)
    assert outcome.acknowledged is True, outcome.lines
    pid = unit_run(site.config.systemd).main_pid
    assert any(f"Loaded calibration: {JOB_A}" in line and f"PID {pid}" in line for line in outcome.lines)
    back = rollback(site.config, "previous", "bob", allow_restart=True, say=quiet)
    assert back.acknowledged is True, back.lines
    assert served_problem(site.config, EXISTING_VERSION) is None


def test_without_allow_restart_it_is_written_not_live_and_says_the_exact_command(
    namespace: SystemdNamespace, site: Site
) -> None:
    first = start_engine(namespace, site)
    approve_job(site.config, JOB_A, "alice", wait=False, say=quiet)
    toml = write_toml(site)
    done = run_cli("--config", str(toml), "rollback", "--by", "bob")  # back to the existing version...
    assert done.returncode == 0, done.stdout + done.stderr  # ...which the engine still serves: live
    assert f"ROLLED BACK — version {EXISTING_VERSION} is live" in done.stdout
    # a rolled-back job's version never goes live again by rollback (issue 21 §2): B, then C over it, and a
    # plain rollback writes B back, which the engine (loaded once, at start) does not serve yet
    approve_job(site.config, JOB_B, "alice", wait=False, say=quiet)
    approve_job(site.config, JOB_C, "alice", wait=False, say=quiet)
    done = run_cli("--config", str(toml), "rollback", "--by", "bob")
    assert done.returncode == 1, done.stdout + done.stderr
    command = f"calpolicy --config {toml} confirm --allow-restart"
    expected = f"written, NOT LIVE — version {JOB_B}: this engine has no hot reload; to make it live: {command}"
    assert expected in done.stdout
    assert unit_run(site.config.systemd).main_pid == first  # nothing was restarted
    assert served_problem(site.config, JOB_B)[0] == "not-live"
    made_live = run_cli("--config", str(toml), "confirm", "--allow-restart")
    assert made_live.returncode == 0, made_live.stdout + made_live.stderr
    assert f"CONFIRMED — version {JOB_B} is live" in made_live.stdout
    assert served_problem(site.config, JOB_B) is None
    status = run_cli("--config", str(toml), "status")
    assert "applied, live" in status.stdout, status.stdout
    again = run_cli("--config", str(toml), "confirm", "--allow-restart")
    assert again.returncode == 0
    rollback_entry = next(e for e in reversed(apply_history.read(site.paths.history)) if e.get("phase") == "begin")
    restarts = [e for e in history_of(site, rollback_entry["id"]) if e["phase"] == "restart"]
    assert len(restarts) == 1, restarts  # the second confirm found it live and restarted nothing


def test_never_a_second_restart_even_when_the_first_did_not_make_it_live(
    namespace: SystemdNamespace, site: Site
) -> None:
    """An engine that comes back serving the old version: one restart, NOT LIVE, and confirm adds none."""
    stubborn = f"import time\nprint('[CalibrationLoader] ✅ Loaded calibration: {EXISTING_VERSION}', flush=True)\n"
    namespace.start_unit(UNIT, [unit_interpreter(), "-u", "-c", stubborn + "time.sleep(600)\n"], UNIT_PROPERTIES)
    wait_journal(namespace, UNIT, 1, 30, EXISTING_VERSION)
    # the engine never serves JOB_A, so approve waits out the whole restart_wait_s after the restart: 8 s
    # (still ample for `systemctl restart`, whose timeout it also is) instead of the fixture's 30 s
    config = site.config.with_overrides({"deploy.restart_wait_s": 8.0}, "test")
    outcome = approve_job(config, JOB_A, "alice", allow_restart=True, say=quiet)
    assert outcome.acknowledged is False
    assert outcome.restarted is True
    assert any(line.startswith("still NOT LIVE after the restart") for line in outcome.lines), outcome.lines
    after = unit_run(site.config.systemd)
    done = run_cli("--config", str(write_toml(site)), "confirm", "--allow-restart")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"NOT CONFIRMED — version {JOB_A} is written, but the engine was not shown")
    assert "was already done for this change" in done.stdout
    assert unit_run(site.config.systemd).main_pid == after.main_pid
    assert [e["phase"] for e in history_of(site, outcome.entry_id)].count("restart") == 1


def test_a_stale_line_from_the_previous_main_pid_does_not_confirm(namespace: SystemdNamespace, site: Site) -> None:
    start_engine(namespace, site)
    outcome = approve_job(site.config, JOB_A, "alice", allow_restart=True, say=quiet)
    assert outcome.acknowledged is True, outcome.lines
    assert namespace.journal_count(UNIT, f"Loaded calibration: {JOB_A}") >= 1
    # the unit starts again, and this run has not (yet) loaded anything: the earlier line is stale
    code = "import time\nprint('[AI-ENGINE] starting', flush=True)\ntime.sleep(600)\n"
    namespace.start_unit(UNIT, [unit_interpreter(), "-u", "-c", code])
    wait_journal(namespace, UNIT, 1, 30, "[AI-ENGINE] starting")
    seen = evidence(site.paths.marker, JOB_A, 0.0, site.config.systemd)
    assert seen.confirmed is False
    assert "no loader line from its current run yet" in seen.how
    assert served_problem(site.config, JOB_A)[0] == "not-live"


def test_an_acknowledgement_from_a_process_outside_the_unit_does_not_confirm(
    namespace: SystemdNamespace, site: Site
) -> None:
    start_engine(namespace, site)
    outsider = CalibrationLoader(site.live, poll_interval_s=0.05)  # this test process, not the engine unit
    try:
        outcome = approve_job(site.config, JOB_A, "alice", say=quiet)
        assert json.loads(site.paths.marker.read_text())["version"] == JOB_A  # it did acknowledge...
        assert json.loads(site.paths.marker.read_text())["pid"] == os.getpid()
    finally:
        outsider.close()
    assert outcome.acknowledged is False, outcome.lines  # ...and that proves nothing about the engine
    assert any("is NOT the engine's" in line for line in outcome.lines), outcome.lines
    assert outcome.confirmation.needs_restart is True


def test_rollback_with_allow_restart_is_confirmed(namespace: SystemdNamespace, site: Site) -> None:
    start_engine(namespace, site)
    assert approve_job(site.config, JOB_A, "alice", allow_restart=True, say=quiet).acknowledged is True
    before = unit_run(site.config.systemd).main_pid
    outcome = rollback(site.config, "previous", "bob", allow_restart=True, say=quiet)
    assert outcome.to_version == EXISTING_VERSION
    assert outcome.acknowledged is True, outcome.lines
    assert outcome.restarted is True
    assert unit_run(site.config.systemd).main_pid != before
    back = rollback(site.config, "none", "bob", allow_restart=True, say=quiet)
    assert back.acknowledged is True, back.lines  # the engine's "No config at" line from its new run
    assert any("weights would change" in line for line in back.lines), back.lines


def test_a_reload_signal_that_ends_the_engine_is_the_one_restart(namespace: SystemdNamespace, site: Site) -> None:
    start_engine(namespace, site)
    config = site.config.with_overrides({"deploy.reload_signal": "SIGHUP"}, "test")
    outcome = approve_job(config, JOB_A, "alice", say=quiet)  # no --allow-restart
    assert outcome.acknowledged is True, outcome.lines
    assert outcome.restarted is True
    assert any("the reload signal SIGHUP ended the engine" in line for line in outcome.lines), outcome.lines
    restarts = [e for e in history_of(site, outcome.entry_id) if e["phase"] == "restart"]
    assert [r["cause"] for r in restarts] == ["reload_signal"]
    assert unit_run(site.config.systemd).restarts == 1


def test_the_hot_reload_upgrade_path_acknowledges_from_the_main_process(
    namespace: SystemdNamespace, site: Site
) -> None:
    pid = start_engine(namespace, site, "--hot-reload")
    # this engine does acknowledge: give its poll thread time on a loaded machine (the others wait 2 s for none)
    config = site.config.model_copy(update={"deploy": site.config.deploy.model_copy(update={"ack_timeout_s": 20.0})})
    outcome = approve_job(config, JOB_A, "alice", say=quiet)
    assert outcome.acknowledged is True, outcome.lines
    assert outcome.restarted is False
    assert any(f"(PID {pid}) acknowledged {JOB_A}" in line for line in outcome.lines), outcome.lines


def test_watch_does_not_judge_a_version_the_engine_does_not_serve(namespace: SystemdNamespace, site: Site) -> None:
    start_engine(namespace, site)
    approve_job(site.config, JOB_A, "alice", say=quiet)  # written, not live
    done = run_cli("--config", str(write_toml(site)), "watch")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"COULD NOT CHECK — post-apply watch: the AI engine does not serve {JOB_A}" in done.stdout
    assert "nothing was judged" in done.stdout


def test_the_engine_stand_in_imports_no_calpolicy_module() -> None:
    script = engine_argv(sys.executable, "x")[2]
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='engine');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'calpolicy'))"
    )
    done = subprocess.run([sys.executable, "-c", code, script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
