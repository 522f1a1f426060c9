"""Run a task (the calibration) in a child process that cannot write, read, connect or spawn (checklist 1).

The child installs a Python audit hook (``sys.addaudithook``) before it touches any data. From then on:

- opening a file for writing, or removing/renaming/creating anything, outside the job's temp folder;
- reading any file other than the CLM log and the Python installation (interpreter, site-packages and
  calpolicy's own code);
- ``socket.connect``/``bind``/``sendto`` (no live market data, no Redis);
- ``subprocess``, ``os.system``, ``os.exec*``, ``os.posix_spawn``, ``os.fork``, ``os.kill`` (no restart,
  no deploy), and loading or calling C code through ``ctypes``

end the run at once: the hook writes a finding naming the operation and the path or address to the
result pipe and exits the child with ``EXIT_VIOLATION``, so no ``except`` in the task can swallow it.
An audit hook cannot be removed once added, and there is deliberately no environment variable, config
key or argument that skips it.

As root the child also runs in a fresh network namespace (``unshare --net``: only a downed loopback),
which stops connections made from C code too. What audit hooks cannot stop is listed in
docs/lockdown.md: C extensions that call the OS directly (their file writes and reads raise no audit
event), and file descriptors inherited from the parent (only the result pipe is passed on). The
protected-path digests taken before and after the run (``calpolicy.protected``) are the independent
check behind both.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_VIOLATION = 86
EXIT_TASK_ERROR = 87
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# events whose first argument(s) are paths that get changed
_CHANGE_EVENTS = {
    "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.truncate": 1,
    "os.utime": 1, "os.chflags": 1, "os.lchflags": 1, "os.mkfifo": 1, "os.mknod": 1,
    "os.rename": 2, "os.link": 2, "os.symlink": 2, "shutil.rmtree": 1, "shutil.move": 2,
    "shutil.copyfile": 2, "shutil.copymode": 2, "shutil.copystat": 2, "shutil.chown": 1,
    "os.setxattr": 1, "os.removexattr": 1,
}  # fmt: skip
_READ_EVENTS = ("os.listdir", "os.scandir", "glob.glob", "os.listxattr", "os.getxattr")
_NET_EVENTS = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg")
_PROCESS_EVENTS = (
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "signal.pthread_kill", "os.startfile", "pty.spawn", "os.pidfd_open",
)  # fmt: skip
_CTYPES_EVENTS = ("ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "ctypes.addressof")


class SandboxError(Exception):
    """The sandbox could not run the task (start-up failure, timeout, no result)."""


# ============================================================================================ the guard


class Guard:
    """The audit hook's decisions, as a plain object so its rules can be read and tested in one place."""

    def __init__(
        self, write_root: Path, read_files: list[Path], read_roots: list[Path], result_fd: int | None
    ) -> None:
        self.write_root = _real(write_root)
        self.read_files = {_real(p) for p in read_files}
        self.read_roots = [_real(p) for p in read_roots] + [self.write_root]
        self.result_fd = result_fd
        self.violation: dict[str, str] | None = None
        self._busy = False

    # ---------------------------------------------------------------------------------- decisions

    def check(self, event: str, args: tuple[Any, ...]) -> tuple[str, str] | None:
        """``(operation, target)`` when ``event`` is forbidden, else None."""
        if event == "open":
            return self._check_open(args)
        if event in _CHANGE_EVENTS:
            for raw in args[: _CHANGE_EVENTS[event]]:
                if isinstance(raw, int) or raw is None:
                    continue
                if not self._may_write(raw):
                    return (event, _show(raw))
            return None
        if event in _READ_EVENTS:
            raw = args[0] if args else "."
            if isinstance(raw, (str, bytes, os.PathLike)) and not self._may_read(raw):
                return (event, _show(raw))
            return None
        if event in _NET_EVENTS:
            address = args[1] if len(args) > 1 else None
            return (event, _address(address))
        if event in _PROCESS_EVENTS:
            return (event, _show(args[0] if args else ""))
        if event in _CTYPES_EVENTS:
            return (event, _show(args[0] if args else ""))
        return None

    def _check_open(self, args: tuple[Any, ...]) -> tuple[str, str] | None:
        path = args[0] if args else None
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if path is None or isinstance(path, int):  # an fd that an audited open produced
            return None
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writes:
            return None if self._may_write(path) else ("open for writing", _show(path))
        return None if self._may_read(path) else ("open for reading", _show(path))

    def _may_write(self, raw: Any) -> bool:
        text = os.fsdecode(raw)
        if not os.path.isabs(text):  # relative to an unknown dir_fd: refuse rather than guess
            return False
        return _within(_real(text), self.write_root)

    def _may_read(self, raw: Any) -> bool:
        real = _real(os.fsdecode(raw))
        return real in self.read_files or any(_within(real, root) for root in self.read_roots)

    # ---------------------------------------------------------------------------------- the hook

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self._busy:  # the hook's own path resolution raises events: never judge those
            return
        self._busy = True
        try:
            refused = self.check(event, args)
        finally:
            self._busy = False
        if refused is not None:
            self.refuse(*refused)

    def refuse(self, operation: str, target: str) -> None:
        """Record the attempt, report it, and end the child now — no ``except`` can continue the run."""
        self.violation = {"operation": operation, "target": target}
        if self.result_fd is not None:
            _send(self.result_fd, {"violation": self.violation})
            os._exit(EXIT_VIOLATION)
        raise PermissionError(f"calpolicy lockdown: {operation} {target} is not allowed")


