"""Forbidden operations, each attempted inside the real sandbox by ``test_lockdown.py``.

Every function here is a sandbox task (``module:function(args, workdir)``). Each one tries something the
calibration must never do; if the lockdown works the sandbox ends the task at the attempt, and the test
sees the refusal. Reaching a ``return`` means the forbidden operation went through. The tasks try to
swallow the refusal (``except BaseException``) to show that catching it does not let a run continue.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

WENT_THROUGH = {"went_through": True}


def _swallowing(call: Any) -> dict[str, Any]:
    with contextlib.suppress(BaseException):
        call()
    return WENT_THROUGH


def write_file(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """open(target, mode) and write — a model weight file, an ensemble weight file, a config."""

    def attempt() -> None:
        with open(args["target"], args.get("mode", "wb")) as handle:
            handle.write(b"changed by the calibration")

    return _swallowing(attempt)


def os_open_write(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: os.close(os.open(args["target"], os.O_WRONLY | os.O_TRUNC)))


def replace_file(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Swap a prepared file in over the target: the classic atomic config update, from the job folder."""
    staged = workdir / "staged.json"
    staged.write_text('{"changed": true}', encoding="utf-8")  # allowed: inside the job's folder
    return _swallowing(lambda: os.replace(staged, args["target"]))


def remove_file(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: os.remove(args["target"]))


def make_dir(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: os.mkdir(args["target"]))


