"""Is the version calpolicy wrote the one the AI engine serves? Evidence only from the engine unit's current run.

Why this module exists: the real engine (``ai_engine/calibration_loader.py`` in quantum_trader) loads
``calibration.json`` once, at start, and has no acknowledgement file; it logs
``[CalibrationLoader] ✅ Loaded calibration: <version>``. So a written file is live only after a restart,
and the only proof is that line, written by the unit's *current* run. calpolicy's hot-reload loader adds
``.calpolicy_loaded`` ({"version", "pid", "at", "sha256"}) and logs ``✅ Loaded config version: <v>``.

Evidence is accepted only from the AI engine unit's current main process or its descendants:

* a journal line counts when its ``_SYSTEMD_INVOCATION_ID`` is the unit's current ``InvocationID`` (so it
  was written after the latest start) and its ``_PID`` is ``MainPID`` or a descendant of it;
* an acknowledgement counts when its ``pid`` is ``MainPID`` or a descendant, that process sits in the
  unit's ``ControlGroup`` (``/proc/PID/cgroup``), and it was written at or after ``since``.

A second process that opens a loader on the same file (a shell, a test, another service) writes a
perfectly formed acknowledgement: it is rejected, naming its PID. The *latest* loader line of the current
run says what the engine serves, so an engine that never reloaded still serves what it loaded at start.

``confirm_live`` is the acknowledgement/restart step of approve and rollback (checklist P4.1.c): wait for
evidence; a ``reload_signal`` that ends the engine (SIGHUP under uvicorn, brought back by Restart=always)
is noticed and counted as the one restart; otherwise, only when allowed, one ``systemctl restart``.
Every step is recorded through ``note`` (the history lines P4.1.c reads).

This module stays whole although long (~450 lines): which run of the unit counts, which line or file is
evidence and what a restart means are one judgement, made in one place.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.files.strict_json import parse_json
from calpolicy.preflight.probes.command import ProbeError, run_command
from calpolicy.preflight.probes.journal import decode_message, log_text

# the real engine's line and the checklist's (calpolicy's hot-reload loader) line
_LOADED = re.compile(r"\[CalibrationLoader\]\s*✅\s*Loaded (?:calibration|config version):\s*(?P<version>\S+)")
# no file at start (real engine), a deleted file (hot-reload loader): no calibration is served
_NO_FILE = re.compile(r"\[CalibrationLoader\]\s*(?:No config at |⚠️ .* is missing: serving NO calibration)")
_FAILED = re.compile(r"\[CalibrationLoader\]\s*❌ Failed to load config")
NO_CALIBRATION = "none"
MAX_ANCESTRY = 64

Note = Callable[..., None]


class ConfirmError(RuntimeError):
    """The engine unit cannot be inspected (no systemd, unit not running, journal unreadable)."""


@dataclass(frozen=True)
class UnitRun:
    """One run of the AI engine unit: what ``systemctl show`` says about its current main process."""

    unit: str
    main_pid: int
    invocation: str
    started_at: float | None  # epoch seconds (whole seconds, as systemctl prints them)
    started_mono_us: int
    restarts: int | None
    cgroup: str

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.started_at, UTC).isoformat(timespec="seconds") if self.started_at else "?"
        return f"{self.unit} main PID {self.main_pid}, started {when}"


@dataclass
class Evidence:
    """What the engine's current run shows: ``serves`` is the version it last said it loaded."""

    confirmed: bool
    serves: str | None
    how: str


@dataclass
class Confirmation:
    """The outcome of ``confirm_live``: live or not, whether a restart happened, lines for the operator."""

    version: str
    live: bool = False
    restarted: bool = False
    needs_restart: bool = False  # written, but only a restart can make it live
    could_not_check: bool = False
    lines: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- the unit


