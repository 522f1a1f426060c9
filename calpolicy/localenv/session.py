"""``calpolicy localenv up|down DIR``: the demo's environment, kept up to practise the operator's flow by hand.

``up`` builds what ``calpolicy demo`` builds (a generated trade log, a real ``redis-server`` and readiness
API on loopback, systemd booted in a private namespace with the AI-engine stand-in serving a calibration),
writes ``DIR/calpolicy.toml`` for it, prints the ``--config`` to use and stays in the foreground until
Ctrl-C, SIGTERM or ``down``. ``down`` finds the ``up`` process through ``DIR/localenv.pid`` and stops it.

The pid file records the process's start time as well as its PID, so a PID the kernel has since given to
another process is never signalled: the file is then stale, and ``down`` says so and removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calpolicy.files.atomic_io import write_atomic
from calpolicy.files.strict_json import parse_json

PID_FILE = "localenv.pid"
CONFIG_FILE = "calpolicy.toml"
DEFAULT_TRADES = 1100  # as the demo: enough trades for `calpolicy run` to decide (P2.2)
DOWN_TIMEOUT_S = 120.0  # the namespace and its units are stopped in a few seconds; a loaded host is slower
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class LocalenvError(Exception):
    """Why ``up`` or ``down`` cannot do what was asked (one line for the operator)."""


# ------------------------------------------------------------------------------------------- pid file


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22); None if it is gone
    or a zombie (it has exited; its parent has not yet collected its status)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def read_pid_file(root: Path) -> dict[str, Any] | None:
    """The pid file's record, or None when there is none; an unreadable one is an error (fail closed)."""
    path = root / PID_FILE
    try:
        record = parse_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LocalenvError(f"{path} is unreadable ({error}); remove it if no `localenv up` runs there") from None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        raise LocalenvError(f"{path} is not a localenv pid file; remove it if no `localenv up` runs there")
    return record


def is_running(record: dict[str, Any]) -> bool:
    """The recorded process still exists and is the same process (same start time), not a reused PID."""
    return _start_ticks(int(record["pid"])) == record.get("start_ticks")


def _write_pid_file(root: Path, config: Path) -> None:
    record = {"pid": os.getpid(), "start_ticks": _start_ticks(os.getpid()), "config": str(config)}
    write_atomic(root / PID_FILE, (json.dumps(record) + "\n").encode("utf-8"))


# ------------------------------------------------------------------------------------------------- up


def up(root: Path, n_trades: int = DEFAULT_TRADES, out: Callable[[str], None] | None = None) -> int:
    """Bring the environment up in ``root``, say how to use it, and hold it until told to stop."""
    from calpolicy.localenv.demo_flow import ENGINE, ENGINE_TICK_S, EXISTING, EXISTING_CALIBRATION
    from calpolicy.localenv.environment import LocalEnvironment
    from calpolicy.localenv.systemd_ns import _hidden, unavailable_reason

    say = out or (lambda line: print(line, flush=True))
    root = Path(root).resolve()
    if _hidden(str(root)) and unavailable_reason() is None:
        raise LocalenvError(
            f"{root} is under /tmp or /var/tmp, which the environment's systemd namespace replaces with an empty "
            "tmpfs (its AI-engine unit could not read the live calibration.json): choose a folder elsewhere"
        )
    root.mkdir(parents=True, exist_ok=True)
    running = read_pid_file(root)
    if running is not None and is_running(running):
        raise LocalenvError(f"already up in {root} (pid {running['pid']}): `calpolicy localenv down {root}` first")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        with LocalEnvironment(root, n_trades=n_trades) as env:
            config = env.write_config(root / CONFIG_FILE, overrides={"deploy.ack_timeout_s": 10.0})
            engine = "NO systemd: " + (env.systemd_note or "unit checks cannot run")
            if env.systemd is not None:
                from calpolicy.loader import wait_for_version

                live_file = env.live_dir / "config" / "calibration.json"
                live_file.write_text(json.dumps(EXISTING_CALIBRATION, indent=2) + "\n", encoding="utf-8")
                argv = [sys.executable, "-u", "-m", "calpolicy.localenv.ai_engine", str(live_file)]
                env.systemd.start_unit(ENGINE, [*argv, "--tick", str(ENGINE_TICK_S), "--decisions"])
                served = wait_for_version(live_file.parent / ".calpolicy_loaded", EXISTING, 20) is not None
                engine = f"systemd namespace PID {env.systemd.pid}, {ENGINE} " + (
                    f"serving {EXISTING}" if served else "NOT serving its calibration (see its journal)"
                )
            _write_pid_file(root, config)
            say(f"localenv: UP in {root} (redis {env.redis.url}, readiness {env.readiness.url}, {engine})")
            say(f"localenv: use --config {config}")
            say(f"  e.g. calpolicy --config {config} preflight --operator \"$USER\" "
                "--on-call-until \"$(date -u -d '+25 hours' +%Y-%m-%dT%H:%MZ)\"")  # fmt: skip
            say(f"localenv: stays up until Ctrl-C, SIGTERM or `calpolicy localenv down {root}`")
            while not stop.wait(0.5):
                pass
            say("localenv: stopping the engine unit, systemd namespace, readiness API and redis-server …")
    finally:
        with contextlib.suppress(FileNotFoundError):
            record = read_pid_file(root)
            if record is not None and record.get("pid") == os.getpid():
                (root / PID_FILE).unlink()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say(f"localenv: DOWN — nothing of it runs any more; the files stay in {root}")
    return 0


# ----------------------------------------------------------------------------------------------- down


def down(root: Path, timeout_s: float = DOWN_TIMEOUT_S) -> str:
    """Stop the ``up`` process of ``root`` and wait for it to finish; what happened, in one line.

    Idempotent: nothing up (no pid file) or already gone (a stale pid file, then removed) is not an error.
    """
    root = Path(root).resolve()
    record = read_pid_file(root)
    if record is None:
        return f"localenv: nothing is up in {root} (no {PID_FILE}): nothing to stop"
    pid = int(record["pid"])
    if not is_running(record):
        (root / PID_FILE).unlink(missing_ok=True)
        return f"localenv: the environment in {root} was already down (pid {pid} is gone); removed its stale {PID_FILE}"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while is_running(record):
        if time.monotonic() > deadline:
            raise LocalenvError(f"pid {pid} did not stop within {timeout_s:g} s of SIGTERM; it is still running")
        time.sleep(0.1)
    return f"localenv: DOWN — stopped the environment in {root} (pid {pid})"
