"""confirmation's systemctl/journalctl shell, in-process, against a real systemd booted in a private namespace.

``test_confirmation.py`` runs approve/rollback/confirm end to end (a fresh systemd and the full engine
stand-in per test, about 9 s each). Here the functions that talk to systemd — ``unit_run``,
``run_loader_lines``, ``evidence``, ``served_problem``, ``confirm_live`` — are called directly in this
process, so a mutation test can see them (issue 21 §5). One systemd is booted for the module (the boot
is the cost, ~4 s); each test runs its own uniquely named engine unit, so neither units nor journal lines
cross between tests. The engine modelled is the real one (REAL_SYSTEM.md): it reads its calibration once,
at start — here a version file in the namespace's own /tmp — and logs ``[CalibrationLoader] ✅ Loaded
calibration: <v>``. A watchdog kills the namespace if this process dies without its teardown (a mutant
that hangs is killed by the mutation tool).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from calpolicy.apply.confirmation import (
    ConfirmError,
    Evidence,
    confirm_live,
    evidence,
    run_loader_lines,
    served_problem,
    unit_run,
)
from calpolicy.localenv.systemd_ns import SystemdNamespace, unit_interpreter, wait_journal
from calpolicy.vocabulary.config import Config

LOADED = "[CalibrationLoader] ✅ Loaded calibration: "
HANG_S = 90  # every confirm_live here returns within its own waits (at most 20 s); past this it never would
# the load-once engine: what /tmp/<unit>.version held at start is what it serves until its next start
ENGINE = """\
import os, pathlib, subprocess, sys, time
unit = sys.argv[1]
version = pathlib.Path(f"/tmp/{unit}.version")
if pathlib.Path(f"/tmp/{unit}.die").exists():  # an engine that fails at start (a bad deploy of its own)
    sys.exit(3)
if pathlib.Path(f"/tmp/{unit}.slow").exists():  # an engine that takes a while to load its models
    time.sleep(2)
if version.exists():
    print("[CalibrationLoader] ✅ Loaded calibration: " + version.read_text(), flush=True)
elif pathlib.Path(f"/tmp/{unit}.absent").exists():  # the real engine's line for a missing file
    print(f"[CalibrationLoader] No config at /srv/{unit}/calibration.json", flush=True)
else:
    print("[AI-ENGINE] starting; no calibration read yet", flush=True)
if pathlib.Path(f"/tmp/{unit}.worker").exists():  # a worker process logs the line through its own stream
    line = "[CalibrationLoader] ✅ Loaded calibration: " + pathlib.Path(f"/tmp/{unit}.worker").read_text()
    if pathlib.Path(f"/tmp/{unit}.brief").exists():  # it logs, ends and is reaped: its PID is free for anyone
        # (it lives a moment after its line: journald reads the writer's unit when it reads the line)
        subprocess.run(["systemd-cat", "-t", "worker", "sh", "-c", f"echo '{line}'; sleep 1"])
        print("[AI-ENGINE] worker done", flush=True)
    else:
        subprocess.Popen(["systemd-cat", "-t", "worker", "sh", "-c", f"echo '{line}'; exec sleep 600"])
while not pathlib.Path(f"/tmp/{unit}.crash").exists():
    time.sleep(0.05)
os.remove(f"/tmp/{unit}.crash")
sys.exit(1)
"""


@pytest.fixture(scope="module")
def ns() -> Iterator[SystemdNamespace]:
    """One private systemd for this module's tests (each test brings its own unit)."""
    with SystemdNamespace() as namespace:
        # if this process is killed (a mutant that hangs), the closed pipe ends the namespace's PID 1
        # (its own session: a signal to this process group does not take the watchdog with it)
        watchdog = subprocess.Popen(["sh", "-c", f"read _; kill -9 {namespace.pid}"], stdin=subprocess.PIPE,
                                    start_new_session=True)  # fmt: skip
        try:
            yield namespace
        finally:
            assert watchdog.stdin is not None
            watchdog.stdin.close()
            watchdog.wait(timeout=30)