def _show(unit: str, prefix: Sequence[str], timeout_s: float) -> dict[str, str]:
    props = "MainPID,InvocationID,ExecMainStartTimestamp,ExecMainStartTimestampMonotonic,NRestarts,ControlGroup"
    argv = ["systemctl", "show", "-p", props, "--timestamp=unix", unit]
    try:
        out = run_command(argv, prefix, timeout_s).stdout.decode("utf-8", "replace")
    except ProbeError as error:
        raise ConfirmError(str(error)) from None
    return show_values(out)


def show_values(out: str) -> dict[str, str]:
    """``systemctl show``'s ``KEY=VALUE`` lines as a mapping (a value may itself hold ``=``)."""
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def unit_run(systemd: Any) -> UnitRun:
    """The AI engine unit's current run; ``ConfirmError`` when it has no main process."""
    unit = systemd.ai_engine_unit
    return run_from_show(unit, _show(unit, systemd.command_prefix, systemd.command_timeout_s))


def run_from_show(unit: str, values: dict[str, str]) -> UnitRun:
    """The run ``systemctl show`` describes: fail closed on no main process, "unknown" for an unreadable field."""
    try:
        main_pid = int(values.get("MainPID", "0") or 0)
    except ValueError:
        main_pid = 0
    if main_pid <= 0:
        raise ConfirmError(f"{unit} has no main process (MainPID={values.get('MainPID', '?')}): it is not running")
    raw_start = values.get("ExecMainStartTimestamp", "").lstrip("@")
    try:
        started_at: float | None = float(raw_start)
    except ValueError:
        started_at = None
    try:
        restarts: int | None = int(values.get("NRestarts", ""))
    except ValueError:
        restarts = None
    try:
        mono = int(values.get("ExecMainStartTimestampMonotonic", "0") or 0)
    except ValueError:
        mono = 0
    invocation, cgroup = values.get("InvocationID", ""), values.get("ControlGroup", "")
    return UnitRun(unit, main_pid, invocation, started_at, mono, restarts, cgroup)


def _read_proc(pid: int, name: str, systemd: Any) -> str | None:
    try:
        done = run_command(["cat", f"/proc/{pid}/{name}"], systemd.command_prefix, systemd.command_timeout_s)
    except ProbeError:
        return None
    return done.stdout.decode("utf-8", "replace")


def _parent(pid: int, systemd: Any) -> int | None:
    return parent_of(_read_proc(pid, "stat", systemd))


def parent_of(stat: str | None) -> int | None:
    """The parent PID in a ``/proc/PID/stat`` text; the command name may hold ``)`` and spaces, so it is
    read after the *last* ``)``. None when the text is absent or not that shape."""
    if not stat or ")" not in stat:
        return None
    try:
        return int(stat[stat.rindex(")") + 2 :].split()[1])
    except (IndexError, ValueError):
        return None


def process_problem(run: UnitRun, pid: Any, systemd: Any, cache: dict[int, str | None] | None = None) -> str | None:
    """None when ``pid`` is the unit's main process or a descendant of it in the unit's cgroup, else why not."""
    try:
        number = int(pid)
    except (TypeError, ValueError):
        return f"the PID {pid!r} is not a number"
    if number == run.main_pid:
        return None
    if cache is not None and number in cache:
        return cache[number]
    problem = _descendant_problem(run, number, systemd)
    if cache is not None:
        cache[number] = problem
    return problem


def _descendant_problem(run: UnitRun, pid: int, systemd: Any) -> str | None:
    who = f"PID {pid}"
    cgroups = _read_proc(pid, "cgroup", systemd)
    if cgroups is None:
        return f"{who} no longer runs, so it cannot be shown to belong to {run.unit}"
    if run.cgroup and not any(line.endswith(":" + run.cgroup) for line in cgroups.splitlines()):
        return f"{who} is not in {run.unit}'s control group {run.cgroup}"
    current = pid
    for _ in range(MAX_ANCESTRY):
        parent = _parent(current, systemd)
        if parent is None or parent <= 1:
            break
        if parent == run.main_pid:
            return None
        current = parent
    return f"{who} is neither {run.unit}'s main process (PID {run.main_pid}) nor a child of it"


