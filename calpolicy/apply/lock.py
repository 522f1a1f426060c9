"""The one exclusive lock that approve and rollback take before touching the live config.

It is an ``flock`` on ``.calpolicy.lock`` beside ``calibration.json``: the kernel drops it when the holder
dies, even by SIGKILL, so a lock can never be left stale by a dead process. The file also carries who
holds it, since when and which PID, so a second operator gets "locked by alice since … (PID 4242)"
instead of a hang; when the previous holder died without cleaning up, the next taker says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.files.pids import pid_alive
from calpolicy.files.safe_read import open_for_update, open_regular
from calpolicy.files.strict_json import parse_json

LOCK_NAME = ".calpolicy.lock"


class LockedError(RuntimeError):
    """Another approve or rollback holds the lock; the message names the holder."""


def describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "another calpolicy process (holder details not written yet)"
    info = {key: str(value)[:200] for key, value in info.items()}  # a hostile lock file cannot flood the message
    return (
        f"{info.get('who', '?')} running `{info.get('command', '?')}` since {info.get('since', '?')} "
        f"(PID {info.get('pid', '?')} on {info.get('host', '?')})"
    )


class ApplyLock:
    """``with ApplyLock(folder, who, command):`` — raises ``LockedError`` at once when held elsewhere."""

    def __init__(self, folder: Path, who: str, command: str) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.who = who
        self.command = command
        self.fd: int | None = None
        self.stale: dict[str, Any] | None = None

    def __enter__(self) -> ApplyLock:
        fd = open_for_update(self.path)  # a symlink or FIFO in the lock's place is refused, never followed
        try:
            holder = _take_or_name_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        if holder is not None:
            os.close(fd)
            raise LockedError(f"the live calibration is locked by {describe_holder(holder)}; try again when it is done")
        previous = _read(fd)
        if previous and previous.get("pid") and not pid_alive(previous["pid"]):
            self.stale = previous  # its holder died mid-command; the kernel already released the flock
        info = {
            "who": self.who,
            "command": self.command,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        except OSError:
            pass  # a full disk: the lock holds all the same, only its holder details are missing
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def _take_or_name_holder(fd: int, patience_s: float = 1.0) -> dict[str, Any] | None:
    """Take the flock (None), or return its holder's details.

    A holder that took the flock a moment ago may not have written its details yet, and one that is just
    finishing clears them before it lets go: while the details are empty, keep trying to take the lock.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            holder = _read(fd)
            if holder or time.monotonic() >= deadline:
                return holder or {}
        time.sleep(0.02)


def _read(fd: int) -> dict[str, Any] | None:
    try:
        raw = os.pread(fd, 4096, 0)
        value = parse_json(raw) if raw.strip() else None
    except (OSError, ValueError):  # a holder record nested 4096 deep is no holder record
        return None
    return value if isinstance(value, dict) else None


def read_holder(folder: Path) -> dict[str, Any] | None:
    """Who holds (or last held, if it died) the lock; None when free and clean."""
    try:
        with open_regular(Path(folder) / LOCK_NAME, "lock") as fd:
            return _read(fd)
    except OSError:
        return None
