"""Whether the process a lock or a claim file names is still alive.

Why here: the job store (a claimed job folder) and the apply lock (``.calpolicy.lock``) both record their
owner's PID in a file anyone may have edited, and both must tell a dead owner from a live one the same way;
the job store sits below apply, so the one rule lives beside the other file rules.
"""

from __future__ import annotations

import os


def as_pid(raw: object) -> int | None:
    """A recorded PID as a number the kernel could have given, or None (text, a float, huge, negative)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        return None
    try:
        pid = int(raw)
    except ValueError:
        return None
    return pid if 0 < pid < 1 << 22 else None  # Linux's pid_max is at most 2**22


def pid_alive(pid: object) -> bool:
    """True while a process with that PID exists (one we may not signal counts as alive: fail closed)."""
    number = as_pid(pid)
    if number is None:
        return False
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
