"""The five reported ways around the audit hook (issue 21 §1), each run for real in the real sandbox.

Every attempt runs twice: with the hook in place, and after the task turned it off from inside (through
``gc``, as hostile code can). Either way nothing outside the job folder may change, the signing key may
not be read, no socket outside may be reached, and nothing the task starts may outlive the run. With the
hook on, an attempt the hook can see ends as a violation in the checklist's words; the rest, and
everything once the hook is off, is refused by the kernel (bubblewrap's namespaces and read-only view).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calpolicy.localenv.sample_log import write_sample_log
from calpolicy.lockdown.protected import digest_path
from calpolicy.lockdown.sandbox import SandboxResult, run_sandboxed
from calpolicy.run.findings import violation_id
from calpolicy.vocabulary.config import Config

ATTEMPTS = "policy_tests.phase1.attempts"
KEY_BYTES = b"-----BEGIN PRIVATE KEY-----\nnot-a-real-key-but-secret-3f9a1c\n-----END PRIVATE KEY-----\n"
DECOY = b'{"version": "live", "untouched": true}\n'
ARMED = pytest.mark.parametrize("disarm", [False, True], ids=["hook-on", "hook-turned-off"])


class Host:
    """Everything outside the job: a live-looking config, a signing key, a CLM log, and the job folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.job = root / "jobs" / ".tmp-job"
        self.job.mkdir(parents=True)
        self.target = root / "config" / "calibration.json"
        self.target.parent.mkdir()
        self.target.write_bytes(DECOY)
        self.key = root / "keys" / "signing.key"
        self.key.parent.mkdir(mode=0o700)
        self.key.write_bytes(KEY_BYTES)
        self.key.chmod(0o600)
        self.clm = write_sample_log(root / "clm" / "clm_trades.jsonl", n_trades=200)
        self.before = self.digest()

    def digest(self) -> dict[str, str]:
        return digest_path("outside", self.root, skip=self.job).entries

    def run(self, task: str, **args: Any) -> SandboxResult:
        return run_sandboxed(f"{ATTEMPTS}:{task}", self.job, [self.clm], args, timeout_s=120)

    def assert_untouched(self, result: SandboxResult) -> None:
        """Nothing outside the job changed; the key is nowhere in the result nor in the job folder."""
        __tracebackhide__ = True
        after = self.digest()
        changed = sorted(k for k in set(self.before) | set(after) if self.before.get(k) != after.get(k))
        assert not changed, f"changed outside the job: {changed}"
        assert self.target.read_bytes() == DECOY
        shown = json.dumps([result.result, result.violation, result.error, result.stderr_tail])
        assert KEY_BYTES.hex() not in shown, "the key was read"
        assert "not-a-real-key" not in shown, "the key was read"
        for path in self.job.rglob("*"):
            if path.is_file():
                assert b"not-a-real-key" not in path.read_bytes(), f"the key was copied to {path}"


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def _completed_or_explained(result: SandboxResult, disarm: bool) -> dict[str, Any]:
    """With the hook off the task must run to its end (proving it was off); with it on, either is fine."""
    __tracebackhide__ = True
    if result.violation is not None:
        assert not disarm, f"the hook was off, yet it reported {result.violation}"
        assert violation_id(result.violation["operation"], result.violation["target"], Config()).startswith("P1.")
        return {}
    assert result.ok, result.error or result.stderr_tail
    assert result.result is not None
    assert result.result["went_through"] is False, result.result
    return result.result


# --------------------------------------------------------------------------------------------- 1


@ARMED
def test_fork_exec_cannot_start_a_shell_that_writes_outside(host: Host, disarm: bool) -> None:
    """``_posixsubprocess.fork_exec`` raises no audit event: the hook never sees it. The seccomp filter
    lets the child start no process (EPERM); beneath it, no /bin/sh exists in the child's view, and a fresh
    interpreter (no hook at all) would find the target absent (``test_sandbox_nofork.py``)."""
    result = host.run("fork_exec_shell", target=str(host.target), disarm=disarm)
    seen = _completed_or_explained(result, disarm)
    assert seen, "fork_exec is invisible to the hook: the task should have run to its end"
    assert seen["sh"].startswith("refused"), seen
    assert seen["python"].startswith("refused PermissionError"), seen  # not started at all (was: exit status 1)
    host.assert_untouched(result)


# --------------------------------------------------------------------------------------------- 2


