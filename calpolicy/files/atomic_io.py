"""Crash-safe file writes: temp file in the target's folder → write → fsync → ``os.replace`` → fsync folder.

After a crash at any instant a reader sees either the old bytes or the new bytes under the target name,
never a mix (``os.replace`` is one rename on one filesystem), and once ``write_atomic`` returns the new
name survives a power cut (the folder entry is fsynced too). The temp file is removed on any failure, so
a full disk or a read-only folder leaves nothing half-written behind.

``fsync_dir`` and ``write_atomic`` are written twice on purpose: the loader distribution has the same two
(``calpolicy_loader.files``, for the engine's acknowledgement) and may import nothing of calpolicy, and
calpolicy does not import them from there because importing any module of ``calpolicy_loader`` runs its
package ``__init__``, which imports numpy: ``calpolicy jobs``, ``status``, ``verify`` and ``abort`` would
pay for numpy (``import calpolicy.jobs`` went from about 0.35 s to 0.9 s at load 11) to write a file.
``unit_tests/test_checked_copies.py`` keeps the two copies the same code and ``TEMP_PREFIX`` the same
string, which ``clean_stale_temps`` relies on to clear a temp file a killed loader left in the live folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path

TEMP_PREFIX = ".calpolicy-tmp-"


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``target`` with ``data`` atomically and durably; raises ``OSError`` with nothing changed."""
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


def remove_durably(target: Path) -> None:
    """Unlink ``target`` (which must exist) and fsync its folder."""
    os.unlink(target)
    fsync_dir(Path(target).parent)


def append_durably(target: Path, line: bytes) -> None:
    """Append one line (O_APPEND, one write) and fsync: an append-only log that a crash cannot reorder.

    A crash can at worst leave the last line without its newline; readers skip such a torn tail.
    """
    from calpolicy.files.safe_read import open_for_append  # never through a symlink, never into a FIFO

    fd = open_for_append(target)
    try:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"  # a killed writer's tail: end it, keep ours whole
        data = (b"\n" if torn else b"") + (line if line.endswith(b"\n") else line + b"\n")
        written = os.write(fd, data)
        if written != len(data):  # the disk filled mid-line: a torn tail that readers skip, never a record
            raise OSError(errno.ENOSPC, f"the disk took only {written} of the line's {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_prefix(path: Path, length: int, chunk: int = 1 << 20) -> tuple[str, int]:
    """sha256 of the first ``length`` bytes of ``path`` and how many bytes were actually there."""
    digest = hashlib.sha256()
    remaining = length
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)  # a FIFO must not block
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file", str(path))
        while remaining > 0:
            block = os.read(fd, min(chunk, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    finally:
        os.close(fd)
    return digest.hexdigest(), length - remaining


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove temp files a killed writer left behind (they never carry a live name)."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in Path(folder).iterdir():
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file():
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
    return removed
