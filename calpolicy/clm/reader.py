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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import heapq
import itertools
import math
import mmap
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from calpolicy.clm.decode import MAX_DEPTH, decode_line, encoding_problem
from calpolicy.clm.fields import (
    FIELD_BY_COLUMN,
    FIELDS,
    MODEL_PREDICTIONS_KEY,
    FieldSpec,
    action_column,
    conf_column,
)
from calpolicy.clm.raw import RawLog, digest_in_background, read_raw
from calpolicy.clm.scan import (
    ARROW_SAFE_LINE,
    CLOSE,
    CR,
    MIN_RECORD_BYTES,
    NEWLINE,
    OPEN,
    Scan,
    arrow_can_take,
    scan_lines,
)


def _load_libc() -> ctypes.CDLL | None:
    """glibc, for ``malloc_trim``; ``None`` on a C library without it (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_WHITESPACE = np.array([ord(" "), ord("\t"), ord("\r"), ord("\f"), ord("\v")], dtype=np.uint8)
_ARROW_TYPES = {"number": pa.float64(), "string": pa.large_string()}  # large: what pandas 3 str holds
_MIN_PIECE_BYTES = 8 << 20
_PARSE_PIECE_BYTES = 32 << 20  # the fast path parses pieces of about this size, one per core at a time
_BLOCK = 1 << 20  # the irregular path classifies lines this many bytes at a time
_BLOCK_LINES = 1 << 16
_PIECE_BYTES = 32 << 20  # object-shaped lines gathered for one Arrow call
_PIECE_LINES = 64  # below this, a piece Arrow refuses is read line by line instead of halved again
_ZONED = re.compile(r"(?:Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)\Z")  # at the very end: no newline may follow
DEFAULT_MAX_EXAMPLES = 20
_ARROW_SCHEMA = pa.schema([(alias, _ARROW_TYPES[spec.kind]) for spec in FIELDS for alias in spec.aliases])
_GATE_COLUMNS = frozenset([*_ARROW_SCHEMA.names, MODEL_PREDICTIONS_KEY])  # every other field is never read
_LIBC = _load_libc()
# The C library's allocator for the big Arrow buffers: Arrow's default (mimalloc) hands freed pages back and
# faults them in again, which cost 0.2-0.4 s of system time and 40 MiB more peak per million lines here.
_POOL = pa.system_memory_pool()


class _NotClean(Exception):
    """The fast path cannot represent this file faithfully; read it line by line instead."""


@dataclass
class TradeLog:
    """The analysed trade log: normalised columns plus everything the reader noticed on the way.

    ``frame`` has one row per JSON object, indexed by nothing but carrying ``line`` (1-based source line).
    ``nulls``/``type_errors`` map a normalised column to the line numbers where the value was missing or
    null / of the wrong JSON type. ``parse_errors`` holds the first ``max_examples`` lines that are not
    one JSON object (with the reason) and ``parse_error_count`` how many there are in all; likewise
    ``blank_lines`` (the first few) and ``blank_count``. ``encoding`` names a non-UTF-8 encoding when the
    file's first bytes show one.
    """

    path: Path
    exists: bool
    read_error: str | None = None
    sha256: str = ""
    size_bytes: int = 0
    line_count: int = 0
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    models: tuple[str, ...] = ()
    parse_errors: list[tuple[int, str]] = field(default_factory=list)
    parse_error_count: int = 0
    blank_lines: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    blank_count: int = 0
    nulls: dict[str, np.ndarray] = field(default_factory=dict)
    type_errors: dict[str, np.ndarray] = field(default_factory=dict)
    alias_conflicts: dict[str, np.ndarray] = field(default_factory=dict)
    aliases_used: dict[str, list[str]] = field(default_factory=dict)
    missing_final_newline: bool = False
    last_line_torn: bool = False
    encoding: str | None = None
    crlf: bool = False
    reader: str = "none"

    @property
    def records(self) -> int:
        return len(self.frame)

    def lines_of(self, mask: np.ndarray | pd.Series) -> np.ndarray:
        """Source line numbers of the rows selected by a boolean mask."""
        return self.frame["line"].to_numpy()[np.asarray(mask, dtype=bool)]


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


Buffer = bytes | mmap.mmap


def _ends_with(data: Buffer, suffix: bytes) -> bool:
    return len(data) >= len(suffix) and data[len(data) - len(suffix) :] == suffix


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
    log.missing_final_newline = len(data) > 0 and not _ends_with(data, b"\n")
    log.encoding = _file_encoding(data)
    if log.encoding is not None and log.encoding.startswith("UTF-16"):
        # Not a defect in some lines: no line of it can be read, so the gate cannot judge the data.
        log.read_error = f"CLM file is {log.encoding}, not UTF-8 JSON lines; the recorder writes UTF-8"
        log.sha256 = wait_for_digest()
        return log
    try:
        _fast_read(data, log, scan)
    except _NotClean:
        for partial in (log.nulls, log.type_errors, log.alias_conflicts, log.aliases_used):
            partial.clear()  # what the fast path noted before giving up is re-derived piece by piece
        _slow_read(data, log, max_examples)
    log.sha256 = wait_for_digest()
    return log


# ---------------------------------------------------------------------------------------------- fast path


def _one_object_per_line(data: Buffer, rows: int, scan: Scan) -> bool:
    """True when the file is exactly ``rows`` lines of ``{...}``: no blank lines, no two values on a line,
    no object spread over lines. Only then is row i line i + 1, with no line-by-line scan needed.
    """
    if not (_ends_with(data, b"}\n") or _ends_with(data, b"}\r\n") or _ends_with(data, b"}")):
        return False
    newlines = rows if _ends_with(data, b"\n") else rows - 1
    return scan.boundaries == rows - 1 and scan.newlines == newlines


def _parse_in_parallel(data: Buffer) -> pa.Table:
    """Cut the file at line ends into pieces of about ``_PARSE_PIECE_BYTES`` and parse them in one thread
    per core (Arrow releases the GIL; its reader barely uses a second core on its own).

    Bounded pieces bound memory: each piece keeps only the columns the gate reads as soon as it is
    parsed, so fields the gate never looks at (a log of short lines full of unknown keys makes Arrow
    columns larger than the file) cost one piece's worth of memory, not the whole file's.

    Every piece must open with ``{``: a piece whose first value is a bare ``null`` segfaults
    ``pyarrow.json.read_json`` (Arrow 26, found by the hypothesis tests), so no such input reaches it.
    """
    pieces = max(1, min(len(data) // _MIN_PIECE_BYTES, max(pa.cpu_count(), len(data) // _PARSE_PIECE_BYTES)))
    cuts = [0]
    for index in range(1, pieces):
        cut = data.find(b"\n", len(data) * index // pieces) + 1
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(len(data))
    view = memoryview(data)
    chunks = [view[start:end] for start, end in itertools.pairwise(cuts) if end > start]
    if not chunks or any(chunk[:1] != b"{" for chunk in chunks):
        raise _NotClean("a piece does not open with a JSON object")
    try:
        if len(chunks) == 1:
            return _parse_piece(chunks[0], use_threads=True)
        with ThreadPoolExecutor(max_workers=min(len(chunks), pa.cpu_count())) as pool:
            tables = list(pool.map(_parse_piece, chunks))
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise _NotClean(str(error)) from None


def _parse_piece(chunk: memoryview, use_threads: bool = False) -> pa.Table:
    """Arrow's parse of one piece, cut down to the fields the gate reads once their depth is checked."""
    options = pa_json.ParseOptions(explicit_schema=_ARROW_SCHEMA, unexpected_field_behavior="infer")
    read_options = pa_json.ReadOptions(block_size=16 << 20, use_threads=use_threads)
    table = pa_json.read_json(pa.py_buffer(chunk), read_options=read_options, parse_options=options, memory_pool=_POOL)
    _refuse_deep(table)
    return table.select([name for name in table.column_names if name in _GATE_COLUMNS])


def release_freed_memory() -> None:
    """Hand memory freed in threads' heaps back to the system (glibc ``malloc_trim``; a no-op elsewhere).

    Arrow's parse threads allocate from per-thread heaps, which the main thread's allocations never
    reuse: without this, their freed scratch space stays resident while the frame is built beside it.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _fast_read(data: Buffer, log: TradeLog, scan: Scan | None = None) -> None:
    """Arrow's reader, for files that are clean one-object-per-line JSON; anything else raises _NotClean.

    ``scan`` is ``scan_lines(data)`` when the caller (a ``Prefetch``) has already run it.
    """
    if data[:1] != b"{":
        raise _NotClean("the file does not open with a JSON object")
    scan = scan or scan_lines(data)
    if not scan.arrow_safe:
        raise _NotClean("a long line holds many brackets: it may nest deeper than Arrow can parse")
    try:
        table = _parse_in_parallel(data)
    finally:
        release_freed_memory()  # the parser's scratch space, freed in the worker threads' own heaps
    if not _one_object_per_line(data, table.num_rows, scan):
        raise _NotClean("not exactly one JSON object per line")
    log.line_count = table.num_rows
    log.crlf = scan.crlf > 0
    _fill_from_arrow(table, np.arange(1, table.num_rows + 1, dtype=np.int64), log)


# ------------------------------------------------------------------------------------- irregular files


@dataclass
class _Problems:
    """Lines that are not one object, or blank: counted in full, examined only for the first few.

    The reasons kept are those of the ``cap`` lowest line numbers seen, whatever order the pieces arrive
    in (a bounded heap), so a file of ten million junk lines costs ten million counts, not ten million
    strings.
    """

    cap: int
    heap: list[tuple[int, str]] = field(default_factory=list)  # (-line, reason): the largest on top
    error_count: int = 0
    blank: list[np.ndarray] = field(default_factory=list)
    blank_seen: int = 0
    blank_count: int = 0

    def add_blank(self, numbers: np.ndarray) -> None:
        self.blank_count += len(numbers)
        if self.blank_seen < self.cap and len(numbers):
            kept = numbers[: self.cap - self.blank_seen]
            self.blank.append(kept)
            self.blank_seen += len(kept)

    def wants(self, number: int) -> bool:
        return len(self.heap) < self.cap or -self.heap[0][0] > number

    def add_error(self, number: int, reason: str) -> None:
        self.error_count += 1
        if self.wants(number):
            heapq.heappush(self.heap, (-number, reason))
            if len(self.heap) > self.cap:
                heapq.heappop(self.heap)

    def add_bad(self, data: Buffer, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray) -> None:
        """Lines that cannot be one JSON object; only those that make the first ``cap`` are decoded."""
        self.error_count += len(numbers)
        for start, end, number in zip(starts.tolist(), ends.tolist(), numbers.tolist(), strict=True):
            if not self.wants(number):
                break  # ascending within a block: no later line can make the cut either
            heapq.heappush(self.heap, (-number, _bad_reason(data, start, end)))
            if len(self.heap) > self.cap:
                heapq.heappop(self.heap)

    def examples(self) -> list[tuple[int, str]]:
        return sorted((-negative, reason) for negative, reason in self.heap)


def _bad_reason(data: Buffer, start: int, end: int) -> str:
    """Why a line that cannot be one object is not one: the parser's words for a short line, the shape
    for a long one (decoding a 200 MB line to say "expecting value at column 1" costs its size twice)."""
    if end - start <= 1 << 16:
        obj, problem = decode_line(bytes(data[start:end]))
        if problem is not None:
            return problem
        if isinstance(obj, dict):
            return (
                f"a {end - start}-byte object: too short to hold all seven required fields "
                f"(timestamp, symbol, side, entry_price, exit_price, pnl_percent, confidence)"
            )
        return f"not a JSON object (a JSON {type(obj).__name__})"
    head = bytes(data[start : start + 4096])
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return encoding_problem(head)
    return f"a {end - start}-byte line that is not one JSON object (it starts {head[:20]!r})"


def _blocks(data: Buffer, buf: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(end, line starts, line ends)`` for successive blocks of whole lines: at most ``_BLOCK`` bytes or
    ``_BLOCK_LINES`` lines each (a single longer line is a block of its own). Bounded so that the per-line
    arrays stay small even for a file of ten million two-byte lines."""
    start = 0
    while start < len(data):
        newlines = np.flatnonzero(buf[start : start + _BLOCK] == NEWLINE)
        if len(newlines) > _BLOCK_LINES:
            newlines = newlines[:_BLOCK_LINES]
        if len(newlines):
            end = start + int(newlines[-1]) + 1
        else:
            cut = data.find(b"\n", start + _BLOCK)
            end = len(data) if cut < 0 else cut + 1
            newlines = np.asarray([end - 1 - start] if cut >= 0 else [], dtype=np.int64)
        positions = newlines.astype(np.int64) + start
        starts = np.concatenate(([start], positions + 1))[: len(positions)]
        ends = positions
        if end == len(data) and data[end - 1 : end] != b"\n":  # a last line without its newline
            starts = np.concatenate((starts, [int(positions[-1]) + 1 if len(positions) else start]))
            ends = np.concatenate((ends, [end]))
        yield end, starts.astype(np.int64), ends.astype(np.int64)
        start = end


_BLANK, _ARROW, _ALONE, _BAD, _SHORT = 0, 1, 2, 3, 4


def _classify(data: Buffer, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per line: blank, object-shaped for Arrow, object-shaped but to be read alone, or not an object.

    Vectorised on each line's first and last byte; only lines with whitespace at an edge are stripped one
    by one. A line that does not start with '{' and end with '}' (after whitespace) cannot be one object.
    """
    kind = np.full(len(starts), _BAD, dtype=np.int8)
    empty = ends == starts
    kind[empty] = _BLANK
    full = np.flatnonzero(~empty)
    if not len(full):
        return kind
    first = buf[starts[full]]
    last_at = ends[full] - 1
    cr = (buf[last_at] == CR) & (last_at > starts[full])
    last = buf[np.where(cr, last_at - 1, last_at)]
    edge = np.isin(first, _WHITESPACE) | np.isin(last, _WHITESPACE)
    shaped = (first == OPEN) & (last == CLOSE) & ~edge
    kind[full[shaped]] = _ARROW
    kind[full[shaped & ((ends[full] - starts[full]) < MIN_RECORD_BYTES)]] = _SHORT
    long = full[shaped & ((ends[full] - starts[full]) > ARROW_SAFE_LINE)]
    for index in long.tolist():
        start, end = int(starts[index]), int(ends[index])
        if not arrow_can_take(buf, start, end):
            kind[index] = _ALONE
    for index in full[edge].tolist():
        stripped = bytes(data[starts[index] : ends[index]]).strip(b" \t\r\f\v")
        if not stripped:
            kind[index] = _BLANK
        elif stripped.startswith(b"{") and stripped.endswith(b"}"):
            kind[index] = _ALONE
    return kind


def _slow_read(data: Buffer, log: TradeLog, max_examples: int) -> None:
    """The file is not clean as a whole: classify its lines block by block, give the object-shaped ones
    to Arrow in pieces, and read the rest alone. One torn write then costs its piece a few halvings."""
    buf = np.frombuffer(data, dtype=np.uint8)
    problems = _Problems(max_examples)
    parts: list[TradeLog] = []
    pending: list[tuple[bytes | memoryview, np.ndarray]] = []
    pending_bytes = 0
    line_base = 0
    crlf = 0
    last_start = len(data)
    for block_end, starts, ends in _blocks(data, buf):
        numbers = np.arange(line_base + 1, line_base + 1 + len(starts), dtype=np.int64)
        line_base += len(starts)
        if len(starts):
            crlf += int(np.count_nonzero((ends > starts) & (buf[np.maximum(ends - 1, 0)] == CR)))
        kind = _classify(data, buf, starts, ends)
        if len(starts):
            last_start = int(starts[-1])
        problems.add_blank(numbers[kind == _BLANK])
        bad = (kind == _BAD) | (kind == _SHORT)
        problems.add_bad(data, starts[bad], ends[bad], numbers[bad])
        alone = kind == _ALONE
        if alone.any():
            part = TradeLog(path=log.path, exists=True)
            _exact_read(data, starts[alone], ends[alone], numbers[alone], part, problems)
            parts.append(part)
        keep = kind == _ARROW
        if keep.any():
            chunk, lines = _gather(data, buf, starts, ends, keep, numbers, block_end)
            pending.append((chunk, lines))
            pending_bytes += len(chunk)
        if pending_bytes >= _PIECE_BYTES:
            _flush(pending, log, parts, problems)
            pending, pending_bytes = [], 0
    _flush(pending, log, parts, problems)
    release_freed_memory()
    log.line_count = line_base
    log.crlf = crlf > 0
    log.parse_errors = problems.examples()
    log.parse_error_count = problems.error_count
    log.blank_lines = np.concatenate(problems.blank) if problems.blank else np.empty(0, dtype=np.int64)
    log.blank_count = problems.blank_count
    # A torn write: the last line lacks its newline, is the start of a record, and does not parse. Not
    # said of a UTF-16 file or a JSON array, whose last line is wrong for another reason.
    log.last_line_torn = bool(
        log.missing_final_newline
        and log.encoding is None
        and last_start < len(data)
        and data[last_start : last_start + 1] == b"{"
        and any(number == line_base for number, _ in log.parse_errors)
    )
    if not parts:
        log.reader = "empty" if not problems.error_count else "exact"
        log.frame = _empty_frame()
        return
    _merge(parts, log)


def _gather(
    data: Buffer,
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    keep: np.ndarray,
    numbers: np.ndarray,
    block_end: int,
) -> tuple[bytes | memoryview, np.ndarray]:
    """The kept lines of a block as one newline-separated buffer (a plain slice when all are kept)."""
    first = int(starts[0])
    if keep.all():  # the usual case: the block itself, no copy until the piece is joined
        chunk = memoryview(data)[first:block_end]
        return (chunk if buf[block_end - 1] == NEWLINE else b"".join((chunk, b"\n"))), numbers
    lengths = np.diff(np.concatenate((starts, [block_end])))  # each line with its newline
    mask = np.repeat(keep, lengths)
    chunk = buf[first:block_end][mask].tobytes()
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
    return chunk, numbers[keep]


def _flush(
    pending: list[tuple[bytes | memoryview, np.ndarray]], log: TradeLog, parts: list[TradeLog], problems: _Problems
) -> None:
    if not pending:
        return
    piece = b"".join(chunk for chunk, _ in pending)
    lines = np.concatenate([numbers for _, numbers in pending])
    _arrow_or_halve(piece, lines, log, parts, problems)


def _arrow_or_halve(piece: bytes, lines: np.ndarray, log: TradeLog, parts: list[TradeLog], problems: _Problems) -> None:
    """Arrow on a piece of object-shaped lines; if it refuses, halve the piece until the bad lines are
    alone and read those line by line. A few bad lines cost a few re-parses, not the whole file."""
    part = TradeLog(path=log.path, exists=True)
    try:
        table = _parse_in_parallel(piece)
        if table.num_rows != len(lines):
            raise _NotClean("a line holds more than one JSON value")
        _fill_from_arrow(table, lines, part)
        parts.append(part)
        return
    except _NotClean:
        pass
    buf = np.frombuffer(piece, dtype=np.uint8)
    newlines = np.flatnonzero(buf == NEWLINE)
    starts = np.concatenate(([0], newlines[:-1] + 1)).astype(np.int64)
    ends = newlines.astype(np.int64)
    if len(lines) <= _PIECE_LINES:
        part = TradeLog(path=log.path, exists=True)
        _exact_read(piece, starts, ends, lines, part, problems)
        parts.append(part)
        return
    middle = len(lines) // 2
    cut = int(starts[middle])
    _arrow_or_halve(piece[:cut], lines[:middle], log, parts, problems)
    _arrow_or_halve(piece[cut:], lines[middle:], log, parts, problems)


def _merge(parts: list[TradeLog], log: TradeLog) -> None:
    """One log from its pieces; a model a piece never mentions is missing on every line of that piece."""
    frames = [part.frame for part in parts if len(part.frame)]
    log.frame = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    if len(log.frame) and not log.frame["line"].is_monotonic_increasing:
        log.frame = log.frame.sort_values("line", kind="stable", ignore_index=True)
    log.models = tuple(dict.fromkeys(model for part in parts for model in part.models))
    used: dict[str, set[str]] = {}
    for part in parts:
        for target, source in (
            (log.nulls, part.nulls),
            (log.type_errors, part.type_errors),
            (log.alias_conflicts, part.alias_conflicts),
        ):
            for column, lines in source.items():
                _add_lines(target, column, lines)
        for column, names in part.aliases_used.items():
            used.setdefault(column, set()).update(names)
        for model in log.models:
            if model not in part.models and len(part.frame):
                _add_lines(log.nulls, conf_column(model), part.frame["line"].to_numpy())
    log.aliases_used = {
        column: [alias for alias in FIELD_BY_COLUMN[column].aliases if alias in names] for column, names in used.items()
    }
    readers = {part.reader for part in parts}
    log.reader = readers.pop() if len(readers) == 1 else "mixed"


def _type_depth(kind: pa.DataType) -> int:
    """Containers nested in an Arrow type: what ``decode.py`` counts as depth, below the record itself.

    Iterative, and it stops counting past ``MAX_DEPTH``: a 4 KiB line can nest 2,000 deep, deeper than
    Python's recursion limit.
    """
    deepest = 0
    stack = [(kind, 0)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((current.field(i).type, depth + 1) for i in range(current.num_fields))
    return deepest


def _refuse_deep(table: pa.Table) -> None:
    if table.num_columns and 1 + max(_type_depth(f.type) for f in table.schema) > MAX_DEPTH:
        # Arrow parsed it, but the line-by-line path refuses such a line: both paths must agree.
        raise _NotClean(f"a value nests more than {MAX_DEPTH} levels deep")


def _fill_from_arrow(table: pa.Table, lines: np.ndarray, log: TradeLog) -> None:
    _refuse_deep(table)
    columns: dict[str, Any] = {"line": pa.array(lines)}
    for spec in FIELDS:
        arrays = [table.column(alias) for alias in spec.aliases]
        columns[spec.column] = _coalesce(spec, arrays, lines, log)
    log.models = _fast_models(table, lines, columns, log)
    log.frame = _finish_frame(columns)
    log.reader = "fast"


def _coalesce(spec: FieldSpec, arrays: list[pa.ChunkedArray], lines: np.ndarray, log: TradeLog) -> pa.ChunkedArray:
    """First non-null alias wins; two aliases present with different values is reported, not resolved.

    Stays in Arrow compute throughout: turning a million strings into Python objects costs seconds.
    """
    scales = dict(zip(spec.aliases, spec.scale or (1.0,) * len(spec.aliases), strict=True))
    named = list(zip(spec.aliases, arrays, strict=True))
    present = [(alias, array) for alias, array in named if array.null_count < len(array)]
    if present:
        log.aliases_used[spec.column] = [alias for alias, _ in present]
    # An alias the log never uses can neither fill nor contradict another: a recorder log has no
    # ``action``, ``actual_pnl_pct`` or ``duration_minutes``, and coalescing a million nulls costs passes.
    kept = present or named[:1]
    arrays = [
        pc.multiply(array, scales[alias]) if spec.kind == "number" and scales[alias] != 1.0 else array
        for alias, array in kept
    ]
    result = arrays[0] if len(arrays) == 1 else pc.coalesce(*arrays)
    for later in arrays[1:]:
        differs = pc.fill_null(pc.not_equal(result, later), False)
        if spec.kind == "number":
            differs = pc.and_(differs, pc.invert(pc.and_(pc.is_nan(result), pc.is_nan(later))))
        conflict = pc.fill_null(differs, False).to_numpy(zero_copy_only=False)
        _add_lines(log.alias_conflicts, spec.column, lines[conflict])
    if spec.required:
        _add_lines(log.nulls, spec.column, lines[pc.is_null(result).to_numpy(zero_copy_only=False)])
    return result


def _fast_models(table: pa.Table, lines: np.ndarray, columns: dict[str, Any], log: TradeLog) -> tuple[str, ...]:
    if MODEL_PREDICTIONS_KEY not in table.column_names:
        return ()
    predictions = table.column(MODEL_PREDICTIONS_KEY).combine_chunks()
    if not pa.types.is_struct(predictions.type):
        raise _NotClean("model_predictions is not an object everywhere")
    carried = pc.is_valid(predictions).to_numpy(zero_copy_only=False)
    names = [predictions.type.field(i).name for i in range(predictions.type.num_fields)]
    for name, child in zip(names, predictions.flatten(), strict=True):
        if not pa.types.is_struct(child.type):
            raise _NotClean(f"model_predictions.{name} is not an object")
        child_fields = {child.type.field(i).name: arr for i, arr in enumerate(child.flatten())}
        conf = child_fields.get("confidence")
        action = child_fields.get("action")
        if conf is None or not (pa.types.is_floating(conf.type) or pa.types.is_integer(conf.type)):
            raise _NotClean(f"model_predictions.{name}.confidence is not numeric")
        if action is not None and not pa.types.is_string(action.type):
            raise _NotClean(f"model_predictions.{name}.action is not a string")
        columns[conf_column(name)] = pc.cast(conf, pa.float64())
        conf_valid = pc.is_valid(conf).to_numpy(zero_copy_only=False)
        _add_lines(log.nulls, conf_column(name), lines[carried & ~conf_valid])
        columns[action_column(name)] = action if action is not None else pa.nulls(len(lines), pa.string())
    _add_lines(log.nulls, MODEL_PREDICTIONS_KEY, lines[~carried])
    return tuple(names)


# --------------------------------------------------------------------------------------------- exact path


def _exact_read(
    data: Buffer, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, log: TradeLog, problems: _Problems
) -> None:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for start, end, line_number in zip(starts.tolist(), ends.tolist(), numbers.tolist(), strict=True):
        obj, problem = decode_line(bytes(data[start:end]))
        if problem is None and not isinstance(obj, dict):
            problem = f"not a JSON object (a JSON {type(obj).__name__})"
        if problem is not None:
            problems.add_error(line_number, problem)
            continue
        records.append(obj)
        lines.append(line_number)
    line_array = np.asarray(lines, dtype=np.int64)
    columns: dict[str, Any] = {"line": line_array}
    for spec in FIELDS:
        columns[spec.column] = _exact_column(spec, records, line_array, log)
    log.models = _exact_models(records, line_array, columns, log)
    log.frame = _finish_frame(columns) if records else _empty_frame()
    log.reader = "exact"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _exact_column(spec: FieldSpec, records: list[dict[str, Any]], lines: np.ndarray, log: TradeLog) -> Any:
    scales = spec.scale or (1.0,) * len(spec.aliases)
    number = spec.kind == "number"
    result: list[Any] = []
    used: set[str] = set()
    nulls: list[int] = []
    wrong: list[int] = []
    conflicts: list[int] = []
    for record, line in zip(records, lines.tolist(), strict=True):
        chosen: Any = None
        found = False
        for alias, scale in zip(spec.aliases, scales, strict=True):
            raw = record.get(alias)
            if raw is None:
                continue
            used.add(alias)
            if number:
                if not _is_number(raw):
                    wrong.append(line)
                    continue
                value: Any = float(raw) * scale
            else:
                if not isinstance(raw, str):
                    wrong.append(line)
                    continue
                value = raw
            if found and not (value == chosen or (number and math.isnan(value) and math.isnan(chosen))):
                conflicts.append(line)
            if not found:
                chosen, found = value, True
        if not found:
            if not any(record.get(alias) is not None for alias in spec.aliases):
                nulls.append(line)
            chosen = math.nan if number else None
        result.append(chosen)
    if used:
        log.aliases_used[spec.column] = [a for a in spec.aliases if a in used]
    if spec.required:
        _add_lines(log.nulls, spec.column, np.asarray(nulls, dtype=np.int64))
    _add_lines(log.type_errors, spec.column, np.asarray(sorted(set(wrong)), dtype=np.int64))
    _add_lines(log.alias_conflicts, spec.column, np.asarray(conflicts, dtype=np.int64))
    return np.asarray(result, dtype=np.float64) if number else np.asarray(result, dtype=object)


def _exact_models(
    records: list[dict[str, Any]], lines: np.ndarray, columns: dict[str, Any], log: TradeLog
) -> tuple[str, ...]:
    names: dict[str, None] = {}
    missing: list[int] = []
    wrong: list[int] = []
    for record, line in zip(records, lines.tolist(), strict=True):
        predictions = record.get(MODEL_PREDICTIONS_KEY)
        if predictions is None:
            missing.append(line)
        elif isinstance(predictions, dict):
            names.update(dict.fromkeys(predictions))
        else:
            wrong.append(line)
    for name in names:
        confs: list[float] = []
        actions: list[Any] = []
        null_lines: list[int] = []
        wrong_lines: list[int] = []
        for record, line in zip(records, lines.tolist(), strict=True):
            predictions = record.get(MODEL_PREDICTIONS_KEY)
            entry = predictions.get(name) if isinstance(predictions, dict) else None
            conf = entry.get("confidence") if isinstance(entry, dict) else None
            action = entry.get("action") if isinstance(entry, dict) else None
            if isinstance(predictions, dict) and conf is None:
                (wrong_lines if entry is not None and not isinstance(entry, dict) else null_lines).append(line)
            if conf is not None and not _is_number(conf):
                wrong_lines.append(line)
                conf = None
            if action is not None and not isinstance(action, str):
                wrong_lines.append(line)
                action = None
            confs.append(math.nan if conf is None else float(conf))
            actions.append(action)
        columns[conf_column(name)] = np.asarray(confs, dtype=np.float64)
        columns[action_column(name)] = np.asarray(actions, dtype=object)
        _add_lines(log.nulls, conf_column(name), np.asarray(null_lines, dtype=np.int64))
        _add_lines(log.type_errors, conf_column(name), np.asarray(sorted(set(wrong_lines)), dtype=np.int64))
    if names:
        _add_lines(log.nulls, MODEL_PREDICTIONS_KEY, np.asarray(missing, dtype=np.int64))
    _add_lines(log.type_errors, MODEL_PREDICTIONS_KEY, np.asarray(wrong, dtype=np.int64))
    return tuple(names)


# ------------------------------------------------------------------------------------------------ shared


def sorted_union(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``np.union1d`` by sorting: NumPy 2's hash-based unique takes 0.7 s on 450,000 consecutive ints."""
    merged = np.concatenate((np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)))
    merged.sort(kind="stable")
    if len(merged) < 2:
        return merged
    return merged[np.concatenate(([True], merged[1:] != merged[:-1]))]


def _add_lines(target: dict[str, np.ndarray], column: str, lines: np.ndarray) -> None:
    if len(lines):
        existing = target.get(column)
        merged = lines if existing is None else sorted_union(existing, lines)
        target[column] = np.asarray(merged, dtype=np.int64)


def _empty_frame() -> pd.DataFrame:
    columns: dict[str, Any] = {"line": np.empty(0, dtype=np.int64)}
    for spec in FIELDS:
        columns[spec.column] = np.empty(0, dtype=np.float64 if spec.kind == "number" else object)
    return _finish_frame(columns)


def _finish_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """Add the parsed UTC timestamp; naive stamps are read as UTC and flagged so the report can say so.

    Columns may arrive as Arrow arrays (fast path) or NumPy arrays (exact path); strings become pandas'
    Arrow-backed ``str`` columns and numbers float64 with NaN for missing, whichever path they took.
    """
    raw = columns["timestamp_raw"]
    raw = raw if isinstance(raw, (pa.Array, pa.ChunkedArray)) else pa.array(raw, type=pa.string())
    arrays = {name: _to_arrow(name, value) for name, value in columns.items()}
    frame = pa.table(arrays).to_pandas(split_blocks=True, self_destruct=True, memory_pool=_POOL)
    frame["timestamp"] = _parse_timestamps(raw)
    frame["timestamp_naive"] = ~_zoned(raw)
    return frame


def _zoned(raw: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which stamps name their zone (``Z`` or ``±hh[:mm]`` at the end); a missing stamp counts as zoned.

    The zone, if any, is in the last six bytes, and a log holds a handful of distinct endings: the test
    runs on each distinct ending and is mapped back, not run as a regex on a million strings.
    """
    tails = pc.binary_slice(pc.cast(raw, pa.large_binary()), -6)
    if isinstance(tails, pa.ChunkedArray):
        tails = tails.combine_chunks()  # one dictionary for all the pieces
    encoded = pc.dictionary_encode(tails)
    endings = [
        ending is None or bool(_ZONED.search(ending.decode("utf-8", "replace")))
        for ending in encoded.dictionary.to_pylist()
    ]
    codes = encoded.indices.fill_null(len(endings)).to_numpy(zero_copy_only=False)
    return np.asarray([*endings, True], dtype=bool)[codes]  # a null stamp takes the trailing True


def _to_arrow(name: str, value: Any) -> pa.Array | pa.ChunkedArray:
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return value
    if value.dtype == object:
        return pa.array(value, type=pa.string(), from_pandas=True)
    return pa.array(value, from_pandas=name != "line")


def _parse_timestamps(raw: pa.Array) -> pd.Series:
    try:
        parsed = pc.cast(raw, pa.timestamp("us", tz="UTC"))
        return pd.Series(parsed.to_pandas(), dtype="datetime64[us, UTC]")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        series = pd.Series(raw.to_pylist(), dtype=object)
        return pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce").astype("datetime64[us, UTC]")