@ARMED
def test_a_detached_child_is_not_even_started(host: Host, disarm: bool) -> None:
    """The seccomp filter: the child starts no process at all, so there is nothing to outlive the run."""
    result = host.run("detach_and_change_later", target=str(host.target), disarm=disarm, live_s=30)
    seen = _completed_or_explained(result, disarm)
    assert seen["started"].startswith("refused PermissionError"), seen
    assert not seen["ticking"], seen
    assert not (host.job / "ticks.txt").exists()
    host.assert_untouched(result)


@ARMED
def test_a_detached_child_does_not_outlive_the_run(host: Host, disarm: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The layer beneath the filter, on its own: with the seccomp filter taken away (as on a machine
    without one), a double-forked, setsid child ticks into the job folder and keeps trying to change the
    target. When the task returns, the PID namespace ends and the kernel kills it: the ticks stop for good."""
    from calpolicy.lockdown import seccomp

    monkeypatch.setattr(seccomp, "program", lambda machine=None: None)
    result = host.run("detach_and_change_later", target=str(host.target), disarm=disarm, live_s=30)
    assert "no seccomp filter" in result.os_guard
    seen = _completed_or_explained(result, disarm)
    assert seen.get("ticking"), f"the detached child never started, so this proves nothing: {seen}"
    ticks = host.job / "ticks.txt"
    count = ticks.read_text().count("tick")
    time.sleep(1.0)  # the child ticks every 50 ms while it lives
    assert ticks.read_text().count("tick") == count, "a process started in the sandbox outlived the run"
    host.assert_untouched(result)


# --------------------------------------------------------------------------------------------- 3


@pytest.fixture
def listeners(host: Host) -> Iterator[dict[str, Any]]:
    """A Unix socket file, an abstract Unix socket and a TCP port, all listening outside the sandbox."""
    path = host.root / "run" / "redis.sock"
    path.parent.mkdir()
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(path))
    abstract = socket.socket(socket.AF_UNIX)
    name = f"calpolicy-test-{os.getpid()}-{time.monotonic_ns()}"
    abstract.bind(b"\0" + name.encode())
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    servers = [unix, abstract, tcp]
    for server in servers:
        server.listen()
        server.setblocking(False)
    host.before = host.digest()
    yield {"unix_socket": str(path), "abstract_socket": name, "tcp_port": tcp.getsockname()[1],
           "servers": servers}  # fmt: skip
    for server in servers:
        server.close()


def test_with_the_hook_turned_off_the_kernel_still_refuses_everything(host: Host, listeners: dict[str, Any]) -> None:
    """The guard's ``_busy`` flag reached through ``gc``: then write anywhere, run commands, read the
    signing key, list its folder, connect to a Unix socket file, an abstract socket and a TCP port."""
    args = {k: v for k, v in listeners.items() if k != "servers"}
    result = host.run("disarmed_everything", target=str(host.target), key=str(host.key), **args)
    seen = _completed_or_explained(result, disarm=True)
    assert seen["guards_disarmed"] >= 1, "no guard was found to turn off: this proves nothing"
    routes = {k: v for k, v in seen.items() if k not in ("guards_disarmed", "went_through")}
    assert all(v.startswith("refused") for v in routes.values()), routes
    assert "FileNotFoundError" in routes["unix_socket"]  # not in view (not "path too long": a real attempt)
    assert "ConnectionRefusedError" in routes["abstract_socket"]  # another network namespace's name space
    for server in listeners["servers"]:
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody ever connected
    assert not (host.target.parent / "new").exists()
    host.assert_untouched(result)


# --------------------------------------------------------------------------------------------- 4


@ARMED
def test_a_relative_open_against_a_dir_fd_cannot_read_the_key(host: Host, disarm: bool) -> None:
    """``os.open(relative, dir_fd=fd)`` — from the job folder, from /, from the key's folder — and copy
    what it read into the job. The hook refuses relative paths it cannot resolve; the key is not in view."""
    result = host.run("dir_fd_read_key", key=str(host.key), disarm=disarm)
    seen = _completed_or_explained(result, disarm)
    if result.violation is not None:
        assert result.violation["operation"] == "open for reading"
        assert violation_id("open for reading", result.violation["target"], Config()) == "P1.2.a"
    else:
        assert all(v.startswith("refused") for k, v in seen.items() if k != "went_through"), seen
    assert not (host.job / "stolen.key").exists()
    host.assert_untouched(result)


# --------------------------------------------------------------------------------------------- 5


@ARMED
def test_chmod_chown_utime_on_a_read_only_descriptor_change_nothing(host: Host, disarm: bool) -> None:
    """``os.chmod(fd)``, ``os.chown(fd)`` and ``os.utime(fd)`` on files the child may read: the CLM log,
    calpolicy's own code and the zone database. Their mode, owner and times on the host stay as they were
    (the attempt sets the same values, so only the kernel's ctime would show a change)."""
    import calpolicy

    targets = {"clm": str(host.clm), "package": str(Path(calpolicy.__file__).resolve())}
    if Path("/usr/share/zoneinfo/UTC").is_file():
        targets["zoneinfo"] = os.path.realpath("/usr/share/zoneinfo/UTC")
    before = {label: os.stat(path) for label, path in targets.items()}
    result = host.run("chmod_chown_fd", targets=targets, disarm=disarm)
    seen = _completed_or_explained(result, disarm)
    if result.violation is not None:
        assert result.violation["operation"] == "os.chmod", result.violation
    else:
        for label in targets:
            assert "ok None" not in seen[label], (label, seen[label])
            assert seen[label].count("refused") == 3, (label, seen[label])
    for label, path in targets.items():
        now = os.stat(path)
        assert (now.st_mode, now.st_uid, now.st_gid, now.st_ctime_ns) == (
            before[label].st_mode, before[label].st_uid, before[label].st_gid, before[label].st_ctime_ns,
        ), f"{label} ({path}) was changed from inside the sandbox"  # fmt: skip
    host.assert_untouched(result)


# --------------------------------------------------------------------------------------------- more


def test_global_sysctls_cannot_be_written_through_proc(host: Host) -> None:
    """The child's uid maps to the caller's (root here): a writable /proc would let it set global sysctls
    (bubblewrap's own /proc/sys cover is skipped for root). /proc is mounted read-only."""
    sysctl = Path("/proc/sys/vm/swappiness")
    result = host.run("disarmed_write", path=str(sysctl), data=sysctl.read_text())
    seen = _completed_or_explained(result, disarm=True)
    assert seen["write"].startswith("refused OSError"), seen


def test_what_the_task_leaves_in_the_job_folder_is_defused(host: Host) -> None:
    """The child's files belong to the caller (root here): a setuid copy of the interpreter in the job
    folder would be a root shell for whoever reaches it; a symlink proposal.json would make the parent
    read the key; a FIFO would hang it. All are removed or cleared, and the run is a lockdown violation."""
    mode = os.lstat(host.job).st_mode
    result = host.run("leave_traps", key=str(host.key))
    assert result.violation is not None, result.result
    assert result.result is None
    assert violation_id(result.violation["operation"], result.violation["target"], Config()) == "P1.1.c"
    assert os.lstat(host.job).st_mode == mode
    assert not (host.job / "proposal.json").exists()
    assert not os.path.lexists(host.job / "proposal.json")
    assert not os.path.lexists(host.job / "report.json")
    copied = os.lstat(host.job / "python")
    assert not copied.st_mode & (stat.S_ISUID | stat.S_ISGID), oct(copied.st_mode)
    assert not os.lstat(host.job / "sub").st_mode & stat.S_ISGID
    host.assert_untouched(result)


def test_the_seccomp_filter_refuses_setid_bits_keyrings_and_kernel_surface(host: Host) -> None:
    """With the hook off: a setuid or setgid bit in the job folder (by path and by descriptor), the
    inherited session keyring, ptrace, io_uring and a new user namespace all fail with EPERM, while a
    plain chmod in the job folder still works (the filter is narrow)."""
    result = host.run("filtered_syscalls")
    seen = _completed_or_explained(result, disarm=True)
    routes = {k: v for k, v in seen.items() if k not in ("went_through", "control_chmod", "mode")}
    assert all(v.startswith("refused PermissionError") for v in routes.values()), routes
    assert seen["control_chmod"] == "ok None"
    assert seen["mode"] == "0o100640"
    assert not os.lstat(host.job).st_mode & stat.S_ISGID
    host.assert_untouched(result)


def test_the_filter_program_is_well_formed() -> None:
    """One 8-byte instruction per op, ending in ALLOW; an unknown machine gets none (and the guard says so)."""
    from calpolicy.lockdown import seccomp

    for machine in ("x86_64", "aarch64"):
        program = seccomp.program(machine)
        assert program is not None
        assert len(program) % 8 == 0
        assert len(program) // 8 < 4096
        assert program[-4:] == seccomp.ALLOW.to_bytes(4, sys.byteorder)
        assert {"keyctl", "ptrace", "io_uring_setup", "bpf", "mount"} <= set(seccomp.denied_calls(machine))
    assert seccomp.program("mips") is None