@dataclass
class Engine:
    ns: SystemdNamespace
    unit: str
    config: Config
    marker: Path
    notes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def note(self, phase: str, **fields: Any) -> None:
        self.notes.append((phase, fields))

    def write_version(self, version: str) -> None:
        """What approve does to the live file: the engine reads it at its next start only."""
        self.ns.run("sh", "-c", f"printf %s {shlex.quote(version)} > /tmp/{self.unit}.version")

    def remove_version(self) -> None:
        self.ns.run("rm", "-f", f"/tmp/{self.unit}.version")

    def touch(self, name: str, text: str = "") -> None:
        self.ns.run("sh", "-c", f"printf %s {shlex.quote(text)} > /tmp/{self.unit}.{name}")

    def start(self, *properties: str, wait_for: str | None = LOADED) -> int:
        argv = [unit_interpreter(), "-u", "-c", ENGINE, self.unit]
        self.ns.run("systemd-run", f"--unit={self.unit}", "--quiet", *(f"--property={p}" for p in properties), *argv)
        if wait_for:
            wait_journal(self.ns, self.unit, 1, 30, wait_for)
        return self.main_pid()

    def main_pid(self) -> int:
        return int(self.ns.run("systemctl", "show", "-p", "MainPID", "--value", self.unit).stdout)

    def show(self, prop: str) -> str:
        return self.ns.run("systemctl", "show", "-p", prop, "--value", self.unit).stdout.strip()

    def confirm(self, version: str, allow_restart: bool = False, restart_done: bool = False, since: float = 0.0,
                config: Config | None = None) -> Any:  # fmt: skip
        # a guard, not a measure: a mutant that polls for ever sleeps, and the mutation tool's limit is CPU time
        def stuck(*_: object) -> None:
            raise TimeoutError(f"confirm_live did not return within {HANG_S} s")

        previous = signal.signal(signal.SIGALRM, stuck)
        signal.alarm(HANG_S)
        try:
            args = (config or self.config, self.marker, version, since, allow_restart, self.note)
            # approve and rollback leave restart_done to its default; `calpolicy confirm` passes it
            return confirm_live(*args, restart_done=True) if restart_done else confirm_live(*args)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def engine(ns: SystemdNamespace, tmp_path: Path) -> Iterator[Engine]:
    unit = f"quantum-ai-engine-{uuid.uuid4().hex[:10]}"
    values = {
        "systemd.command_prefix": list(ns.prefix),
        "systemd.ai_engine_unit": unit,
        "paths.calibration_file": str(tmp_path / "calibration.json"),
        "deploy.ack_timeout_s": 0.3,
        "deploy.restart_wait_s": 20.0,
    }
    config = Config().with_overrides(values, "test")
    try:
        yield Engine(ns, unit, config, tmp_path / ".calpolicy_loaded")
    finally:
        ns.run("systemctl", "stop", unit, check=False)
        ns.run("systemctl", "reset-failed", unit, check=False)
        ns.run("sh", "-c", f"rm -f /tmp/{unit}.*", check=False)


def loaded(version: str) -> str:
    return f"{LOADED}{version}"


def own_line(e: Engine, pid: int, version: str) -> str:
    return f"{e.unit}'s own log line, from PID {pid} of its current run: {loaded(version)!r}"


def head(e: Engine) -> str:
    return unit_run(e.config.systemd).describe()


def foreign_ack(e: Engine, version: str) -> None:
    """A well-formed acknowledgement naming ``version``, written by the namespace's PID 1 (not the engine)."""
    e.marker.write_text(json.dumps({"version": version, "pid": 1, "at": datetime.now(UTC).isoformat()}))


def foreign(e: Engine, version: str) -> str:
    problem = f"PID 1 is not in {e.unit}'s control group {e.show('ControlGroup')}"
    return f".calpolicy_loaded names {version}, but it is NOT the engine's: {problem}"


# ------------------------------------------------------------------------------------------ the unit


