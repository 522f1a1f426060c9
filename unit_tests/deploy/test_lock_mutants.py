"""The apply lock, in-process on real files and real ``flock``s (issue 21 §5: its mutants).

Each test asserts what an operator or a caller of ``ApplyLock`` sees: the refusal and its exact words, the
holder record written to ``.calpolicy.lock``, the record cleared on release, a dead holder reported. A second
``open()`` of the lock file is a second open file description, so its ``flock`` conflicts with ``ApplyLock``'s
exactly as another process's would; where the holder must really die, a forked child is killed with SIGKILL.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.apply.lock import (
    LOCK_NAME,
    ApplyLock,
    LockedError,
    _read,
    _take_or_name_holder,
    describe_holder,
    read_holder,
)
from calpolicy.files.safe_read import UnsafeFileError

NOT_WRITTEN = "another calpolicy process (holder details not written yet)"


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@contextmanager
def held(path: Path, record: bytes | None = None) -> Iterator[int]:
    """Hold the flock on ``path`` through a second open file description (what another process would do)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if record is not None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
        yield fd
    finally:
        os.close(fd)


def dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


# ============================================================================== the lock's name and its record


def test_the_lock_file_is_named_beside_the_config_and_holds_who_what_since_which_pid_and_host(tmp_path: Path) -> None:
    assert LOCK_NAME == ".calpolicy.lock"
    before = datetime.now(UTC).replace(microsecond=0)
    with ApplyLock(tmp_path, "alice", "calpolicy approve cal_x") as lock:
        record = json.loads((tmp_path / ".calpolicy.lock").read_bytes())
        assert lock.path == tmp_path / ".calpolicy.lock"
        assert lock.who == "alice"
        assert lock.command == "calpolicy approve cal_x"
        assert isinstance(lock.fd, int)
    assert set(record) == {"who", "command", "pid", "host", "since"}
    assert record["who"] == "alice"
    assert record["command"] == "calpolicy approve cal_x"
    assert record["pid"] == os.getpid()
    assert record["host"] == socket.gethostname()
    since = datetime.fromisoformat(record["since"])
    assert since.utcoffset() == timedelta(0)
    assert record["since"].endswith("+00:00")  # UTC
    assert "." not in record["since"]  # whole seconds
    assert before <= since <= datetime.now(UTC)


def test_a_longer_stale_record_is_cut_to_the_new_one(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text(json.dumps({"who": "x" * 3000, "pid": dead_pid()}))
    with ApplyLock(tmp_path, "bob", "c"):
        record = json.loads((tmp_path / LOCK_NAME).read_bytes())  # no tail of the old record after it
    assert record["who"] == "bob"


def test_release_clears_the_record_and_the_flock_and_closes_the_fd(tmp_path: Path) -> None:
    fds = open_fds()
    lock = ApplyLock(tmp_path, "alice", "c")
    with lock:
        assert (tmp_path / LOCK_NAME).stat().st_size > 0
    assert lock.fd is None
    assert (tmp_path / LOCK_NAME).read_bytes() == b""
    assert open_fds() == fds
    with held(tmp_path / LOCK_NAME):  # free: another holder takes it at once
        pass
    lock.__exit__(None, None, None)  # a second release is harmless
    assert read_holder(tmp_path) is None


def test_the_lock_is_taken_again_after_a_release(tmp_path: Path) -> None:
    with ApplyLock(tmp_path, "alice", "c"):
        pass
    with ApplyLock(tmp_path, "bob", "d"):
        assert read_holder(tmp_path)["who"] == "bob"  # type: ignore[index]


# ============================================================================== a held lock: refused at once, named


def test_a_held_lock_is_refused_with_the_holders_words_and_leaves_no_fd(tmp_path: Path) -> None:
    record = {"who": "carol", "command": "calpolicy rollback", "since": "S", "pid": 4242, "host": "h1"}
    with held(tmp_path / LOCK_NAME, json.dumps(record).encode()):
        fds = open_fds()
        with pytest.raises(LockedError) as raised:
            ApplyLock(tmp_path, "alice", "calpolicy approve").__enter__()
        assert open_fds() == fds
        assert json.loads((tmp_path / LOCK_NAME).read_bytes()) == record  # the holder's record is not touched
    assert str(raised.value) == (
        "the live calibration is locked by carol running `calpolicy rollback` since S (PID 4242 on h1); "
        "try again when it is done"
    )
    assert isinstance(raised.value, RuntimeError)


def test_a_holder_that_never_writes_its_details_is_named_as_such(tmp_path: Path) -> None:
    with held(tmp_path / LOCK_NAME), pytest.raises(LockedError) as raised:
        ApplyLock(tmp_path, "alice", "c").__enter__()
    assert str(raised.value) == f"the live calibration is locked by {NOT_WRITTEN}; try again when it is done"


def test_a_holder_that_lets_go_within_the_patience_is_waited_for(tmp_path: Path) -> None:
    """Details still empty (a holder just finishing clears them first): keep trying, then take the lock."""
    path = tmp_path / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    releaser = threading.Timer(0.3, os.close, (fd,))
    releaser.start()
    try:
        with ApplyLock(tmp_path, "alice", "c"):
            assert read_holder(tmp_path)["who"] == "alice"  # type: ignore[index]
    finally:
        releaser.join()


def test_a_holder_with_details_is_named_at_once_without_waiting_for_it(tmp_path: Path) -> None:
    """A named holder is reported on the first look; the command does not sit waiting for it to finish."""
    path = tmp_path / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, b'{"who": "carol"}', 0)
    answered = threading.Event()
    releaser = threading.Thread(target=lambda: (answered.wait(5), os.close(fd)))
    releaser.start()
    probe = os.open(path, os.O_RDWR)
    try:
        holder = _take_or_name_holder(probe, patience_s=30)
    finally:
        answered.set()
        releaser.join()
        os.close(probe)
    assert holder == {"who": "carol"}


