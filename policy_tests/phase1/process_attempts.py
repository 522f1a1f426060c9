"""Starting a process from inside the sandbox, every way there is, and the threads a calibration needs.

Sandbox tasks (``module:function(args, workdir)``) for ``unit_tests/test_sandbox_nofork.py``. The seccomp
filter lets the child make threads only (``calpolicy/lockdown/seccomp.py``): each route below that would
start a process reports what the kernel answered, and a process that did start leaves a marker file
``started-<route>`` in the job folder, so the test sees it even if the report lies. ``threads`` is the
control: threads, numpy's OpenBLAS threads and a thread pool must still work.

numpy is imported here, before the sandbox's audit hook, as the calibration imports it: OpenBLAS starts
its threads as it loads, so this import already needs ``clone`` for threads under the filter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from policy_tests.phase1.attempts import _fork_exec, _try, _wait, disarm

SIGCHLD = 17
CLONE_VM, CLONE_VFORK = 0x100, 0x4000
SYSCALLS = {"x86_64": {"clone": 56, "fork": 57, "clone3": 435}, "aarch64": {"clone": 220, "clone3": 435}}
_CLONE_ARGS = ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls")
_MARK = "import sys\nopen(sys.argv[1], 'w').write('started')\n"


def _marker(workdir: Path, route: str) -> str:
    return str(workdir / f"started-{route}")


def _in_the_new_process(marker: str) -> None:
    """What a raw clone's child runs, in Python, with no help from ``os.fork``: mark, and leave at once."""
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"started")
    os._exit(0)


def _reaped(pid: int) -> str:
    return f"started pid {pid}, exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}"


def _os_fork(marker: str) -> str:
    pid = os.fork()
    if pid == 0:
        _in_the_new_process(marker)
    return _reaped(pid)


def _posix_spawn(marker: str) -> str:
    return _reaped(os.posix_spawn(sys.executable, [sys.executable, "-c", _MARK, marker], {}))


def start_processes(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Every Python-level way to start a process: ``os.fork``, ``subprocess``, ``os.posix_spawn``, the raw
    ``_posixsubprocess.fork_exec`` (no audit event; tried first). ``disarm`` turns the hook off first; with
    it on, the hook ends the task at the first route it sees (``os.fork``)."""
    if args.get("disarm"):
        disarm()
    python = sys.executable
    report: dict[str, Any] = {
        "fork_exec": _try(lambda: _wait(_fork_exec([python, "-c", _MARK, _marker(workdir, "fork_exec")]))),
        "os_fork": _try(lambda: _os_fork(_marker(workdir, "os_fork"))),
        "subprocess": _try(
            lambda: subprocess.run([python, "-c", _MARK, _marker(workdir, "subprocess")], check=True).returncode
        ),
        "posix_spawn": _try(lambda: _posix_spawn(_marker(workdir, "posix_spawn"))),
    }
    report["went_through"] = any(v.startswith("ok") for v in report.values())
    return report


def raw_process_calls(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """With the hook off: the system calls themselves through ``ctypes``, past every library — ``clone``
    with fork's flags (and with vfork's, on its own stack), ``fork`` (x86_64 only; arm64 has none) and
    ``clone3`` with a fork's arguments. A ``clone`` that is a thread must still go through (the control)."""
    disarm()
    import ctypes  # after: the hook refuses ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    numbers = SYSCALLS[os.uname().machine]

    def raw(route: str, nr: int, *call_args: Any) -> str:
        marker = _marker(workdir, route)
        pid = libc.syscall(ctypes.c_long(nr), *call_args)
        if pid == 0:  # the new process, if the kernel made one
            _in_the_new_process(marker)
        if pid == -1:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return _reaped(pid)

    long = ctypes.c_long
    report: dict[str, Any] = {
        "clone_as_fork": _try(lambda: raw("clone_as_fork", numbers["clone"], long(SIGCHLD), long(0), long(0), long(0),
                                          long(0))),
    }  # fmt: skip
    if "fork" in numbers:
        report["fork"] = _try(lambda: raw("fork", numbers["fork"]))

    class CloneArgs(ctypes.Structure):  # struct clone_args, CLONE_ARGS_SIZE_VER0 (64 bytes)
        _fields_ = [(name, ctypes.c_uint64) for name in _CLONE_ARGS]

    clone_args = CloneArgs(exit_signal=SIGCHLD)
    report["clone3_as_fork"] = _try(
        lambda: raw("clone3_as_fork", numbers["clone3"], ctypes.byref(clone_args), ctypes.c_size_t(64))
    )
    report["went_through"] = any(v.startswith("ok") for v in report.values())
    report["errno"] = {route: _errno_of(v) for route, v in report.items() if route != "went_through"}
    return report


def _errno_of(outcome: Any) -> str:
    """``EPERM`` / ``ENOSYS`` / … from a ``refused OSError: [Errno N] …`` line (what the kernel said)."""
    import errno
    import re

    found = re.search(r"\[Errno (\d+)\]", str(outcome))
    return errno.errorcode.get(int(found.group(1)), found.group(1)) if found else str(outcome)[:40]


def many_processes_quietly(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """A bounded fork bomb with the hook off: how many of ``n`` processes the kernel let it start."""
    disarm()
    started, error = 0, ""
    for _ in range(int(args["n"])):
        try:
            pid = os.fork()
        except OSError as failure:
            error = f"{type(failure).__name__}: {failure}"
            break
        if pid == 0:
            _in_the_new_process(_marker(workdir, f"bomb-{os.getpid()}"))
        started += 1
        os.waitpid(pid, 0)
    return {"went_through": started > 0, "started": started, "error": error}


def _thread_count() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError("no Threads: line in /proc/self/status")


def threads(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The control: ``n`` Python threads held alive together, a thread pool, and a matrix product large
    enough for OpenBLAS to use its threads. Reports how many threads the process had at each point."""
    n = int(args.get("n", 32))
    at_start = _thread_count()
    barrier = threading.Barrier(n + 1)
    seen: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        with lock:
            seen.append(i * i)
        barrier.wait(timeout=60)  # all n alive at once, with this one
        barrier.wait(timeout=60)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=60)
    while_alive = _thread_count()
    barrier.wait(timeout=60)
    for worker in workers:
        worker.join(timeout=60)
    with ThreadPoolExecutor(max_workers=4) as pool:
        pooled = sum(pool.map(lambda x: x + 1, range(100)))
    size = int(args.get("size", 512))
    product = np.ones((size, size)) @ np.ones((size, size))
    return {
        "went_through": False,
        "threads_at_start": at_start,
        "threads_while_alive": while_alive,
        "sum_of_squares": sum(seen),
        "pooled": pooled,
        "matmul_ok": bool((product == size).all()),
    }


def many_threads(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """A bounded thread bomb with the hook off: start up to ``n`` threads that wait, count how many the
    kernel let start (optionally under ``RLIMIT_NPROC`` = ``nproc``), then let them all end."""
    import resource

    disarm()
    if args.get("nproc") is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(args["nproc"]), int(args["nproc"])))
    release = threading.Event()
    workers: list[threading.Thread] = []
    error = ""
    for _ in range(int(args["n"])):
        worker = threading.Thread(target=release.wait, args=(60,), daemon=True)
        try:
            worker.start()
        except RuntimeError as failure:  # "can't start new thread": what a refused clone becomes
            error = f"{type(failure).__name__}: {failure}"
            break
        workers.append(worker)
    alive = _thread_count()
    release.set()
    for worker in workers:
        worker.join(timeout=60)
    return {"went_through": False, "started": len(workers), "threads_alive": alive, "error": error}
