"""Reading and writing the loader's two files without ever blocking, following a loop or eating memory.

Why a helper of its own: the engine calls the loader from its constructor, its request path and a poll
thread, so a read that hangs (a FIFO as ``calibration.json``), never ends (a symlink to ``/dev/zero``) or
raises (a symlink loop) would stop the engine. Every read here opens with ``O_NONBLOCK``, checks with
``fstat`` that it holds a regular file, and reads at most ``MAX_BYTES`` + 1 bytes. Writes (the
acknowledgement) go through a temp file, fsync and ``os.replace``, so a reader sees old or new bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

MAX_BYTES = 4 * 2**20  # a calibration file is a few KB; 4 MiB leaves room for many per-model maps
TEMP_PREFIX = ".calpolicy-tmp-"  # calpolicy.files.atomic_io's too: its clean-up removes what a killed writer left

StatKey = tuple[int, int, int, int, int]


class Unreadable(Exception):
    """The file cannot be read as a calibration file; ``str()`` is the one-line reason."""


def stat_key(path: Path) -> StatKey | str | None:
    """What identifies the file's current content for polling: ``None`` when missing, a string on error.

    An error (a symlink loop, a permission problem) is a stable key too, so the poll thread does not
    retry and re-log it five times a second; it looks again when the error changes.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        return f"error:{getattr(error, 'errno', None)}"
    return _key(st)


def _key(st: os.stat_result) -> StatKey:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def read_bounded(path: Path, max_bytes: int = MAX_BYTES) -> tuple[bytes, StatKey]:
    """The whole content of the regular file at ``path`` and its stat key; raises ``FileNotFoundError``
    when it is missing and ``Unreadable`` for anything else that is not a readable regular file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise Unreadable(_why(error)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"is not a regular file (it is a {_kind(st.st_mode)}); refusing to read it")
        if st.st_size > max_bytes:
            raise Unreadable(f"is {st.st_size} bytes, more than the {max_bytes} a calibration file may have")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise Unreadable(f"grew past {max_bytes} bytes while being read; refusing to read it")
        return b"".join(chunks), _key(st)
    except OSError as error:
        raise Unreadable(_why(error)) from None
    finally:
        os.close(fd)


def _why(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "is a symlink loop (too many levels of symbolic links)"
    return f"cannot be read: {error.strerror or error}"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``target`` with ``data``: temp file in its folder, fsync, ``os.replace``, folder fsync.

    The same code as ``calpolicy.files.atomic_io.write_atomic``: calpolicy keeps a copy instead of importing this
    one (its docstring says why), and its ``unit_tests/test_checked_copies.py`` keeps the two identical.
    """
    target = Path(target)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(target.parent)