def test_the_patience_for_an_empty_record_is_bounded(tmp_path: Path) -> None:
    with held(tmp_path / LOCK_NAME):
        probe = os.open(tmp_path / LOCK_NAME, os.O_RDWR)
        try:
            assert _take_or_name_holder(probe, patience_s=0.0) == {}
            assert _take_or_name_holder(probe) == {}
        finally:
            os.close(probe)


def test_a_free_lock_is_taken_by_the_probe(tmp_path: Path) -> None:
    probe = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert _take_or_name_holder(probe) is None
        with pytest.raises(BlockingIOError), held(tmp_path / LOCK_NAME):
            pass  # the probe holds it now: nobody else gets it
    finally:
        os.close(probe)


class Interrupted(Exception):
    """What a signal handler raises into the waiting command (an operator's Ctrl-C is a KeyboardInterrupt)."""


def test_an_interrupt_while_waiting_for_the_lock_leaves_no_fd_open(tmp_path: Path) -> None:
    """Interrupted inside the patience loop (the holder has not written its details): the lock file's fd is
    closed and the interrupt itself reaches the caller."""

    def ring(_signum: int, _frame: object) -> None:
        raise Interrupted

    with held(tmp_path / LOCK_NAME):  # held, no details: the command keeps trying for up to a second
        fds = open_fds()
        previous = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        try:
            with pytest.raises(Interrupted):
                ApplyLock(tmp_path, "alice", "c").__enter__()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert open_fds() == fds


def test_a_record_that_cannot_be_cleared_still_lets_the_lock_go(tmp_path: Path) -> None:
    """The file made immutable while held (``chattr +i``): clearing the record fails, the flock is released
    and the fd closed all the same, so the next command is not locked out by this one."""
    path = tmp_path / LOCK_NAME
    fds = open_fds()
    lock = ApplyLock(tmp_path, "alice", "calpolicy approve")
    lock.__enter__()
    subprocess.run(["chattr", "+i", str(path)], check=True)  # root and ext4, as CI runs: a failure here fails
    try:
        lock.__exit__(None, None, None)
        assert lock.fd is None
        assert open_fds() == fds
        assert read_holder(tmp_path)["who"] == "alice"  # type: ignore[index]  # the record stays
        probe = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free
        finally:
            os.close(probe)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# ============================================================================== a dead holder