def test_the_units_current_run_is_read_from_systemd(engine: Engine) -> None:
    engine.write_version("v1")
    before = time.time()
    pid = engine.start()
    run = unit_run(engine.config.systemd)
    assert run.unit == engine.unit
    assert run.main_pid == pid
    assert run.invocation == engine.show("InvocationID") != ""
    assert run.started_at is not None
    assert before - 2 <= run.started_at <= time.time() + 1
    assert run.started_mono_us == int(engine.show("ExecMainStartTimestampMonotonic")) > 0
    assert run.restarts == 0
    assert run.cgroup == engine.show("ControlGroup")
    assert run.cgroup.endswith(f"/{engine.unit}.service")
    when = datetime.fromtimestamp(run.started_at, UTC).isoformat(timespec="seconds")
    assert run.describe() == f"{engine.unit} main PID {pid}, started {when}"


def test_a_unit_that_is_not_running_cannot_be_seen(engine: Engine) -> None:
    with pytest.raises(ConfirmError) as caught:
        unit_run(engine.config.systemd)
    assert str(caught.value) == f"{engine.unit} has no main process (MainPID=0): it is not running"


# ------------------------------------------------------------------------------------------ its evidence


def test_the_engines_own_line_confirms_and_names_its_process(engine: Engine) -> None:
    engine.write_version("v1")
    pid = engine.start()
    assert run_loader_lines(unit_run(engine.config.systemd), engine.config.systemd) == [(pid, loaded("v1"), "v1")]
    seen = evidence(engine.marker, "v1", 0.0, engine.config.systemd)
    assert seen == Evidence(True, "v1", own_line(engine, pid, "v1"))
    other = evidence(engine.marker, "v2", 0.0, engine.config.systemd)
    expected = f"{head(engine)}: its latest loader line says it serves v1: {loaded('v1')!r}"
    assert other == Evidence(False, "v1", expected)


def test_a_line_of_the_units_earlier_run_is_not_evidence(engine: Engine) -> None:
    engine.write_version("v1")
    engine.start()
    first = unit_run(engine.config.systemd)
    engine.remove_version()
    engine.ns.run("systemctl", "restart", engine.unit)
    wait_journal(engine.ns, engine.unit, 1, 30, "no calibration read yet")
    run = unit_run(engine.config.systemd)
    assert run.invocation != first.invocation
    assert run_loader_lines(run, engine.config.systemd) == []
    seen = evidence(engine.marker, "v1", 0.0, engine.config.systemd)
    assert seen == Evidence(False, None, f"{run.describe()}: no loader line from its current run yet")
    # the earlier run's line is still in the journal: only its run's invocation ID sets it apart
    assert engine.ns.journal_count(engine.unit, loaded("v1")) == 1


def test_a_worker_of_the_engine_logging_through_its_own_stream_counts(engine: Engine) -> None:
    engine.touch("worker", "v5")
    pid = engine.start(wait_for=None)
    wait_journal(engine.ns, engine.unit, 1, 30, loaded("v5"))
    lines = run_loader_lines(unit_run(engine.config.systemd), engine.config.systemd)
    assert [(text, state) for _, text, state in lines] == [(loaded("v5"), "v5")]
    worker = lines[0][0]
    assert worker != pid  # the worker's own PID, a descendant of the main process in the unit's cgroup
    assert evidence(engine.marker, "v5", 0.0, engine.config.systemd).how == own_line(engine, worker, "v5")


def test_a_line_from_a_process_that_has_ended_cannot_be_traced_to_the_engine(engine: Engine) -> None:
    """A worker that logged the line and exited: its PID can no longer be shown to be the engine's (fail closed)."""
    engine.touch("worker", "v5")
    engine.touch("brief")
    engine.start(wait_for="worker done")
    assert engine.ns.journal_count(engine.unit, loaded("v5")) == 1
    run = unit_run(engine.config.systemd)
    assert run_loader_lines(run, engine.config.systemd) == []
    assert evidence(engine.marker, "v5", 0.0, engine.config.systemd).confirmed is False


