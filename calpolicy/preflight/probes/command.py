"""Running a host command through the configured prefix (``sudo``, ``ssh HOST``, ``nsenter -t PID -a``).

The probes never call ``subprocess`` directly so that every one of them fails the same way: a missing
binary, a timeout or a non-zero exit becomes a ``ProbeError`` naming the full command line, which is what
an operator needs to reproduce the problem by hand.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass


class ProbeError(RuntimeError):
    """A probe could not answer; the preflight reports it as "could not check" (a STOP)."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def shown(self) -> str:
        return shlex.join(self.argv)


def run_command(
    argv: Sequence[str], prefix: Sequence[str] = (), timeout_s: float = 15.0, ok_codes: Sequence[int] = (0,)
) -> CommandResult:
    """Run ``prefix + argv``; anything but an exit code in ``ok_codes`` raises ``ProbeError``."""
    full = (*prefix, *argv)
    shown = shlex.join(full)
    try:
        done = subprocess.run(full, capture_output=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ProbeError(f"`{full[0]}` is not installed or not on PATH (running: {shown})") from None
    except PermissionError:
        raise ProbeError(f"permission denied running `{full[0]}` (running: {shown})") from None
    except subprocess.TimeoutExpired:
        raise ProbeError(f"`{shown}` did not finish within {timeout_s:g} s") from None
    stderr = done.stderr.decode("utf-8", "replace").strip()
    result = CommandResult(full, done.returncode, done.stdout, stderr)
    if done.returncode not in ok_codes:
        detail = stderr.splitlines()[-1] if stderr else "no error output"
        raise ProbeError(f"`{shown}` exited with status {done.returncode}: {detail}")
    return result
