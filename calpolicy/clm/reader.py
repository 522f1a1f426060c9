"""Read the CLM trade log into columns, keeping every record's source line number.

Two paths give the same ``TradeLog``. The fast path hands the whole file to Arrow's multi-threaded JSON
reader with an explicit schema; it only succeeds when every line is a well-typed JSON object. Anything
else (a broken line, a string where a price belongs, a duplicated key) makes Arrow refuse the file, and
the file is read again in blocks: lines shaped like one object go to Arrow in pieces, a piece Arrow
refuses is halved until the bad lines are found, and those are read line by line (``decode.py``) so each
defect is reported against its own line number. Lines that cannot be an object are counted and only the
first ``max_examples`` of them are examined, so memory stays a small multiple of the file size whatever
the file holds. The reader never drops, repairs or rewrites a record: a defective value is kept as
missing and reported.

Arrow's parser overflows the stack (SIGSEGV) on lines nested about 20,000 deep, so no line that could
nest deeply ever reaches it: ``scan.py`` proves the whole file safe first, and the irregular path sends a
long line with many brackets to be read alone.

The paths live in private modules, one per reason to change: ``_arrow.py`` (the fast path),
``_irregular.py`` (blocks, pieces and halving), ``_exact.py`` (line by line) and ``_frame.py``
(``TradeLog`` and the frame all of them build). This module keeps the public names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from calpolicy.clm._arrow import NotClean, fast_read, release_freed_memory
from calpolicy.clm._frame import Buffer, TradeLog, ends_with, sorted_union
from calpolicy.clm._irregular import slow_read
from calpolicy.clm.raw import RawLog, digest_in_background, read_raw
from calpolicy.clm.scan import Scan

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "Buffer",
    "TradeLog",
    "parse_clm_bytes",
    "parse_raw",
    "read_clm",
    "release_freed_memory",
    "sorted_union",
]


DEFAULT_MAX_EXAMPLES = 20


def read_clm(path: str | Path, max_bytes: int | None = None, max_examples: int = DEFAULT_MAX_EXAMPLES) -> TradeLog:
    """Read ``path``; a file that is missing, unreadable or too large comes back with ``read_error`` set.

    Every operating-system refusal (no permission on a folder on the way, a name too long, a loop of
    links) becomes a read error naming the cause: the gate then says "could not check", never crashes.
    """
    return parse_raw(read_raw(path, max_bytes), max_examples)


def parse_raw(raw: RawLog, max_examples: int = DEFAULT_MAX_EXAMPLES) -> TradeLog:
    """The log from bytes already read (by ``read_raw`` or a ``Prefetch``), or the reason there are none."""
    if raw.read_error is not None:
        return TradeLog(path=raw.path, exists=raw.exists, size_bytes=raw.size_bytes, read_error=raw.read_error)
    return parse_clm_bytes(raw.data, raw.path, max_examples, digest=raw.digest, scan=raw.scan)


def _file_encoding(data: Buffer) -> str | None:
    head = bytes(data[:4])
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 (byte-order mark)"
    if head.startswith(b"\xef\xbb\xbf"):
        return "UTF-8 with a byte-order mark (BOM)"
    if b"\x00" in bytes(data[:4096]):
        return "UTF-16 or another encoding with NUL bytes"
    return None


def parse_clm_bytes(
    data: Buffer,
    path: Path | str = "<bytes>",
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    digest: Callable[[], str] | None = None,
    scan: Scan | None = None,
) -> TradeLog:
    """Parse an in-memory (or memory-mapped) log; the same code path as ``read_clm``.

    ``digest`` waits for the SHA-256 when the caller is already hashing the bytes (a ``Prefetch`` hashes
    while the interpreter imports); ``scan`` likewise is ``scan_lines(data)`` when the caller ran it.
    Without ``digest``, the bytes are hashed in a thread beside Arrow's parse, which holds no GIL.
    """
    wait_for_digest = digest or digest_in_background(data)
    log = TradeLog(path=Path(path), exists=True, size_bytes=len(data))
    log.missing_final_newline = len(data) > 0 and not ends_with(data, b"\n")
    log.encoding = _file_encoding(data)
    if log.encoding is not None and log.encoding.startswith("UTF-16"):
        # Not a defect in some lines: no line of it can be read, so the gate cannot judge the data.
        log.read_error = f"CLM file is {log.encoding}, not UTF-8 JSON lines; the recorder writes UTF-8"
        log.sha256 = wait_for_digest()
        return log
    try:
        fast_read(data, log, scan)
    except NotClean:
        for partial in (log.nulls, log.type_errors, log.alias_conflicts, log.aliases_used):
            partial.clear()  # what the fast path noted before giving up is re-derived piece by piece
        slow_read(data, log, max_examples)
    log.sha256 = wait_for_digest()
    return log