def test_an_acknowledgement_needs_the_engines_process_and_a_time_after_the_change(engine: Engine) -> None:
    engine.write_version("v1")
    pid = engine.start()
    now = datetime.now(UTC).isoformat()
    engine.marker.write_text(json.dumps({"version": "v2", "pid": pid, "at": now, "sha256": "0" * 64}))
    seen = evidence(engine.marker, "v2", 0.0, engine.config.systemd)
    assert seen == Evidence(True, "v2", f"the loader in {engine.unit} (PID {pid}) acknowledged v2 at {now}")
    late = evidence(engine.marker, "v2", time.time() + 60, engine.config.systemd)  # written before the change
    assert late.confirmed is False
    assert late.serves == "v1"
    host_pid = os.getpid()  # a process of the host, invisible in the namespace's /proc
    engine.marker.write_text(json.dumps({"version": "v2", "pid": host_pid + 10**6, "at": now}))
    outsider = evidence(engine.marker, "v2", 0.0, engine.config.systemd)
    assert outsider.confirmed is False
    assert outsider.how == (
        f"{head(engine)}: its latest loader line says it serves v1: {loaded('v1')!r}; .calpolicy_loaded names v2, "
        f"but it is NOT the engine's: PID {host_pid + 10**6} no longer runs, so it cannot be shown to belong to "
        f"{engine.unit}"
    )


def test_status_and_watch_ask_whether_the_engine_serves_a_version(engine: Engine) -> None:
    unseen = served_problem(engine.config, "v1")
    assert unseen == ("unknown", f"cannot tell which version the AI engine serves: {engine.unit} has no main "
                                 "process (MainPID=0): it is not running")  # fmt: skip
    pid = engine.start(wait_for="no calibration read yet")
    assert served_problem(engine.config, "v1") == (
        "not-live",
        f"the AI engine does not serve v1: {head(engine)}: no loader line from its current run yet",
    )
    engine.ns.run("systemctl", "stop", engine.unit)
    engine.write_version("v1")
    engine.start()
    assert served_problem(engine.config, "v1") is None
    assert served_problem(engine.config, "v2") == (
        "not-live", f"the AI engine does not serve v2: {head(engine)}: its latest loader line says it serves v1: "
        f"{loaded('v1')!r}",
    )  # fmt: skip
    # the hot-reload loader's acknowledgement, next to the live file, is read too
    pid = engine.main_pid()
    now = datetime.now(UTC).isoformat()
    (engine.marker.parent / ".calpolicy_loaded").write_text(json.dumps({"version": "v2", "pid": pid, "at": now}))
    assert served_problem(engine.config, "v2") is None
    assert served_problem(engine.config, "v3")[0] == "not-live"


def test_no_version_means_the_engine_must_serve_no_calibration(engine: Engine) -> None:
    engine.touch("absent")
    engine.start(wait_for="No config at")
    assert served_problem(engine.config, None) is None
    assert served_problem(engine.config, "v1")[0] == "not-live"


# ------------------------------------------------------------------------------------------ confirm_live


def test_a_version_already_served_is_confirmed_without_a_restart(engine: Engine) -> None:
    engine.write_version("v1")
    pid = engine.start()
    result = engine.confirm("v1", allow_restart=True)
    how = own_line(engine, pid, "v1")
    assert (result.version, result.live, result.restarted, result.needs_restart, result.could_not_check) == (
        "v1",
        True,
        False,
        False,
        False,
    )
    assert result.lines == [f"LIVE: {how}"]
    assert engine.notes == [("ack", {"acknowledged": True, "after_restart": False, "evidence": how})]
    assert engine.main_pid() == pid