def test_a_record_left_by_a_holder_killed_with_sigkill_is_reported_stale(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            with ApplyLock(tmp_path, "dave", "calpolicy rollback"):
                time.sleep(60)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while (read_holder(tmp_path) or {}).get("pid") != pid and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(LockedError, match=rf"^the live calibration is locked by dave .*\(PID {pid} on "):
            ApplyLock(tmp_path, "alice", "c").__enter__()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with ApplyLock(tmp_path, "alice", "calpolicy approve") as lock:  # the kernel released the flock
        assert lock.stale is not None
        assert lock.stale["who"] == "dave"
        assert lock.stale["pid"] == pid
        assert lock.stale["command"] == "calpolicy rollback"
        assert read_holder(tmp_path)["who"] == "alice"  # type: ignore[index]


def test_a_record_of_a_living_pid_or_without_a_pid_is_not_stale(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    for record in ({"who": "x", "pid": os.getpid()}, {"who": "x"}, {"who": "x", "pid": 0}, {"who": "x", "pid": None}):
        path.write_text(json.dumps(record))
        with ApplyLock(tmp_path, "a", "c") as lock:
            assert lock.stale is None, record
    path.write_text("not json")
    with ApplyLock(tmp_path, "a", "c") as lock:
        assert lock.stale is None


def test_a_fresh_lock_has_no_stale_record_and_no_fd_before_it_is_entered(tmp_path: Path) -> None:
    lock = ApplyLock(tmp_path, "a", "c")
    assert lock.fd is None
    assert lock.stale is None
    assert not (tmp_path / LOCK_NAME).exists()
    lock.__exit__(None, None, None)  # leaving a lock never taken does nothing
    assert not (tmp_path / LOCK_NAME).exists()


# ============================================================================== what is in the lock's place


def test_a_symlink_in_the_locks_place_is_refused_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / LOCK_NAME).symlink_to(victim)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        ApplyLock(tmp_path, "a", "c").__enter__()
    assert victim.read_bytes() == b"keep"
    assert read_holder(tmp_path) is None


def test_a_fifo_in_the_locks_place_is_refused_never_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / LOCK_NAME)
    with pytest.raises(UnsafeFileError, match="FIFO"):
        ApplyLock(tmp_path, "a", "c").__enter__()
    assert read_holder(tmp_path) is None


# ============================================================================== describe_holder


def test_describe_holder_names_every_field_and_marks_the_missing_ones() -> None:
    full = {"who": "w", "command": "cmd", "since": "S", "pid": 7, "host": "h"}
    assert describe_holder(full) == "w running `cmd` since S (PID 7 on h)"
    assert describe_holder({"pid": 7}) == "? running `?` since ? (PID 7 on ?)"
    assert describe_holder({"who": "w"}) == "w running `?` since ? (PID ? on ?)"
    assert describe_holder(None) == NOT_WRITTEN
    assert describe_holder({}) == NOT_WRITTEN


def test_describe_holder_cuts_every_field_at_200_characters() -> None:
    shown = describe_holder({"who": "w" * 500, "command": "c" * 201, "since": "s" * 200, "pid": "9" * 300, "host": "h"})
    assert shown == f"{'w' * 200} running `{'c' * 200}` since {'s' * 200} (PID {'9' * 200} on h)"


# ============================================================================== reading the record


def test_read_holder_reads_the_record_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    assert read_holder(tmp_path) is None  # absent
    path.write_text('{"who": "x", "pid": 3}')
    assert read_holder(tmp_path) == {"who": "x", "pid": 3}
    for junk in ("", "   \n", "[1, 2]", '"who"', "{", "[" * 100_000, "null"):
        path.write_text(junk)
        assert read_holder(tmp_path) is None, junk[:20]


def test_read_holder_reads_4096_bytes_of_a_record_and_no_more(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    head = '{"who": "x"}'
    path.write_text(head + " " * (4096 - len(head)))
    assert read_holder(tmp_path) == {"who": "x"}
    path.write_text('{"who": "' + "x" * 4086 + '"}')  # 4097 bytes: its end is not read
    assert len(path.read_bytes()) == 4097
    assert read_holder(tmp_path) is None
    path.write_text('{"who": "' + "x" * 4085 + '"}')  # exactly 4096 bytes
    assert read_holder(tmp_path) == {"who": "x" * 4085}


def test_read_holder_refuses_a_lock_file_over_the_locks_cap_or_with_a_second_name(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text('{"who": "x"}' + " " * (64 * 1024))  # a record, but larger than any lock file
    assert read_holder(tmp_path) is None
    path.write_text('{"who": "x"}')
    os.link(path, tmp_path / "other-name")
    assert read_holder(tmp_path) is None  # a hard link is refused for the lock (it is rewritten in place)


def test_read_holder_never_follows_a_symlink_or_waits_on_a_fifo(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text('{"who": "x"}')
    (tmp_path / LOCK_NAME).symlink_to(target)
    assert read_holder(tmp_path) is None
    (tmp_path / LOCK_NAME).unlink()
    os.mkfifo(tmp_path / LOCK_NAME)
    assert read_holder(tmp_path) is None


def test__read_at_offset_zero_whatever_the_fds_position(tmp_path: Path) -> None:
    path = tmp_path / "record"
    path.write_text('{"who": "x"}')
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 5, os.SEEK_SET)
        assert _read(fd) == {"who": "x"}
    finally:
        os.close(fd)