# --------------------------------------------------------------------------------------------- evidence


def _message_text(message: str) -> str:
    """The logged text: unwrapped from the engine's JSON forms (``msg`` or ``message``; see ``log_text``)."""
    return log_text(message)


def loader_state(text: str) -> str | None:
    """The version a loader line says is served (``none`` for no file), ``"?failed"``, or None (not one)."""
    found = _LOADED.search(text)
    if found:
        return found.group("version")
    if _NO_FILE.search(text):
        return NO_CALIBRATION
    if _FAILED.search(text):
        return "?failed"
    return None


def run_loader_lines(run: UnitRun, systemd: Any) -> list[tuple[int, str, str]]:
    """(pid, text, state) of every loader line the unit's current run wrote, oldest first (own PIDs only)."""
    argv = ["journalctl", "-u", run.unit, "-o", "json", "--no-pager", "-q"]
    argv += ["--since", f"@{int(run.started_at) - 2}"] if run.started_at else ["-n", "5000"]
    try:
        out = run_command(argv, systemd.command_prefix, systemd.command_timeout_s).stdout
    except ProbeError as error:
        raise ConfirmError(f"cannot read {run.unit}'s journal: {error}") from None
    cache: dict[int, str | None] = {}
    return loader_lines(run, out, lambda pid: process_problem(run, pid, systemd, cache))


def loader_lines(
    run: UnitRun, journal: bytes, owner_problem: Callable[[Any], str | None]
) -> list[tuple[int, str, str]]:
    """The loader lines of ``journalctl -o json`` output that the unit's current run wrote, oldest first.

    A line of an earlier run (another ``_SYSTEMD_INVOCATION_ID``; without one, logged before the run's
    monotonic start) or from a PID ``owner_problem`` rejects is not evidence; unreadable records are skipped.
    """
    lines: list[tuple[int, str, str]] = []
    for raw in journal.decode("utf-8", "replace").splitlines():
        try:
            record = parse_json(raw)
            text = _message_text(decode_message(record.get("MESSAGE")))
        except (ValueError, ProbeError, AttributeError):
            continue
        state = loader_state(text)
        if state is None:
            continue
        invocation = record.get("_SYSTEMD_INVOCATION_ID")
        if invocation is not None and invocation != run.invocation:
            continue  # an earlier run of the unit
        if invocation is None:
            with contextlib.suppress(TypeError, ValueError):
                if int(record.get("__MONOTONIC_TIMESTAMP")) < run.started_mono_us:
                    continue
        pid = record.get("_PID")
        if owner_problem(pid) is not None:
            continue
        lines.append((int(pid), text.strip(), state))
    return lines


def epoch_seconds(raw: Any) -> float:
    """An ISO-8601 instant as Unix seconds (a naive one is UTC); 0.0, "since ever", when it is not one."""
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _read_ack(marker: Path) -> dict[str, Any] | None:
    """The acknowledgement, read as hostile: a FIFO, a link to /dev/zero or a huge file is no acknowledgement
    (and never blocks approve while it holds the apply lock)."""
    from calpolicy.files.safe_read import read_bytes

    with contextlib.suppress(OSError, ValueError):
        raw = parse_json(read_bytes(marker, "marker"))
        if isinstance(raw, dict):
            return raw
    return None


def ack_evidence(marker: Path, run: UnitRun, version: str, since: float, systemd: Any) -> Evidence | None:
    """The hot-reload loader's acknowledgement, if one names ``version`` and comes from the engine's run."""
    ack = _read_ack(marker)
    if not ack or ack.get("version") != version:
        return None
    at = epoch_seconds(ack.get("at"))
    if at < since or (run.started_at is not None and at < run.started_at - 1):
        return None
    problem = process_problem(run, ack.get("pid"), systemd)
    if problem is not None:
        return Evidence(False, None, f"{marker.name} names {version}, but it is NOT the engine's: {problem}")
    how = f"the loader in {run.unit} (PID {ack.get('pid')}) acknowledged {version} at {ack.get('at')}"
    return Evidence(True, version, how)


