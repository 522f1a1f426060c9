"""Held-out ways out of the sandbox (issue 21 §1, variants beyond the five reported), run by
``unit_tests/test_sandbox_heldout.py`` in the real sandbox. Each task first turns the audit hook off from
inside (as hostile code can), so only the kernel's refusals count. A result is "ok …" when it went through.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from policy_tests.phase1.attempts import _try, disarm


def inherited_fds(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Every descriptor the task holds, and what it points at: nothing of the parent's may be among them."""
    disarm()
    fds: dict[str, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError as error:
            fds[name] = f"? {error}"
    return {"went_through": False, "fds": fds}


def parent_proc(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The parent's /proc entries (its environment, its open files, its root): outside the PID namespace."""
    disarm()
    pid = int(args["pid"])
    return {
        "went_through": False,
        "environ": _try(lambda: open(f"/proc/{pid}/environ", "rb").read()[:100]),
        "fd": _try(lambda: os.listdir(f"/proc/{pid}/fd")),
        "root": _try(lambda: os.listdir(f"/proc/{pid}/root/")),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    }


def tiocsti(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Push a command into the operator's terminal (TIOCSTI) through fds 0-2 and /dev/tty."""
    import fcntl
    import termios

    disarm()

    def push(fd: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")

    out = {str(fd): _try(lambda fd=fd: push(fd)) for fd in (0, 1, 2)}
    out["dev_tty"] = _try(lambda: push(os.open("/dev/tty", os.O_RDWR)))
    return {"went_through": False, **out}


def abstract_socket(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Connect to an abstract Unix socket the host listens on (no file: only the network namespace stops it)."""
    disarm()

    def connect() -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(b"\0" + args["name"].encode())
            sock.sendall(b"from the sandbox")
            return "connected"

    return {"went_through": False, "connect": _try(connect)}


def hard_link_out(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Make a hard link in the job folder to a file outside it, then write through it."""
    disarm()
    link = workdir / "linked"

    def link_and_write() -> str:
        os.link(args["target"], link)
        with open(link, "ab") as handle:
            handle.write(b"changed through a hard link")
        return "linked and written"

    return {"went_through": False, "link": _try(link_and_write)}


def stderr_flood(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Write ``mib`` MiB to stderr: the parent (root, holding nothing else back) must not keep it all."""
    disarm()
    block = b"x" * (1 << 20)
    for _ in range(int(args["mib"])):
        os.write(2, block)
    return {"went_through": False, "written_mib": int(args["mib"])}


def result_pipe_flood(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Write ``mib`` MiB of lines to the result pipe before the child's own result line: the parent must
    keep reading (a pipe holds 64 KiB) and still find the result, holding back only a bounded tail."""
    disarm()
    pipe = int(sys.argv[sys.argv.index("--result-fd") + 1])
    line = b"x" * 1023 + b"\n"
    for _ in range(int(args["mib"]) * 1024):
        os.write(pipe, line)
    return {"went_through": False, "written_mib": int(args["mib"])}
