"""``files.py`` at its exact edges (issue 21 §5: the mutation run of the loader's reader and writer).

Real files only: a regular file at exactly the cap and one byte over, kernel files that are "regular" but
lie about their size (``/proc``), one that cannot be read (``/proc/self/mem``), a symlink loop, a path
through a file, and the atomic write observed at the moment of its rename.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import tracemalloc
from pathlib import Path

import pytest

from calpolicy_loader import MAX_BYTES, Unreadable, read_bounded
from calpolicy_loader.files import _kind, stat_key, write_atomic


def test_max_bytes_is_four_mib() -> None:
    assert MAX_BYTES == 4 * 1024 * 1024


def test_a_file_of_exactly_the_cap_is_read_whole_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_bytes(b"0123456789")
    data, key = read_bounded(path, 10)
    assert data == b"0123456789"
    assert key == stat_key(path)
    path.write_bytes(b"0123456789A")
    with pytest.raises(Unreadable) as refused:
        read_bounded(path, 10)
    assert str(refused.value) == "is 11 bytes, more than the 10 a calibration file may have"


def test_the_default_cap_is_exactly_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    with open(path, "wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_BYTES)
    data, _ = read_bounded(path)
    assert len(data) == MAX_BYTES
    with open(path, "ab") as handle:
        handle.truncate(MAX_BYTES + 1)
    with pytest.raises(Unreadable) as refused:
        read_bounded(path)
    assert str(refused.value) == f"is {MAX_BYTES + 1} bytes, more than the {MAX_BYTES} a calibration file may have"


def test_an_empty_file_is_empty_bytes(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_bytes(b"")
    assert read_bounded(path) == (b"", stat_key(path))


def test_a_file_that_says_it_is_empty_but_is_not_is_cut_at_the_cap() -> None:
    """``/proc`` files are regular and report size 0: the cap must hold on what is read, not on ``stat``."""
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(Unreadable) as refused:
        read_bounded(Path("/proc/self/status"), 100)
    assert str(refused.value) == "grew past 100 bytes while being read; refusing to read it"


def test_a_file_that_comes_in_several_reads_is_joined_byte_for_byte() -> None:
    """``/proc/self/maps`` hands out about a page per read, cut at line ends: every line must be whole."""
    data, _ = read_bounded(Path("/proc/self/maps"))
    assert len(data) > 4096  # several reads
    assert data.endswith(b"\n")
    for line in data.splitlines():
        assert re.fullmatch(rb"[0-9a-f]+-[0-9a-f]+ [-rwxsp]{4} [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ \d+ *.*", line), line


def test_a_file_whose_first_read_ends_exactly_at_the_cap_is_read_on_past_it() -> None:
    """``/proc/self/maps`` stops each read at a page of whole lines: with the cap set to the first read's
    length, the reader must ask again (and find more) rather than take the first page as the whole file."""
    fd = os.open("/proc/self/maps", os.O_RDONLY)
    try:
        first = len(os.read(fd, 1 << 20))
    finally:
        os.close(fd)
    with pytest.raises(Unreadable) as refused:
        read_bounded(Path("/proc/self/maps"), first)
    assert str(refused.value) == f"grew past {first} bytes while being read; refusing to read it"


def test_the_reader_never_asks_for_more_than_the_cap_in_all() -> None:
    """Each read asks only for what is left of the cap: with the cap at ``/proc/self/maps``' first page,
    the second read asks for one byte, so the reader holds about one page, never two or three."""
    fd = os.open("/proc/self/maps", os.O_RDONLY)
    try:
        first = len(os.read(fd, 1 << 20))
    finally:
        os.close(fd)
    tracemalloc.start()
    try:
        with pytest.raises(Unreadable):
            read_bounded(Path("/proc/self/maps"), first)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * first, (peak, first)


def test_the_descriptor_is_non_blocking_and_closed_on_exec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Looked at from inside the read (a spy on ``os.fstat`` that then does the real one): a child the
    engine starts meanwhile must not inherit the descriptor, and no read may wait for a writer."""
    path = tmp_path / "calibration.json"
    path.write_bytes(b"{}")
    real_fstat = os.fstat
    flags: list[tuple[int, int]] = []

    def spy(fd: int) -> os.stat_result:
        flags.append((fcntl.fcntl(fd, fcntl.F_GETFD), fcntl.fcntl(fd, fcntl.F_GETFL)))
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", spy)
    read_bounded(path)
    monkeypatch.undo()
    [(fd_flags, status_flags)] = flags
    assert fd_flags & fcntl.FD_CLOEXEC
    assert status_flags & os.O_NONBLOCK
    assert status_flags & os.O_ACCMODE == os.O_RDONLY


