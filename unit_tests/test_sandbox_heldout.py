"""Held-out ways out of the sandbox (issue 21 §1): variants beyond the five reported, run for real.

Each task (``policy_tests/phase1/heldout_attempts.py``) turns the audit hook off from inside first, so
what is judged is what the kernel (bubblewrap's namespaces, the read-only view, no terminal) refuses.
One of them found a real hole: the task's stderr was kept whole by the parent (200 MiB written grew the
parent by 600 MiB and made a 200 MiB "stderr tail"); it is now drained to a bounded tail.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from calpolicy.lockdown.sandbox import STDERR_TAIL_CHARS, SandboxResult, run_sandboxed

TASKS = "policy_tests.phase1.heldout_attempts"


def run(task: str, job: Path, **args: Any) -> dict[str, Any]:
    result: SandboxResult = run_sandboxed(f"{TASKS}:{task}", job, [], args, timeout_s=120)
    assert result.ok, result.error or result.stderr_tail
    assert result.result is not None
    assert result.result["went_through"] is False
    return result.result


def test_the_task_holds_no_descriptor_of_the_parent(tmp_path: Path) -> None:
    """Only its stdin/stderr pipes, /dev/null and the result pipe: no file, socket or tty of calpolicy's."""
    seen = run("inherited_fds", tmp_path)
    targets = [t for fd, t in seen["fds"].items() if fd not in ("3",)]  # 3: the listdir's own descriptor
    assert all(t.startswith("pipe:") or t == "/dev/null" for t in targets), seen


def test_the_parents_proc_is_out_of_sight(tmp_path: Path) -> None:
    seen = run("parent_proc", tmp_path, pid=os.getpid())
    for what in ("environ", "fd", "root"):
        assert seen[what].startswith("refused"), seen
    assert max(seen["pids"]) < 10, seen  # its own PID namespace: bwrap and the task only


def test_no_terminal_to_push_keystrokes_into(tmp_path: Path) -> None:
    seen = run("tiocsti", tmp_path)
    for what in ("0", "1", "2", "dev_tty"):
        assert seen[what].startswith("refused"), seen


def test_an_abstract_unix_socket_of_the_host_cannot_be_reached(tmp_path: Path) -> None:
    name = f"calpolicy-heldout-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(b"\0" + name.encode())
        server.listen(1)
        server.settimeout(0.5)
        seen = run("abstract_socket", tmp_path, name=name)
        assert seen["connect"].startswith("refused"), seen


def test_a_hard_link_out_of_the_job_folder_cannot_be_made(tmp_path: Path) -> None:
    """Neither to a file outside its view (not there) nor to one it sees read-only (another mount)."""
    job = tmp_path / "job"
    job.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    import calpolicy.lockdown.sandbox as visible

    for target in (str(victim), visible.__file__):
        seen = run("hard_link_out", job, target=target)
        assert seen["link"].startswith("refused"), seen
    assert victim.read_bytes() == b"precious\n"


def test_a_task_flooding_stderr_leaves_only_a_bounded_tail(tmp_path: Path) -> None:
    """Was: the whole stderr was kept (64 MiB here) and handed on as the result's "tail"."""
    result = run_sandboxed(f"{TASKS}:stderr_flood", tmp_path, [], {"mib": 64}, timeout_s=120)
    assert result.ok, result.error
    assert result.result == {"went_through": False, "written_mib": 64}
    assert 0 < len(result.stderr_tail) <= STDERR_TAIL_CHARS
