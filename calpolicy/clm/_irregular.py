"""The irregular path: a file Arrow refuses as a whole is read again in blocks of lines.

Lines shaped like one object go to Arrow in pieces (``_arrow.py``), a piece Arrow refuses is halved
until the bad lines are found, and those and every other line are read line by line (``_exact.py``).
Blocks and pieces are bounded, so memory stays a small multiple of the file size whatever it holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from calpolicy.clm._arrow import NotClean, fill_from_arrow, parse_in_parallel, release_freed_memory
from calpolicy.clm._exact import Problems, exact_read
from calpolicy.clm._frame import Buffer, TradeLog, add_lines, empty_frame
from calpolicy.clm.fields import FIELD_BY_COLUMN, conf_column
from calpolicy.clm.scan import ARROW_SAFE_LINE, CLOSE, CR, MIN_RECORD_BYTES, NEWLINE, OPEN, arrow_can_take

_WHITESPACE = np.array([ord(" "), ord("\t"), ord("\r"), ord("\f"), ord("\v")], dtype=np.uint8)
_BLOCK = 1 << 20  # the irregular path classifies lines this many bytes at a time
_BLOCK_LINES = 1 << 16
_PIECE_BYTES = 32 << 20  # object-shaped lines gathered for one Arrow call
_PIECE_LINES = 64  # below this, a piece Arrow refuses is read line by line instead of halved again


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


def slow_read(data: Buffer, log: TradeLog, max_examples: int) -> None:
    """The file is not clean as a whole: classify its lines block by block, give the object-shaped ones
    to Arrow in pieces, and read the rest alone. One torn write then costs its piece a few halvings."""
    buf = np.frombuffer(data, dtype=np.uint8)
    problems = Problems(max_examples)
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
            exact_read(data, starts[alone], ends[alone], numbers[alone], part, problems)
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
        log.frame = empty_frame()
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
    pending: list[tuple[bytes | memoryview, np.ndarray]], log: TradeLog, parts: list[TradeLog], problems: Problems
) -> None:
    if not pending:
        return
    piece = b"".join(chunk for chunk, _ in pending)
    lines = np.concatenate([numbers for _, numbers in pending])
    _arrow_or_halve(piece, lines, log, parts, problems)


def _arrow_or_halve(piece: bytes, lines: np.ndarray, log: TradeLog, parts: list[TradeLog], problems: Problems) -> None:
    """Arrow on a piece of object-shaped lines; if it refuses, halve the piece until the bad lines are
    alone and read those line by line. A few bad lines cost a few re-parses, not the whole file."""
    part = TradeLog(path=log.path, exists=True)
    try:
        table = parse_in_parallel(piece)
        if table.num_rows != len(lines):
            raise NotClean("a line holds more than one JSON value")
        fill_from_arrow(table, lines, part)
        parts.append(part)
        return
    except NotClean:
        pass
    buf = np.frombuffer(piece, dtype=np.uint8)
    newlines = np.flatnonzero(buf == NEWLINE)
    starts = np.concatenate(([0], newlines[:-1] + 1)).astype(np.int64)
    ends = newlines.astype(np.int64)
    if len(lines) <= _PIECE_LINES:
        part = TradeLog(path=log.path, exists=True)
        exact_read(piece, starts, ends, lines, part, problems)
        parts.append(part)
        return
    middle = len(lines) // 2
    cut = int(starts[middle])
    _arrow_or_halve(piece[:cut], lines[:middle], log, parts, problems)
    _arrow_or_halve(piece[cut:], lines[middle:], log, parts, problems)


def _merge(parts: list[TradeLog], log: TradeLog) -> None:
    """One log from its pieces; a model a piece never mentions is missing on every line of that piece."""
    frames = [part.frame for part in parts if len(part.frame)]
    log.frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
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
                add_lines(target, column, lines)
        for column, names in part.aliases_used.items():
            used.setdefault(column, set()).update(names)
        for model in log.models:
            if model not in part.models and len(part.frame):
                add_lines(log.nulls, conf_column(model), part.frame["line"].to_numpy())
    log.aliases_used = {
        column: [alias for alias in FIELD_BY_COLUMN[column].aliases if alias in names] for column, names in used.items()
    }
    readers = {part.reader for part in parts}
    log.reader = readers.pop() if len(readers) == 1 else "mixed"
