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
import subprocess
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