def evidence(marker: Path, version: str, since: float, systemd: Any, run: UnitRun | None = None) -> Evidence:
    """Does the engine's current run serve ``version``? (``ConfirmError``: the unit cannot be seen.)"""
    run = run or unit_run(systemd)
    ack = ack_evidence(marker, run, version, since, systemd)
    if ack is not None and ack.confirmed:
        return ack
    return judge(run, version, run_loader_lines(run, systemd), ack.how if ack is not None else None)


def judge(run: UnitRun, version: str, lines: Sequence[tuple[int, str, str]], rejected: str | None) -> Evidence:
    """The verdict on the run's loader lines: its *latest* line says what it serves (``rejected``: why an
    acknowledgement naming ``version`` did not count, said alongside)."""
    if lines and lines[-1][2] == version:
        pid, text, _ = lines[-1]
        return Evidence(True, version, f"{run.unit}'s own log line, from PID {pid} of its current run: {text!r}")
    if lines:
        serves = lines[-1][2]
        shown = "a failed load (no calibration)" if serves == "?failed" else serves
        how = f"{run.describe()}: its latest loader line says it serves {shown}: {lines[-1][1]!r}"
    else:
        serves = None
        how = f"{run.describe()}: no loader line from its current run yet"
    if rejected:
        how = f"{how}; {rejected}"
    return Evidence(False, None if serves == "?failed" else serves, how)


# --------------------------------------------------------------------------------------------- confirm


def _poll(marker: Path, version: str, since: float, systemd: Any, timeout_s: float) -> tuple[Evidence, UnitRun | None]:
    deadline = time.monotonic() + timeout_s
    last = Evidence(False, None, "no answer yet")
    run = None
    while True:
        try:
            run = unit_run(systemd)
            last = evidence(marker, version, since, systemd, run)
        except ConfirmError as error:  # e.g. between the old process's end and the new one's start
            last = Evidence(False, None, str(error))
        if last.confirmed or time.monotonic() >= deadline:
            return last, run
        time.sleep(0.2)


def make_live_command(config_path: str | None) -> str:
    """The exact command that makes a written version live: ``calpolicy confirm --allow-restart``."""
    words = ["calpolicy"]
    if config_path:
        words += ["--config", str(config_path)]
    return shlex.join([*words, "confirm", "--allow-restart"])


def _restart_line(unit: str, before: UnitRun, after: UnitRun, cause: str) -> str:
    return f"{cause}: {unit} restarted (main PID {before.main_pid} → {after.main_pid}); that is the one restart allowed"


