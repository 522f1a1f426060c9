"""The CLM file's bytes and their digest, read apart from the parse.

Kept free of NumPy, pandas and Arrow so that a command can start reading, hashing and scanning the log in
threads *before* it imports them: on a million-line log the read (0.25 s), the SHA-256 (0.2 s) and the
line scan (0.1-0.2 s) then run on the second core while the interpreter spends 0.3-0.5 s importing pandas
and Arrow, instead of after it. The reader itself reads through the same function, so the size limit and
every operating-system refusal are worded once.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calpolicy.clm.scan import Scan


@dataclass
class RawLog:
    """What reading the file gave: its bytes, or why there are none (``read_error``)."""

    path: Path
    exists: bool
    data: bytes = b""
    size_bytes: int = 0
    read_error: str | None = None
    digest: Callable[[], str] | None = None  # waits for the digest a ``Prefetch`` is computing; else the parser hashes
    scan: Scan | None = None  # ``scan_lines(data)``, when a ``Prefetch`` ran it


def read_raw(path: str | Path, max_bytes: int | None = None) -> RawLog:
    """Read ``path`` whole, refusing a file over ``max_bytes``; every refusal is a message, never a raise.

    Read, not memory-mapped: a log truncated while mapped (logrotate's copytruncate) would kill the
    process with SIGBUS instead of giving a message; the copy costs about 0.2 s per million lines.
    """
    source = Path(path)
    try:
        status = os.stat(source)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return RawLog(path=source, exists=False, read_error=f"CLM file not found: {source}")
        return RawLog(path=source, exists=True, read_error=_os_problem(source, error))
    except ValueError as error:  # an embedded NUL byte in the path
        return RawLog(path=source, exists=False, read_error=f"CLM path is not usable: {error}")
    if not stat.S_ISREG(status.st_mode):
        return RawLog(path=source, exists=True, read_error=f"CLM path is not a regular file: {source}")
    size = status.st_size
    if max_bytes is not None and size > max_bytes:
        problem = (
            f"CLM file is {size / 2**20:.0f} MiB, above the configured limit of "
            f"{max_bytes / 2**20:.0f} MiB (data.max_file_mb); refusing to load it"
        )
        return RawLog(path=source, exists=True, size_bytes=size, read_error=problem)
    try:
        # non-blocking, and judged again on the open descriptor: a FIFO swapped in after the stat above
        # must neither hang the open nor be read (the watch and `run` read this path, which is not ours)
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                return RawLog(path=source, exists=True, read_error=f"CLM path is not a regular file: {source}")
            size = opened.st_size
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(size if max_bytes is None else max_bytes + 1)
        finally:
            os.close(fd)
    except OSError as error:
        return RawLog(path=source, exists=True, read_error=_os_problem(source, error))
    if max_bytes is not None and len(data) > max_bytes:  # it grew between stat and read
        problem = "CLM file grew past data.max_file_mb while being read"
        return RawLog(path=source, exists=True, size_bytes=len(data), read_error=problem)
    return RawLog(path=source, exists=True, data=data, size_bytes=len(data))


def _os_problem(source: Path, error: OSError) -> str:
    reason = error.strerror or str(error)
    if error.errno == errno.EACCES:
        return f"CLM file cannot be read: permission denied on {source} or a folder above it"
    if error.errno == errno.ENAMETOOLONG:
        return f"CLM file cannot be read: its name is too long for the file system ({len(source.name)} characters)"
    return f"CLM file cannot be read: {reason}"


class Prefetch:
    """Reads the log in a background thread from the moment it is made, then hashes and scans it.

    The read, ``hashlib.sha256`` and NumPy's scan all release the GIL on large buffers, so they use the
    second core while the main thread imports. The digest runs in a thread of its own and is only waited
    for once the parse is done (``RawLog.digest``). ``result()`` waits for the read and the scan and
    re-raises anything unexpected in the caller's thread, where the CLI's last-resort handler reports it.
    """

    def __init__(self, path: str | Path, max_bytes: int | None = None) -> None:
        self._path, self._max_bytes = path, max_bytes
        self._raw: RawLog | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="calpolicy-clm-prefetch", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            raw = read_raw(self._path, self._max_bytes)
            if raw.read_error is None:
                raw.digest = digest_in_background(raw.data)
                if raw.data[:1] == b"{":  # anything else goes line by line, where no whole-file scan is used
                    from calpolicy.clm.scan import scan_lines

                    raw.scan = scan_lines(raw.data)
            self._raw = raw
        except BaseException as failure:
            self._failure = failure

    def result(self) -> RawLog:
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        assert self._raw is not None
        return self._raw


def digest_in_background(data: bytes | mmap.mmap) -> Callable[[], str]:
    """Start hashing ``data`` in a daemon thread (``hashlib`` releases the GIL); the returned call waits for
    the hex digest and raises whatever the hashing raised."""
    future: Future[str] = Future()

    def work() -> None:
        try:
            future.set_result(hashlib.sha256(data).hexdigest())
        except BaseException as failure:
            future.set_exception(failure)

    threading.Thread(target=work, name="calpolicy-clm-digest", daemon=True).start()
    return future.result