def test_reading_a_terminal_never_makes_it_the_engines_controlling_terminal() -> None:
    """A service is a session leader without a terminal; opening a tty without ``O_NOCTTY`` would make it
    the service's controlling terminal (and its hang-up a SIGHUP). Checked in a forked copy of this process
    that becomes a session leader, as systemd makes a service."""
    leader, follower = os.openpty()
    name = os.ttyname(follower)
    with pytest.raises(Unreadable):  # here too, so the mutation tool counts this test for read_bounded
        read_bounded(Path(name))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        answer = b"error"
        try:
            os.setsid()
            try:
                read_bounded(Path(name))
            except Unreadable as error:
                answer = str(error).encode()
            try:
                os.close(os.open("/dev/tty", os.O_RDONLY))
                answer += b" | has a controlling terminal"
            except OSError as error:
                answer += b" | no controlling terminal" if error.errno == errno.ENXIO else repr(error).encode()
        finally:
            os.write(write_fd, answer)
            os._exit(0)
    os.close(write_fd)
    answer = os.read(read_fd, 4096)
    os.close(read_fd)
    os.waitpid(pid, 0)
    os.close(leader)
    os.close(follower)
    assert answer == (
        b"is not a regular file (it is a character device); refusing to read it | no controlling terminal"
    )


def test_a_read_error_is_a_reason_not_an_exception() -> None:
    with pytest.raises(Unreadable) as refused:
        read_bounded(Path("/proc/self/mem"))  # regular, but reading at offset 0 is EIO
    assert str(refused.value) == f"cannot be read: {os.strerror(errno.EIO)}"


def test_open_errors_are_reasons(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"{}")
    with pytest.raises(Unreadable) as refused:
        read_bounded(plain / "calibration.json")
    assert str(refused.value) == f"cannot be read: {os.strerror(errno.ENOTDIR)}"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(Unreadable) as refused:
        read_bounded(loop)
    assert str(refused.value) == "is a symlink loop (too many levels of symbolic links)"
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing")


@pytest.mark.parametrize(
    ("mode", "name"),
    [
        (stat.S_IFIFO, "FIFO"),
        (stat.S_IFCHR, "character device"),
        (stat.S_IFBLK, "block device"),
        (stat.S_IFDIR, "directory"),
        (stat.S_IFSOCK, "socket"),
        (0, "special file"),
    ],
)
def test_every_kind_of_file_is_named(mode: int, name: str) -> None:
    """A socket and a block device cannot be opened here (ENXIO, no devices): their names, from the mode."""
    assert _kind(mode | 0o644) == name


def test_stat_key_names_the_content_or_the_error(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    assert stat_key(path) is None
    path.write_bytes(b"{}")
    st = os.stat(path)
    assert stat_key(path) == (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    assert stat_key(path) == stat_key(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert stat_key(path) != (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert stat_key(loop) == f"error:{errno.ELOOP}"
    assert stat_key(path / "child") == f"error:{errno.ENOTDIR}"
    assert stat_key(Path(f"{tmp_path}/a\0b")) == "error:None"


def test_write_atomic_renames_a_complete_temp_file_from_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Watched at the rename (a spy that then does the real ``os.replace``): the temp file is in the
    target's folder (a rename cannot cross filesystems), carries the prefix calpolicy's sweep removes after
    a crash, and already holds the whole content with its final mode."""
    target = tmp_path / ".calpolicy_loaded"
    target.write_bytes(b"old\n")
    real_replace = os.replace
    seen: list[tuple[str, Path, bytes, int]] = []

    def spy(src: str, dst: os.PathLike[str]) -> None:
        source = Path(src)
        seen.append((source.name, source.parent, source.read_bytes(), source.stat().st_mode & 0o7777))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(target, b"new\n")
    write_atomic(target, b"newer\n", mode=0o600)
    monkeypatch.undo()
    assert [(name.startswith(".calpolicy-tmp-"), parent, data, mode) for name, parent, data, mode in seen] == [
        (True, tmp_path, b"new\n", 0o644),
        (True, tmp_path, b"newer\n", 0o600),
    ]
    assert target.read_bytes() == b"newer\n"
    assert target.stat().st_mode & 0o7777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".calpolicy_loaded"]


def test_a_failed_write_atomic_leaves_no_temp_file_and_raises(tmp_path: Path) -> None:
    target = tmp_path / ".calpolicy_loaded"
    target.mkdir()
    (target / "keep").write_bytes(b"")
    with pytest.raises(IsADirectoryError):  # rename(2): EISDIR, a file cannot replace a folder
        write_atomic(target, b"new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".calpolicy_loaded"]
    assert [p.name for p in target.iterdir()] == ["keep"]