def test_without_leave_to_restart_a_written_version_waits_for_one(engine: Engine) -> None:
    engine.write_version("v1")
    pid = engine.start()
    engine.write_version("v2")
    result = engine.confirm("v2")
    how = f"{head(engine)}: its latest loader line says it serves v1: {loaded('v1')!r}"
    assert (result.live, result.restarted, result.needs_restart, result.could_not_check) == (False, False, True, False)
    assert result.lines == [f"NOT LIVE YET: {how}"]
    assert engine.notes == [("ack", {"acknowledged": False, "reason": how})]
    assert engine.main_pid() == pid
    # `calpolicy confirm` again after the one restart was used: no second one, and nothing left to ask for
    engine.notes.clear()
    again = engine.confirm("v2", allow_restart=True, restart_done=True)
    assert (again.live, again.restarted, again.needs_restart) == (False, False, False)
    done = "the one restart the checklist allows (P4.1.c) was already done for this change"
    assert again.lines == [f"NOT LIVE YET: {how}", done]
    assert engine.notes == [("ack", {"acknowledged": False, "reason": how})]
    assert engine.main_pid() == pid
    alone = engine.confirm("v2", restart_done=True)
    assert alone.needs_restart is False
    assert engine.main_pid() == pid


def test_the_one_allowed_restart_makes_the_written_version_live(engine: Engine) -> None:
    engine.write_version("v1")
    before = engine.start()
    engine.write_version("v2")
    first = head(engine)
    foreign_ack(engine, "v2")
    result = engine.confirm("v2", allow_restart=True)
    after = engine.main_pid()
    assert after != before
    waited = f"{first}: its latest loader line says it serves v1: {loaded('v1')!r}; {foreign(engine, 'v2')}"
    live = own_line(engine, after, "v2")
    assert (result.live, result.restarted, result.needs_restart, result.could_not_check) == (True, True, False, False)
    assert result.lines == [
        f"NOT LIVE YET: {waited}",
        f"--allow-restart: {engine.unit} restarted (main PID {before} → {after}); that is the one restart allowed",
        f"LIVE: {live}",
    ]
    assert engine.notes == [
        ("ack", {"acknowledged": False, "reason": waited}),
        ("restart", {"unit": engine.unit, "cause": "allow_restart", "reason": "no evidence within 0.3 s",
                     "main_pid_before": before}),
        ("ack", {"acknowledged": True, "after_restart": True, "evidence": live}),
    ]  # fmt: skip


def test_an_engine_that_comes_back_serving_the_old_version_gets_no_second_restart(engine: Engine) -> None:
    engine.write_version("v1")
    before = engine.start()
    # the file still says v1: the restart changes nothing (and the wait after it is the whole restart_wait_s)
    config = engine.config.with_overrides({"deploy.restart_wait_s": 3.0}, "test")
    result = engine.confirm("v2", allow_restart=True, config=config)
    after = engine.main_pid()
    assert after != before
    assert (result.live, result.restarted, result.needs_restart) == (False, True, False)
    assert result.lines[-1] == (
        f"still NOT LIVE after the restart: {head(engine)}: its latest loader line says it serves v1: "
        f"{loaded('v1')!r}; no further restart"
    )
    assert [phase for phase, _ in engine.notes] == ["ack", "restart", "ack"]
    assert engine.notes[-1][1]["acknowledged"] is False
    assert engine.notes[-1][1]["after_restart"] is True
    assert engine.main_pid() == after


def test_a_restart_that_fails_is_said_and_not_retried(engine: Engine) -> None:
    engine.write_version("v1")
    engine.start(f"ExecStartPre=/bin/sh -c '! test -e /tmp/{engine.unit}.refuse'")
    engine.touch("refuse")
    engine.write_version("v2")
    result = engine.confirm("v2", allow_restart=True)
    assert (result.live, result.restarted, result.needs_restart) == (False, True, False)
    failed = result.lines[-1]
    assert failed.startswith(f"the one allowed restart of {engine.unit} failed: `")
    assert f"systemctl restart {engine.unit}` exited with status 1" in failed
    assert len(result.lines) == 2
    assert result.lines[0].startswith("NOT LIVE YET: ")
    assert [phase for phase, _ in engine.notes] == ["ack", "restart", "ack"]
    reason = failed.removeprefix(f"the one allowed restart of {engine.unit} failed: ")
    assert engine.notes[-1] == ("ack", {"acknowledged": False, "after_restart": True, "reason": reason})