def load_c_library(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """ctypes would reach libc's write() without any audit event: loading it is refused."""
    import ctypes

    return _swallowing(lambda: ctypes.CDLL(None))


def read_file(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: Path(args["target"]).read_bytes())


def list_dir(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: os.listdir(args["target"]))


def read_clm(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The allowed read (the control case): the CLM log, and nothing else."""
    data = Path(args["target"]).read_bytes()
    return {"went_through": False, "clm_lines": data.count(b"\n")}


def connect_tcp(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """A live market-data feed or any service: a TCP connection to host:port."""
    return _swallowing(lambda: socket.create_connection((args["host"], int(args["port"])), timeout=2).close())


def consume_redis_stream(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Read a Redis stream the way a consumer would (XREAD on the configured URL)."""
    import redis

    def attempt() -> None:
        client = redis.Redis.from_url(args["url"], socket_connect_timeout=2)
        client.xread({args["stream"]: "0"}, count=1)

    return _swallowing(attempt)


def restart_service(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: subprocess.run(["systemctl", "restart", args["unit"]], check=False, timeout=5))


def shell_command(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: os.system(f"systemctl restart {args['unit']}"))


def fork_process(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    def attempt() -> None:
        if os.fork() == 0:
            os._exit(0)

    return _swallowing(attempt)


def kill_process(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _swallowing(lambda: os.kill(int(args["pid"]), signal.SIGTERM))


def touch(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The allowed write (a control case): a file inside the job folder."""
    (workdir / args["name"]).write_text("written inside the job\n", encoding="utf-8")
    return {"went_through": False}


# ------------------------------------------------------------------------------ going around the hook
#
# The tasks below are the reported bypasses of the audit hook. Each tries every route and reports what
# each route did, instead of stopping at the first refusal, so a test can see that *every* one failed.
# ``disarm`` first turns the hook off from inside, as hostile code can: then only the kernel stands in
# the way. A route's result is "ok ..." when it went through, else the error the kernel (or hook) gave.


def disarm() -> int:
    """Turn the audit hook off from inside: find the Guard through ``gc`` and set its ``_busy`` flag."""
    import gc

    guards = [obj for obj in gc.get_objects() if type(obj).__name__ == "Guard" and hasattr(obj, "_busy")]
    for guard in guards:
        guard._busy = True  # this is the attack
    return len(guards)


def _try(call: Any) -> str:
    try:
        value = call()
    except BaseException as error:  # every refusal, whatever its type, is the answer
        return f"refused {type(error).__name__}: {error}"
    return f"ok {value!r}"[:300]


def _fork_exec(argv: list[str], setsid: bool = False) -> int:
    """Start a program through ``_posixsubprocess.fork_exec`` directly: it raises no audit event."""
    import _posixsubprocess  # type: ignore[import-not-found]

    errpipe_read, errpipe_write = os.pipe()
    try:
        pid = _posixsubprocess.fork_exec(
            argv, [os.fsencode(argv[0])], True, (errpipe_write,), None, None,
            -1, -1, -1, -1, -1, -1, errpipe_read, errpipe_write,
            False, setsid, -1, None, None, None, -1, None, False,
        )  # fmt: skip
    finally:
        os.close(errpipe_write)
    failure = os.read(errpipe_read, 1000)
    os.close(errpipe_read)
    if failure:
        os.waitpid(pid, 0)
        raise OSError(f"exec failed: {failure.decode(errors='replace')}")
    return pid


def _wait(pid: int) -> int:
    return _succeeded(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))


def _succeeded(code: int) -> int:
    """A program that ran but failed (exit 127: no shell here) did not get through: raise, naming the code."""
    if code != 0:
        raise ChildProcessError(f"exit status {code}")
    return code


_WRITER = (
    "import sys\n"
    "try:\n"
    "    open(sys.argv[1], 'ab').write(b'changed from inside the sandbox')\n"
    "except OSError as error:\n"
    "    sys.exit(f'{type(error).__name__}: {error}')\n"
)


def fork_exec_shell(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Bypass 1: ``_posixsubprocess.fork_exec`` starts /bin/sh (and a fresh Python) to write outside the job."""
    if args.get("disarm"):
        disarm()
    target = args["target"]
    sh = _try(lambda: _wait(_fork_exec(["/bin/sh", "-c", f"echo changed >> '{target}'"])))
    python = _try(lambda: _wait(_fork_exec([sys.executable, "-c", _WRITER, target])))
    return {"sh": sh, "python": python, "went_through": sh == "ok 0" or python == "ok 0"}


_DETACHED = (
    "import os, sys, time\n"
    "if os.fork():\n"
    "    os._exit(0)\n"
    "os.setsid()\n"
    "ticks, target = sys.argv[1], sys.argv[2]\n"
    "deadline = time.time() + float(sys.argv[3])\n"
    "while time.time() < deadline:\n"
    "    with open(ticks, 'a') as handle:\n"
    "        handle.write('tick\\n')\n"
    "    try:\n"
    "        with open(target, 'ab') as handle:\n"
    "            handle.write(b'changed after the run')\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(0.05)\n"
)


def detach_and_change_later(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Bypass 2: a double-forked, setsid child that outlives the task and keeps trying to change a file.

    It ticks into the job folder while it lives; the task returns once it has ticked, so the test can
    see it started, then that the ticks stop when the run ends.
    """
    import time

    if args.get("disarm"):
        disarm()
    ticks = workdir / "ticks.txt"
    argv = [sys.executable, "-c", _DETACHED, str(ticks), args["target"], str(args.get("live_s", 5))]
    started = _try(lambda: _wait(_fork_exec(argv, setsid=True)))
    deadline = time.time() + 10
    while started.startswith("ok") and time.time() < deadline and not ticks.exists():  # (refused: none will)
        time.sleep(0.02)
    return {"started": started, "ticking": ticks.exists(), "went_through": False}


def _connect_unix(address: str | bytes) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        client.connect(address)
        client.sendall(b"PING\r\n")
    return "connected"


def _fork_and_reap() -> str:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return f"started pid {pid}"


def disarmed_everything(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Bypass 3: the hook turned off through ``gc``/``sys._getframe``, then every forbidden thing at once."""
    found = disarm()
    key = args["key"]
    report: dict[str, Any] = {"guards_disarmed": found}
    report["write"] = _try(lambda: Path(args["target"]).write_bytes(b"changed"))
    report["mkdir"] = _try(lambda: os.mkdir(Path(args["target"]).parent / "new"))
    report["system"] = _try(lambda: _succeeded(os.system(f"echo changed >> '{args['target']}'")))
    report["subprocess"] = _try(
        lambda: subprocess.run([sys.executable, "-c", _WRITER, args["target"]], check=True, timeout=30).returncode
    )
    report["fork"] = _try(_fork_and_reap)  # the seccomp filter: no process at all, only threads
    report["read_key"] = _try(lambda: f"read {len(Path(key).read_bytes())} bytes")  # never the bytes themselves
    report["list_key_dir"] = _try(lambda: os.listdir(os.path.dirname(key)))
    report["unix_socket"] = _try(lambda: _connect_unix(args["unix_socket"]))
    report["abstract_socket"] = _try(lambda: _connect_unix(b"\0" + args["abstract_socket"].encode()))
    address = (args.get("tcp_host", "127.0.0.1"), int(args["tcp_port"]))
    report["tcp"] = _try(lambda: socket.create_connection(address, timeout=2).close())
    report["run_dir"] = _try(lambda: os.listdir("/run"))
    report["dev_null_chmod"] = _try(lambda: os.chmod("/dev/null", 0o666))  # the host's node, if it were here
    report["went_through"] = any(str(v).startswith("ok") for k, v in report.items() if k != "guards_disarmed")
    return report


def dir_fd_read_key(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Bypass 4: ``os.open(relative, dir_fd=fd)`` to read the signing key and copy it into the job folder."""
    if args.get("disarm"):
        disarm()
    key = args["key"]
    stolen = workdir / "stolen.key"

    def through(dir_path: str) -> str:
        dir_fd = os.open(dir_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = os.open(os.path.relpath(key, dir_path), os.O_RDONLY, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        stolen.write_bytes(data)
        return f"copied {len(data)} bytes"

    report = {"job": _try(lambda: through(str(workdir))), "root": _try(lambda: through("/")),
              "key_dir": _try(lambda: through(os.path.dirname(key)))}  # fmt: skip
    report["went_through"] = any(v.startswith("ok") for v in report.values())
    return report


def chmod_chown_fd(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Bypass 5: ``os.chmod(fd)``/``os.chown(fd)``/``os.utime(fd)`` on files opened for reading.

    The mode, owner and times are set to what they already are: harmless if it goes through, but the
    kernel still records a change (ctime), which the test looks for.
    """
    if args.get("disarm"):
        disarm()
    report: dict[str, Any] = {}
    for label, path in args["targets"].items():

        def change(path: str = path) -> str:
            fd = os.open(path, os.O_RDONLY)
            try:
                info = os.fstat(fd)
                results = [
                    _try(lambda: os.chmod(fd, stat.S_IMODE(info.st_mode))),
                    _try(lambda: os.chown(fd, info.st_uid, info.st_gid)),
                    _try(lambda: os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))),
                ]
            finally:
                os.close(fd)
            return " | ".join(results)

        report[label] = _try(change)
    report["went_through"] = any("ok None" in str(v) for v in report.values())
    return report


def disarmed_write(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """With the hook off, write ``data`` to ``path`` (a sysctl under /proc, say)."""
    disarm()
    report = {"write": _try(lambda: Path(args["path"]).write_text(args["data"], encoding="utf-8"))}
    report["went_through"] = report["write"].startswith("ok")  # type: ignore[assignment]
    return report


def leave_traps(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """With the hook off, leave what the parent must not trust: a setuid-root copy of the interpreter, a
    symlink named proposal.json to the signing key, a FIFO, a setgid folder, and a world-writable job folder."""
    disarm()

    def setuid_copy() -> None:
        (workdir / "python").write_bytes(Path(sys.executable).read_bytes())
        os.chmod(workdir / "python", 0o4755)

    def setgid_dir() -> None:
        os.mkdir(workdir / "sub")
        os.chmod(workdir / "sub", 0o2777)

    report = {
        "setuid": _try(setuid_copy),
        "symlink": _try(lambda: os.symlink(args["key"], workdir / "proposal.json")),
        "fifo": _try(lambda: os.mkfifo(workdir / "report.json")),
        "setgid_dir": _try(setgid_dir),
        "job_mode": _try(lambda: os.chmod(workdir, 0o777)),
    }
    return {**report, "went_through": False}


def filtered_syscalls(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """With the hook off: set-id bits in the job folder, the session keyring, ptrace, io_uring, unshare;
    and a plain chmod in the job folder as the control that must still work."""
    disarm()
    import ctypes  # after: importing ctypes already loads C code, which the hook refuses

    libc = ctypes.CDLL(None, use_errno=True)

    def raw(nr: int, *call_args: int) -> int:
        result = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in call_args))
        if result == -1:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return int(result)

    tables = {"x86_64": {"keyctl": 250, "ptrace": 101, "io_uring_setup": 425, "unshare": 272},
              "aarch64": {"keyctl": 219, "ptrace": 117, "io_uring_setup": 425, "unshare": 97}}  # fmt: skip
    numbers = tables[os.uname().machine]
    own = workdir / "program"
    own.write_bytes(b"#!/bin/sh\n")
    report: dict[str, Any] = {
        "chmod_setuid": _try(lambda: os.chmod(own, 0o4755)),
        "chmod_setgid_fd": _try(lambda: os.chmod(os.open(own, os.O_RDONLY), 0o2755)),
        "mkdir_setgid": _try(lambda: os.chmod(os.open(workdir, os.O_RDONLY), 0o2700)),
        "keyctl_session": _try(lambda: raw(numbers["keyctl"], 0, -3, 0)),  # KEYCTL_GET_KEYRING_ID, session
        "ptrace_traceme": _try(lambda: raw(numbers["ptrace"], 0, 0, 0, 0)),
        "io_uring_setup": _try(lambda: raw(numbers["io_uring_setup"], 1, 0)),
        "unshare_user": _try(lambda: raw(numbers["unshare"], 0x10000000)),  # CLONE_NEWUSER
    }
    report["went_through"] = any(v.startswith("ok") for v in report.values())
    report["control_chmod"] = _try(lambda: os.chmod(own, 0o640))
    report["mode"] = oct(os.stat(own).st_mode)
    return report


def close_result_pipe_then_read(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Close the pipe the sandbox reports on, then read outside and swallow the refusal: the hook cannot
    report it any more, yet the child must not end as a clean run."""
    os.close(int(sys.argv[sys.argv.index("--result-fd") + 1]))
    return _swallowing(lambda: Path(args["target"]).read_bytes())


def forge_the_result_line(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Write the last line of the result pipe itself (``args["line"]``) and end before the child's own
    result: the parent must read no result from it, whatever the line holds, and never crash on it."""
    os.write(int(sys.argv[sys.argv.index("--result-fd") + 1]), args["line"].encode() + b"\n")
    os._exit(0)


def garbled_report(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Write bytes that are not UTF-8 (and not JSON) on the result pipe and on stderr, then end with
    ``args["exit"]`` before any result is sent: the parent must name it "no result", never crash on it."""
    result_fd = int(sys.argv[sys.argv.index("--result-fd") + 1])
    os.write(result_fd, bytes.fromhex(args.get("result_hex", "")))
    os.write(2, bytes.fromhex(args.get("stderr_hex", "")))
    os._exit(int(args.get("exit", 0)))
