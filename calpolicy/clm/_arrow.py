"""The fast path: Arrow's multi-threaded JSON reader, for files that are clean one-object-per-line JSON.

It gives up (``NotClean``) on anything it cannot represent faithfully: a broken line, a value of the
wrong type, a duplicated key, a value nested deeper than the line-by-line path accepts. The irregular
path (``_irregular.py``) also hands it pieces of a file, so it fills a ``TradeLog`` given line numbers.
"""

from __future__ import annotations

import ctypes
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from calpolicy.clm._frame import POOL, Buffer, TradeLog, add_lines, ends_with, finish_frame
from calpolicy.clm.decode import MAX_DEPTH
from calpolicy.clm.fields import FIELDS, MODEL_PREDICTIONS_KEY, FieldSpec, action_column, conf_column
from calpolicy.clm.scan import Scan, scan_lines


def _load_libc() -> ctypes.CDLL | None:
    """glibc, for ``malloc_trim``; ``None`` on a C library without it (musl, macOS).

    Looked up among the symbols this process already has (``dlopen(NULL)``), not with
    ``ctypes.util.find_library``: that runs ``/sbin/ldconfig -p`` in a child process at every import, and
    the calibration's sandbox lets its child start no process (docs/lockdown.md).
    """
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_ARROW_TYPES = {"number": pa.float64(), "string": pa.large_string()}  # large: what pandas 3 str holds
_MIN_PIECE_BYTES = 8 << 20
_PARSE_PIECE_BYTES = 32 << 20  # the fast path parses pieces of about this size, one per core at a time
_ARROW_SCHEMA = pa.schema([(alias, _ARROW_TYPES[spec.kind]) for spec in FIELDS for alias in spec.aliases])
_GATE_COLUMNS = frozenset([*_ARROW_SCHEMA.names, MODEL_PREDICTIONS_KEY])  # every other field is never read
_LIBC = _load_libc()


class NotClean(Exception):
    """The fast path cannot represent this file faithfully; read it line by line instead."""


def _one_object_per_line(data: Buffer, rows: int, scan: Scan) -> bool:
    """True when the file is exactly ``rows`` lines of ``{...}``: no blank lines, no two values on a line,
    no object spread over lines. Only then is row i line i + 1, with no line-by-line scan needed.
    """
    if not (ends_with(data, b"}\n") or ends_with(data, b"}\r\n") or ends_with(data, b"}")):
        return False
    newlines = rows if ends_with(data, b"\n") else rows - 1
    return scan.boundaries == rows - 1 and scan.newlines == newlines


def parse_in_parallel(data: Buffer) -> pa.Table:
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
        raise NotClean("a piece does not open with a JSON object")
    try:
        if len(chunks) == 1:
            return _parse_piece(chunks[0], use_threads=True)
        with ThreadPoolExecutor(max_workers=min(len(chunks), pa.cpu_count())) as pool:
            tables = list(pool.map(_parse_piece, chunks))
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise NotClean(str(error)) from None


def _parse_piece(chunk: memoryview, use_threads: bool = False) -> pa.Table:
    """Arrow's parse of one piece, cut down to the fields the gate reads once their depth is checked."""
    options = pa_json.ParseOptions(explicit_schema=_ARROW_SCHEMA, unexpected_field_behavior="infer")
    read_options = pa_json.ReadOptions(block_size=16 << 20, use_threads=use_threads)
    table = pa_json.read_json(pa.py_buffer(chunk), read_options=read_options, parse_options=options, memory_pool=POOL)
    _refuse_deep(table)
    return table.select([name for name in table.column_names if name in _GATE_COLUMNS])


def release_freed_memory() -> None:
    """Hand memory freed in threads' heaps back to the system (glibc ``malloc_trim``; a no-op elsewhere).

    Arrow's parse threads allocate from per-thread heaps, which the main thread's allocations never
    reuse: without this, their freed scratch space stays resident while the frame is built beside it.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def fast_read(data: Buffer, log: TradeLog, scan: Scan | None = None) -> None:
    """Arrow's reader, for files that are clean one-object-per-line JSON; anything else raises NotClean.

    ``scan`` is ``scan_lines(data)`` when the caller (a ``Prefetch``) has already run it.
    """
    if data[:1] != b"{":
        raise NotClean("the file does not open with a JSON object")
    scan = scan or scan_lines(data)
    if not scan.arrow_safe:
        raise NotClean("a long line holds many brackets: it may nest deeper than Arrow can parse")
    try:
        table = parse_in_parallel(data)
    finally:
        release_freed_memory()  # the parser's scratch space, freed in the worker threads' own heaps
    if not _one_object_per_line(data, table.num_rows, scan):
        raise NotClean("not exactly one JSON object per line")
    log.line_count = table.num_rows
    log.crlf = scan.crlf > 0
    fill_from_arrow(table, np.arange(1, table.num_rows + 1, dtype=np.int64), log)


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
        raise NotClean(f"a value nests more than {MAX_DEPTH} levels deep")


def fill_from_arrow(table: pa.Table, lines: np.ndarray, log: TradeLog) -> None:
    _refuse_deep(table)
    columns: dict[str, Any] = {"line": pa.array(lines)}
    for spec in FIELDS:
        arrays = [table.column(alias) for alias in spec.aliases]
        columns[spec.column] = _coalesce(spec, arrays, lines, log)
    log.models = _fast_models(table, lines, columns, log)
    log.frame = finish_frame(columns)
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
        add_lines(log.alias_conflicts, spec.column, lines[conflict])
    if spec.required:
        add_lines(log.nulls, spec.column, lines[pc.is_null(result).to_numpy(zero_copy_only=False)])
    return result


def _fast_models(table: pa.Table, lines: np.ndarray, columns: dict[str, Any], log: TradeLog) -> tuple[str, ...]:
    if MODEL_PREDICTIONS_KEY not in table.column_names:
        return ()
    predictions = table.column(MODEL_PREDICTIONS_KEY).combine_chunks()
    if not pa.types.is_struct(predictions.type):
        raise NotClean("model_predictions is not an object everywhere")
    carried = pc.is_valid(predictions).to_numpy(zero_copy_only=False)
    names = [predictions.type.field(i).name for i in range(predictions.type.num_fields)]
    for name, child in zip(names, predictions.flatten(), strict=True):
        if not pa.types.is_struct(child.type):
            raise NotClean(f"model_predictions.{name} is not an object")
        child_fields = {child.type.field(i).name: arr for i, arr in enumerate(child.flatten())}
        conf = child_fields.get("confidence")
        action = child_fields.get("action")
        if conf is None or not (pa.types.is_floating(conf.type) or pa.types.is_integer(conf.type)):
            raise NotClean(f"model_predictions.{name}.confidence is not numeric")
        if action is not None and not pa.types.is_string(action.type):
            raise NotClean(f"model_predictions.{name}.action is not a string")
        columns[conf_column(name)] = pc.cast(conf, pa.float64())
        conf_valid = pc.is_valid(conf).to_numpy(zero_copy_only=False)
        add_lines(log.nulls, conf_column(name), lines[carried & ~conf_valid])
        columns[action_column(name)] = action if action is not None else pa.nulls(len(lines), pa.string())
    add_lines(log.nulls, MODEL_PREDICTIONS_KEY, lines[~carried])
    return tuple(names)