def test_an_engine_that_cannot_be_seen_is_not_confirmed(engine: Engine) -> None:
    result = engine.confirm("v1", allow_restart=True)
    error = f"{engine.unit} has no main process (MainPID=0): it is not running"
    assert (result.live, result.restarted, result.needs_restart, result.could_not_check) == (False, False, False, True)
    assert result.lines == [f"NOT CONFIRMED: cannot see the AI engine unit: {error}"]
    assert engine.notes == [("ack", {"acknowledged": False, "reason": error})]


def test_a_reload_signal_that_ends_the_engine_is_the_one_restart(engine: Engine) -> None:
    engine.write_version("v1")
    before = engine.start("Restart=always", "RestartSec=0.2")
    engine.write_version("v2")
    config = engine.config.with_overrides({"deploy.reload_signal": "SIGHUP", "deploy.ack_timeout_s": 15.0}, "test")
    result = engine.confirm("v2", config=config)
    after = engine.main_pid()
    assert after != before
    live = own_line(engine, after, "v2")
    assert (result.live, result.restarted, result.needs_restart) == (True, True, False)
    cause = "the reload signal SIGHUP ended the engine"
    assert result.lines == [
        f"sent SIGHUP to {engine.unit} (deploy.reload_signal)",
        f"{cause}: {engine.unit} restarted (main PID {before} → {after}); that is the one restart allowed",
        f"LIVE: {live}",
    ]
    assert engine.notes == [
        ("ack", {"acknowledged": False, "reason": f"{cause} before any acknowledgement"}),
        ("restart", {"unit": engine.unit, "cause": "reload_signal", "main_pid_before": before,
                     "main_pid_after": after}),
        ("ack", {"acknowledged": True, "after_restart": True, "evidence": live}),
    ]  # fmt: skip
    assert engine.show("NRestarts") == "1"


def test_an_engine_that_restarts_by_itself_during_the_wait_is_the_one_restart(engine: Engine) -> None:
    engine.write_version("v1")
    before = engine.start("Restart=always", "RestartSec=0.2")
    engine.write_version("v2")
    config = engine.config.with_overrides({"deploy.ack_timeout_s": 15.0}, "test")
    crash = threading.Timer(1.5, engine.touch, ("crash",))  # it crashes while confirm waits
    crash.start()
    try:
        result = engine.confirm("v2", allow_restart=True, config=config)
    finally:
        crash.join()
    after = engine.main_pid()
    assert after != before
    cause = "the engine restarted during the wait"
    assert result.lines == [
        f"{cause}: {engine.unit} restarted (main PID {before} → {after}); that is the one restart allowed",
        f"LIVE: {own_line(engine, after, 'v2')}",
    ]
    assert result.live is True
    assert result.restarted is True
    assert engine.notes[:2] == [
        ("ack", {"acknowledged": False, "reason": f"{cause} before any acknowledgement"}),
        ("restart", {"unit": engine.unit, "cause": "observed", "main_pid_before": before, "main_pid_after": after}),
    ]


def test_the_hot_reload_loaders_acknowledgement_confirms_when_written_after_the_change(engine: Engine) -> None:
    engine.write_version("v1")
    pid = engine.start()
    at = datetime.now(UTC).isoformat()
    engine.marker.write_text(json.dumps({"version": "v2", "pid": pid, "at": at, "sha256": "0" * 64}))
    result = engine.confirm("v2", since=time.time() - 5)
    how = f"the loader in {engine.unit} (PID {pid}) acknowledged v2 at {at}"
    assert (result.live, result.restarted, result.needs_restart) == (True, False, False)
    assert result.lines == [f"LIVE: {how}"]
    assert engine.notes == [("ack", {"acknowledged": True, "after_restart": False, "evidence": how})]
    engine.notes.clear()
    stale = engine.confirm("v2", since=time.time() + 5)  # an acknowledgement older than this change
    assert (stale.live, stale.needs_restart) == (False, True)
    assert stale.lines[0].startswith("NOT LIVE YET: ")
    assert "serves v1" in stale.lines[0]