def _real(path: Any) -> Path:
    return Path(os.path.realpath(os.fsdecode(path)))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_show(v) for v in value)
    try:
        return os.fsdecode(value) if isinstance(value, (str, bytes, os.PathLike)) else str(value)
    except TypeError:
        return repr(value)


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return _show(address)


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message, default=str) + "\n").encode()
    while data:
        written = os.write(fd, data)
        data = data[written:]


def install_roots() -> list[Path]:
    """The Python installation: the standard library, site-packages, the import path, calpolicy's own code.

    Not the whole interpreter prefix: for a system Python that would be all of ``/usr``.
    """
    import sysconfig

    import calpolicy
    import policy_tests

    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots |= {entry for entry in sys.path if entry}  # the import path, also entries that do not exist
    roots |= {str(Path(calpolicy.__file__).parent), str(Path(policy_tests.__file__).parent)}
    return [Path(r) for r in sorted(roots)]


# ============================================================================================ the child


def describe(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """A harmless task that reports what the child sees: its network namespace and interfaces."""
    import socket

    return {
        "netns": os.stat("/proc/self/ns/net").st_ino,
        "interfaces": [name for _, name in socket.if_nameindex()],
        "pid": os.getpid(),
    }



def _child_main() -> int:
    started = time.time()
    result_fd = int(sys.argv[sys.argv.index("--result-fd") + 1])
    spec = json.loads(sys.stdin.read())
    module_name, _, function_name = spec["task"].partition(":")
    task = getattr(importlib.import_module(module_name), function_name)  # code, not data: read before the hook
    workdir = Path(spec["workdir"])
    guard = Guard(workdir, [Path(p) for p in spec["read_files"]], [*install_roots()], result_fd)
    sys.addaudithook(guard)
    hooked = time.time()
    try:
        value = task(spec.get("args", {}), workdir)
    except Exception as error:  # the task failed (bad input, no space): reported, never a pass
        _send(result_fd, {"error": f"{type(error).__name__}: {error}", "started_at": started, "hooked_at": hooked})
        return EXIT_TASK_ERROR
    if guard.violation is not None:
        return EXIT_VIOLATION
    _send(result_fd, {"result": value, "started_at": started, "hooked_at": hooked, "finished_at": time.time()})
    return 0


# ============================================================================================ the parent


@dataclass(frozen=True)
class SandboxResult:
    """What came back: a result, a lockdown violation, or an error — and how the child was guarded."""

    result: dict[str, Any] | None
    violation: dict[str, str] | None
    error: str | None
    os_guard: str
    returncode: int | None
    spawned_at: float
    started_at: float | None = None
    hooked_at: float | None = None
    finished_at: float | None = None
    stderr_tail: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.violation is None and self.error is None

    @property
    def startup_s(self) -> float | None:
        """Spawn until the hook was in place and the task began (interpreter + imports)."""
        return None if self.hooked_at is None else self.hooked_at - self.spawned_at


@functools.cache
def os_guard() -> tuple[list[str], str]:
    """The OS-level guard this machine allows: ``unshare --net`` as root, else none (and why)."""
    if os.geteuid() != 0:
        return [], "none: not root, so no private network namespace (audit hooks only)"
    unshare = shutil.which("unshare")
    if unshare is None:
        return [], "none: unshare(1) is not installed (audit hooks only)"
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return [], f"none: unshare --net failed here ({probe.stderr.strip()}) (audit hooks only)"
    return [unshare, "--net", "--"], "private network namespace (unshare --net): only a downed loopback"


def run_sandboxed(
    task: str,
    workdir: Path,
    read_files: list[Path],
    args: dict[str, Any] | None = None,
    timeout_s: float = 600.0,
) -> SandboxResult:
    """Run ``module:function(args, workdir)`` in a guarded child; it may write only inside ``workdir``.

    ``read_files`` are the only data files the task may read (for the calibration: the CLM log).
    """
    prefix, guard_note = os_guard()
    read_end, write_end = os.pipe()
    spec = {"task": task, "workdir": str(workdir), "read_files": [str(p) for p in read_files], "args": args or {}}
    argv = [*prefix, sys.executable, "-I", "-m", "calpolicy.sandbox", "--result-fd", str(write_end)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TMPDIR": str(workdir)}
    spawned = time.time()
    try:
        child = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(write_end,),
            cwd=workdir, env=env, close_fds=True,
        )  # fmt: skip
    except OSError as error:
        os.close(read_end)
        os.close(write_end)
        raise SandboxError(f"cannot start the sandbox: {error}") from None
    os.close(write_end)
    try:
        _, stderr = child.communicate(json.dumps(spec).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        os.close(read_end)
        raise SandboxError(f"the sandboxed task did not finish within {timeout_s:g} s and was stopped") from None
    with os.fdopen(read_end, "rb") as pipe:
        lines = [ln for ln in pipe.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    message: dict[str, Any] = {}
    with contextlib.suppress(json.JSONDecodeError, IndexError):
        message = json.loads(lines[-1])
    tail = "\n".join(stderr.decode("utf-8", "replace").strip().splitlines()[-8:])
    error = message.get("error")
    if not message:
        error = f"the sandbox ended without a result (exit {child.returncode}): {tail or 'no output'}"
    return SandboxResult(
        result=message.get("result"),
        violation=message.get("violation"),
        error=error,
        os_guard=guard_note,
        returncode=child.returncode,
        spawned_at=spawned,
        started_at=message.get("started_at"),
        hooked_at=message.get("hooked_at"),
        finished_at=message.get("finished_at"),
        stderr_tail=tail,
    )


if __name__ == "__main__":
    sys.exit(_child_main())