def confirm_live(
    config: Any,
    marker: Path,
    version: str,
    since: float,
    allow_restart: bool,
    note: Note,
    restart_done: bool = False,
) -> Confirmation:
    """Wait for the engine's evidence that it serves ``version``; at most one restart in all (P4.1.c).

    ``restart_done``: the one restart already happened for this change (``calpolicy confirm`` run again).
    """
    systemd = config.systemd
    unit = systemd.ai_engine_unit
    result = Confirmation(version)
    try:
        first = unit_run(systemd)
    except ConfirmError as error:
        result.could_not_check = True
        result.lines.append(f"NOT CONFIRMED: cannot see the AI engine unit: {error}")
        note("ack", acknowledged=False, reason=str(error))
        return result
    signal_sent = False
    if config.deploy.reload_signal == "SIGHUP":
        try:
            run_command(["systemctl", "kill", "-s", "HUP", unit], systemd.command_prefix, systemd.command_timeout_s)
            signal_sent = True
            result.lines.append(f"sent SIGHUP to {unit} (deploy.reload_signal)")
        except ProbeError as error:
            result.lines.append(f"could not send the reload signal: {error}")
    seen, run = _poll(marker, version, since, systemd, config.deploy.ack_timeout_s)
    if run is not None and run.invocation != first.invocation:
        # the engine ended while we waited: the reload signal killed it (SIGHUP under uvicorn) or it crashed;
        # Restart=always brought it back. That IS the one restart: never add another.
        cause = "the reload signal SIGHUP ended the engine" if signal_sent else "the engine restarted during the wait"
        note("ack", acknowledged=False, reason=f"{cause} before any acknowledgement")
        note("restart", unit=unit, cause="reload_signal" if signal_sent else "observed", main_pid_before=first.main_pid,
             main_pid_after=run.main_pid)  # fmt: skip
        result.restarted = True
        result.lines.append(_restart_line(unit, first, run, cause))
        if not seen.confirmed:
            seen, run = _poll(marker, version, since, systemd, config.deploy.restart_wait_s)
        return _finish(result, seen, note, after_restart=True)
    if seen.confirmed:
        return _finish(result, seen, note, after_restart=False)
    note("ack", acknowledged=False, reason=seen.how)
    result.lines.append(f"NOT LIVE YET: {seen.how}")
    if not allow_restart or restart_done:
        result.needs_restart = not restart_done
        if restart_done:
            result.lines.append("the one restart the checklist allows (P4.1.c) was already done for this change")
        return result
    note("restart", unit=unit, cause="allow_restart", reason=f"no evidence within {config.deploy.ack_timeout_s:g} s",
         main_pid_before=first.main_pid)  # fmt: skip
    result.restarted = True
    try:
        run_command(["systemctl", "restart", unit], systemd.command_prefix, config.deploy.restart_wait_s)
    except ProbeError as error:
        result.lines.append(f"the one allowed restart of {unit} failed: {error}")
        note("ack", acknowledged=False, after_restart=True, reason=str(error))
        return result
    seen, run = _poll(marker, version, since, systemd, config.deploy.restart_wait_s)
    if run is not None:
        result.lines.append(_restart_line(unit, first, run, "--allow-restart"))
    return _finish(result, seen, note, after_restart=True)


def _finish(result: Confirmation, seen: Evidence, note: Note, after_restart: bool) -> Confirmation:
    result.live = seen.confirmed
    note("ack", acknowledged=seen.confirmed, after_restart=after_restart, evidence=seen.how)
    if seen.confirmed:
        result.lines.append(f"LIVE: {seen.how}")
    else:
        result.lines.append(f"still NOT LIVE after the restart: {seen.how}; no further restart")
    return result


def served_problem(config: Any, version: str | None) -> tuple[str, str] | None:
    """For watch and status: None when the engine's current run serves ``version``; else (kind, reason).

    kind is ``"not-live"`` (the engine serves something else) or ``"unknown"`` (the unit cannot be seen).
    """
    marker = Path(config.paths.calibration_file).parent / ".calpolicy_loaded"
    wanted = version or NO_CALIBRATION
    try:
        seen = evidence(marker, wanted, 0.0, config.systemd)
    except ConfirmError as error:
        return "unknown", f"cannot tell which version the AI engine serves: {error}"
    if seen.confirmed:
        return None
    return "not-live", f"the AI engine does not serve {wanted}: {seen.how}"


def headline(done: str, version: str, result: Confirmation | None, marker: Path, config_path: str | None) -> str:
    """approve's / rollback's first line: ``done`` ("APPLIED", "ROLLED BACK") when the engine serves it."""
    if result is not None and result.live:
        return f"{done} — version {version} is live"
    if result is not None and result.needs_restart:
        why = (
            "this engine has no hot reload"
            if not marker.exists()
            else f"its loader did not acknowledge it ({marker.name} is not from the engine or names another version)"
        )
        return f"written, NOT LIVE — version {version}: {why}; to make it live: {make_live_command(config_path)}"
    prefix = "NOT CONFIRMED" if done == "CONFIRMED" else f"{done}, NOT CONFIRMED"
    return f"{prefix} — version {version} is written, but the engine was not shown to serve it"