def test_an_engine_slow_to_come_back_after_the_signal_is_waited_for_not_restarted_again(engine: Engine) -> None:
    """The reload signal ended the engine; its next run has not logged a load when the acknowledgement
    wait ends: the wait goes on (restart_wait_s) and no restart is added."""
    engine.write_version("v1")
    before = engine.start("Restart=always", "RestartSec=0.1")
    engine.write_version("v2")
    engine.touch("slow")
    foreign_ack(engine, "v2")  # read at every look, and never the proof
    config = engine.config.with_overrides({"deploy.reload_signal": "SIGHUP", "deploy.ack_timeout_s": 1.0}, "test")
    result = engine.confirm("v2", allow_restart=True, config=config)
    after = engine.main_pid()
    assert after != before
    live = own_line(engine, after, "v2")
    assert (result.live, result.restarted, result.needs_restart) == (True, True, False)
    assert result.lines[1:] == [
        f"the reload signal SIGHUP ended the engine: {engine.unit} restarted (main PID {before} → {after}); "
        "that is the one restart allowed",
        f"LIVE: {live}",
    ]
    assert engine.notes[-1] == ("ack", {"acknowledged": True, "after_restart": True, "evidence": live})
    assert [phase for phase, _ in engine.notes] == ["ack", "restart", "ack"]
    assert engine.show("NRestarts") == "1"


def test_a_reload_signal_that_ends_an_engine_nothing_restarts_leaves_it_down(engine: Engine) -> None:
    engine.write_version("v1")
    engine.start()  # no Restart=always
    config = engine.config.with_overrides({"deploy.reload_signal": "SIGHUP"}, "test")
    result = engine.confirm("v1", config=config)
    down = f"{engine.unit} has no main process (MainPID=0): it is not running"
    assert result.lines == [f"sent SIGHUP to {engine.unit} (deploy.reload_signal)", f"NOT LIVE YET: {down}"]
    assert (result.live, result.restarted, result.needs_restart) == (False, False, True)
    assert engine.notes == [("ack", {"acknowledged": False, "reason": down})]


def test_a_restart_slower_than_its_wait_is_a_failed_restart(engine: Engine) -> None:
    engine.write_version("v1")
    engine.start(f"ExecStartPre=/bin/sh -c 'test ! -e /tmp/{engine.unit}.slow || sleep 5'")
    engine.touch("slow")
    config = engine.config.with_overrides({"deploy.restart_wait_s": 1.5}, "test")
    result = engine.confirm("v2", allow_restart=True, config=config)
    assert result.restarted is True
    assert result.live is False
    assert result.lines[-1].startswith(f"the one allowed restart of {engine.unit} failed: `")
    assert result.lines[-1].endswith(f"systemctl restart {engine.unit}` did not finish within 1.5 s")


def test_an_engine_that_does_not_come_back_from_the_restart_is_not_live(engine: Engine) -> None:
    engine.write_version("v1")
    engine.start()
    engine.write_version("v2")
    engine.touch("die")  # read at start only: the running engine is unaffected, its next start fails
    config = engine.config.with_overrides({"deploy.restart_wait_s": 2.0}, "test")
    result = engine.confirm("v2", allow_restart=True, config=config)
    down = f"{engine.unit} has no main process (MainPID=0): it is not running"
    assert (result.live, result.restarted, result.needs_restart, result.could_not_check) == (False, True, False, False)
    assert result.lines[-1] == f"still NOT LIVE after the restart: {down}; no further restart"
    assert engine.notes[-1] == ("ack", {"acknowledged": False, "after_restart": True, "evidence": down})
    assert [phase for phase, _ in engine.notes] == ["ack", "restart", "ack"]
