"""The one way calpolicy reads its job, config, archive, history, lock and statement files.

Every such read goes through ``read_bytes`` (or ``open_regular`` for a streamed digest), because a plain
``open().read()`` trusts the path: a FIFO in the file's place blocks the reader forever (holding the apply
lock, so even ``rollback none`` is then refused), a symlink to ``/dev/zero`` reads until memory runs out,
and a symlink planted in a folder calpolicy owns redirects the read (or a write) to any file on the host.
Here a file is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a final symlink is refused, a FIFO never blocks),
checked with ``fstat`` *after* the open (regular files only: no race between check and use), and read up
to a per-kind size cap. Where the folder is ours too (a job folder), it is opened with
``O_DIRECTORY | O_NOFOLLOW`` and the file relative to it, so a swapped-in folder symlink is refused as well.

A missing file raises ``FileNotFoundError`` (callers decide whether absent is allowed); every other refusal
raises ``UnsafeFileError``, an ``OSError`` whose ``strerror`` is one line naming the path and the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

MiB = 1 << 20
# Caps per kind of file: far above any legitimate file, far below what exhausts memory.
CAPS: dict[str, int] = {
    "calibration": 16 * MiB,  # the live calibration.json and its archive copies
    "archive": 16 * MiB,
    "history": 64 * MiB,  # the append-only apply history
    "decisions": 64 * MiB,  # the jobs' append-only decisions log
    "lock": 64 * 1024,  # .calpolicy.lock: one small JSON object
    "marker": 64 * 1024,  # the loader's .calpolicy_loaded
    "manifest": 8 * MiB,
    "job": 256 * MiB,  # any other file of a job folder (report, proposal, results, PNG, HTML)
    "statement": 64 * MiB,  # statement.json and statement.sig (its payload is the statement)
    "key": 64 * 1024,  # PEM keys
}
# Kinds whose bytes calpolicy copies elsewhere or rewrites in place: one of them with a second name is a
# hard link, and the other file would be copied (the private key hard-linked as calibration.json went into
# the archive readable by all) or truncated (the lock). Refused like a symlink. Other kinds (a manifest, an
# archive copy, the history) are only judged, so a hard-link snapshot of the folders (`cp -al`) still reads;
# every file calpolicy writes or appends to is refused with a second name (``_checked_write_fd``).
SINGLE_NAME_KINDS = frozenset({"calibration", "lock"})
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class UnsafeFileError(OSError):
    """A file calpolicy refuses to read: not a regular file, a symlink, too large, or unreadable."""

    def __init__(self, path: Path | str, reason: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, f"{path}: {reason}", str(path))
        self.reason = reason  # without the path: for a caller that names the file itself

    def __str__(self) -> str:
        return str(self.strerror)


def kind_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _open(path: Path, dir_fd: int | None, shown: Path) -> int:
    try:
        return os.open(path, OPEN_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{shown} does not exist", str(shown)) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(shown, "is a symbolic link; refusing to follow it", errno.ELOOP) from None
        if error.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing
            raise UnsafeFileError(shown, "is not a regular file", errno.ENXIO) from None
        if error.errno == errno.ENOTDIR:
            reason = "cannot be opened: a part of its path is not a folder"
            raise UnsafeFileError(shown, reason, errno.ENOTDIR) from None
        raise UnsafeFileError(shown, f"cannot be opened: {error.strerror}", error.errno or errno.EIO) from None


def open_folder(folder: Path) -> int:
    """An fd of ``folder`` itself, refusing a symlink in its place (``O_DIRECTORY | O_NOFOLLOW``)."""
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{folder} does not exist", str(folder)) from None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFileError(folder, "is not a folder (a symbolic link or a file is in its place)") from None
        raise UnsafeFileError(folder, f"cannot be opened: {error.strerror}", error.errno or errno.EIO) from None


@contextlib.contextmanager
def open_regular(path: Path | str, kind: str = "job", *, folder_fd: int | None = None) -> Iterator[int]:
    """An fd open for reading on a regular file (checked by ``fstat`` after the open) within its kind's cap.

    With ``folder_fd`` the path is a plain name inside that (already safely opened) folder.
    """
    path = Path(path)
    fd = _open(path, folder_fd, path)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(path, f"is {kind_name(info.st_mode)}, not a regular file")
        if info.st_nlink > 1 and kind in SINGLE_NAME_KINDS:
            raise UnsafeFileError(path, f"has {info.st_nlink} hard links (another name for the same file); refusing it")
        cap = CAPS[kind]
        if info.st_size > cap:
            raise UnsafeFileError(path, f"is {info.st_size} bytes, more than the {cap} allowed for a {kind} file")
        yield fd
    finally:
        os.close(fd)


def _read_all(fd: int, path: Path, cap: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = os.read(fd, min(MiB, cap + 1 - total))
        except OSError as error:
            raise UnsafeFileError(path, f"cannot be read: {error.strerror}", error.errno or errno.EIO) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            raise UnsafeFileError(path, f"grew past the {cap} bytes allowed while it was read")


def read_bytes(path: Path | str, kind: str, *, folder_fd: int | None = None) -> bytes:
    """All bytes of a regular file, never following a final symlink, never blocking, at most its cap."""
    with open_regular(path, kind, folder_fd=folder_fd) as fd:
        return _read_all(fd, Path(path), CAPS[kind])


def read_optional(path: Path | str, kind: str) -> bytes | None:
    """``read_bytes``, but None when the file does not exist (any other problem still raises)."""
    try:
        return read_bytes(path, kind)
    except FileNotFoundError:
        return None


def open_for_append(path: Path | str, mode: int = 0o644) -> int:
    """An ``O_APPEND`` fd on a regular file (created if absent), never through a symlink or into a FIFO."""
    path = Path(path)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    return _checked_write_fd(path, flags, mode)


def open_for_update(path: Path | str, mode: int = 0o644) -> int:
    """An ``O_RDWR`` fd on a regular file (created if absent), never through a symlink or into a FIFO."""
    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    return _checked_write_fd(path, flags, mode)


def _checked_write_fd(path: Path, flags: int, mode: int) -> int:
    try:
        fd = os.open(path, flags, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(path, "is a symbolic link; refusing to write through it", errno.ELOOP) from None
        if error.errno == errno.ENXIO:
            raise UnsafeFileError(path, "is a FIFO or socket, not a regular file", errno.ENXIO) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFileError(path, f"is {kind_name(info.st_mode)}, not a regular file; refusing to write to it")
    if info.st_nlink > 1:  # a hard link: truncating or appending would change another file too (a key, a config)
        os.close(fd)
        reason = f"has {info.st_nlink} hard links (another name for the same file); refusing to write to it"
        raise UnsafeFileError(path, reason)
    return fd
