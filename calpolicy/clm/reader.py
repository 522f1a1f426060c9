"""Read the CLM trade log into columns, keeping every record's source line number.

Two paths give the same ``TradeLog``. The fast path hands the whole file to Arrow's multi-threaded JSON
reader with an explicit schema; it only succeeds when every line is a well-typed JSON object. Anything
else (a broken line, a string where a price belongs, a duplicated key) makes Arrow refuse the file, and
the exact path re-reads it line by line so each defect is reported against its own line number. The
reader never drops, repairs or rewrites a record: a defective value is kept as missing and reported.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import mmap
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from calpolicy.clm.fields import (
    FIELD_BY_COLUMN,
    FIELDS,
    MODEL_PREDICTIONS_KEY,
    FieldSpec,
    action_column,
    conf_column,
)

_WHITESPACE = (ord(" "), ord("\t"), ord("\r"), ord("\f"), ord("\v"))
_ARROW_TYPES = {"number": pa.float64(), "string": pa.large_string()}  # large: what pandas 3 str holds
_MIN_PIECE_BYTES = 8 << 20
_SCAN_BLOCK = 32 << 20
_PIECE_LINES = 50_000
_ZONED = r"(Z|z|[+-]\d\d(:?\d\d)?)$"


class _NotClean(Exception):
    """The fast path cannot represent this file faithfully; read it line by line instead."""


@dataclass
class TradeLog:
    """The analysed trade log: normalised columns plus everything the reader noticed on the way.

    ``frame`` has one row per JSON object, indexed by nothing but carrying ``line`` (1-based source line).
    ``nulls``/``type_errors`` map a normalised column to the line numbers where the value was missing or
    null / of the wrong JSON type; ``parse_errors`` lists lines that are not a JSON object at all.
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
    blank_lines: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    nulls: dict[str, np.ndarray] = field(default_factory=dict)
    type_errors: dict[str, np.ndarray] = field(default_factory=dict)
    alias_conflicts: dict[str, np.ndarray] = field(default_factory=dict)
    aliases_used: dict[str, list[str]] = field(default_factory=dict)
    missing_final_newline: bool = False
    reader: str = "none"

    @property
    def records(self) -> int:
        return len(self.frame)

    def lines_of(self, mask: np.ndarray | pd.Series) -> np.ndarray:
        """Source line numbers of the rows selected by a boolean mask."""
        return self.frame["line"].to_numpy()[np.asarray(mask, dtype=bool)]


def read_clm(path: str | Path, max_bytes: int | None = None) -> TradeLog:
    """Read ``path``; a file that is missing, unreadable or too large comes back with ``read_error`` set."""
    source = Path(path)
    if not source.exists():
        return TradeLog(path=source, exists=False, read_error=f"CLM file not found: {source}")
    if not source.is_file():
        return TradeLog(path=source, exists=True, read_error=f"CLM path is not a regular file: {source}")
    try:
        size = source.stat().st_size
        if max_bytes is not None and size > max_bytes:
            return TradeLog(
                path=source,
                exists=True,
                size_bytes=size,
                read_error=(
                    f"CLM file is {size / 2**20:.0f} MiB, above the configured limit of "
                    f"{max_bytes / 2**20:.0f} MiB (data.max_file_mb); refusing to load it"
                ),
            )
        # Read, not memory-mapped: a log truncated while mapped (logrotate's copytruncate) would kill the
        # process with SIGBUS instead of giving a message; the copy costs about 0.2 s per million lines.
        data = source.read_bytes()
    except OSError as error:
        return TradeLog(path=source, exists=True, read_error=f"CLM file cannot be read: {error.strerror}")
    return parse_clm_bytes(data, source)


Buffer = bytes | mmap.mmap


def _ends_with(data: Buffer, suffix: bytes) -> bool:
    return len(data) >= len(suffix) and data[len(data) - len(suffix) :] == suffix


def parse_clm_bytes(data: Buffer, path: Path | str = "<bytes>") -> TradeLog:
    """Parse an in-memory (or memory-mapped) log; the same code path as ``read_clm``."""
    log = TradeLog(path=Path(path), exists=True, size_bytes=len(data))
    log.missing_final_newline = len(data) > 0 and not _ends_with(data, b"\n")
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The digest and the line counts run beside Arrow's parse, which holds no GIL: no extra wall time.
        scan = pool.submit(_scan, data)
        try:
            _fast_read(data, log, scan)
        except _NotClean:
            for partial in (log.nulls, log.type_errors, log.alias_conflicts, log.aliases_used):
                partial.clear()  # what the fast path noted before giving up is re-derived line by line
            _slow_read(data, log)
        log.sha256 = scan.result().sha256
    return log


def _slow_read(data: Buffer, log: TradeLog) -> None:
    """The file is not clean as a whole: read it in pieces of lines, each through Arrow when that piece
    is clean and line by line when it is not. One torn write then costs one piece, not the whole file.
    """
    starts, ends = _line_bounds(data)
    log.line_count = len(starts)
    blank = _blank_mask(data, starts, ends)
    log.blank_lines = np.flatnonzero(blank) + 1
    content = np.flatnonzero(~blank)
    if not len(content):
        log.reader = "empty"
        log.frame = _empty_frame()
        return
    parts = []
    for first in range(0, len(content), _PIECE_LINES):
        index = content[first : first + _PIECE_LINES]
        part = TradeLog(path=log.path, exists=True)
        try:
            _fast_piece(data, starts[index], ends[index], index + 1, part)
        except _NotClean:
            part = TradeLog(path=log.path, exists=True)
            _exact_read(data, starts[index], ends[index], index + 1, part)
        parts.append(part)
    _merge(parts, log)


def _fast_piece(data: Buffer, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray, part: TradeLog) -> None:
    piece = b"\n".join(data[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)) + b"\n"
    table = _parse_in_parallel(piece)
    if not _one_object_per_line(piece, table.num_rows, _scan(piece)) or table.num_rows != len(lines):
        raise _NotClean("not exactly one JSON object per line")
    _fill_from_arrow(table, lines, part)


def _merge(parts: list[TradeLog], log: TradeLog) -> None:
    """One log from its pieces; a model a piece never mentions is missing on every line of that piece."""
    frames = [part.frame for part in parts if len(part.frame)]
    log.frame = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    log.models = tuple(dict.fromkeys(model for part in parts for model in part.models))
    used: dict[str, set[str]] = {}
    for part in parts:
        log.parse_errors.extend(part.parse_errors)
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
        column: [alias for alias in FIELD_BY_COLUMN[column].aliases if alias in names]
        for column, names in used.items()
    }
    readers = {part.reader for part in parts}
    log.reader = readers.pop() if len(readers) == 1 else "mixed"


def _line_bounds(data: Buffer) -> tuple[np.ndarray, np.ndarray]:
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    ends = np.concatenate((newlines, [len(buf)])).astype(np.int64)
    if len(data) == 0 or _ends_with(data, b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _blank_mask(data: Buffer, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    blank = ends == starts
    if len(starts) == 0:
        return blank
    buf = np.frombuffer(data, dtype=np.uint8)
    candidates = np.flatnonzero(~blank & np.isin(buf[np.minimum(starts, len(buf) - 1)], _WHITESPACE))
    for index in candidates:
        if not data[starts[index] : ends[index]].strip():
            blank[index] = True
    return blank


# ---------------------------------------------------------------------------------------------- fast path


@dataclass(frozen=True)
class _Scan:
    sha256: str
    newlines: int
    boundaries: int  # occurrences of "}\n{": one between every two records of a clean log


def _scan(data: Buffer) -> _Scan:
    digest = hashlib.sha256(data).hexdigest()
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = boundaries = 0
    for start in range(0, len(buf), _SCAN_BLOCK):  # in blocks, so the temporaries stay small
        found = np.flatnonzero(buf[start : start + _SCAN_BLOCK] == ord("\n")) + start
        newlines += len(found)
        inner = found[(found > 0) & (found < len(buf) - 1)]
        boundaries += int(np.count_nonzero((buf[inner - 1] == ord("}")) & (buf[inner + 1] == ord("{"))))
    return _Scan(digest, newlines, boundaries)


def _one_object_per_line(data: Buffer, rows: int, scan: _Scan) -> bool:
    """True when the file is exactly ``rows`` lines of ``{...}``: no blank lines, no two values on a line,
    no object spread over lines. Only then is row i line i + 1, with no line-by-line scan needed.
    """
    if not (_ends_with(data, b"}\n") or _ends_with(data, b"}")):
        return False
    newlines = rows if _ends_with(data, b"\n") else rows - 1
    return scan.boundaries == rows - 1 and scan.newlines == newlines


def _parse_in_parallel(data: Buffer) -> pa.Table:
    """Arrow's JSON reader barely uses a second core on its own, so cut the file at line ends into one
    piece per core and parse the pieces in threads (Arrow releases the GIL); about 2x on two cores.

    Every piece must open with ``{``: a piece whose first value is a bare ``null`` segfaults
    ``pyarrow.json.read_json`` (Arrow 26, found by the hypothesis tests), so no such input reaches it.
    """
    pieces = max(1, min(pa.cpu_count(), len(data) // _MIN_PIECE_BYTES))
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
    schema = pa.schema([(alias, _ARROW_TYPES[spec.kind]) for spec in FIELDS for alias in spec.aliases])
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    read_options = pa_json.ReadOptions(block_size=16 << 20, use_threads=len(chunks) == 1)

    def parse(chunk: memoryview) -> pa.Table:
        return pa_json.read_json(pa.py_buffer(chunk), read_options=read_options, parse_options=options)

    try:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            tables = list(pool.map(parse, chunks))
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise _NotClean(str(error)) from None


def _fast_read(data: Buffer, log: TradeLog, scan: Future[_Scan]) -> None:
    """Arrow's reader, for files that are clean one-object-per-line JSON; anything else raises _NotClean."""
    table = _parse_in_parallel(data)
    if not _one_object_per_line(data, table.num_rows, scan.result()):
        raise _NotClean("not exactly one JSON object per line")
    log.line_count = table.num_rows
    _fill_from_arrow(table, np.arange(1, table.num_rows + 1, dtype=np.int64), log)


def _fill_from_arrow(table: pa.Table, lines: np.ndarray, log: TradeLog) -> None:
    columns: dict[str, Any] = {"line": pa.array(lines)}
    for spec in FIELDS:
        arrays = [table.column(alias) for alias in spec.aliases]
        columns[spec.column] = _coalesce(spec, arrays, lines, log)
    log.models = _fast_models(table, lines, columns, log)
    log.frame = _finish_frame(columns)
    log.reader = "fast"


def _coalesce(
    spec: FieldSpec, arrays: list[pa.ChunkedArray], lines: np.ndarray, log: TradeLog
) -> pa.ChunkedArray:
    """First non-null alias wins; two aliases present with different values is reported, not resolved.

    Stays in Arrow compute throughout: turning a million strings into Python objects costs seconds.
    """
    scales = spec.scale or (1.0,) * len(spec.aliases)
    if spec.kind == "number":
        arrays = [
            pc.multiply(array, scale) if scale != 1.0 else array for array, scale in zip(arrays, scales, strict=True)
        ]
    used = [alias for alias, array in zip(spec.aliases, arrays, strict=True) if array.null_count < len(array)]
    if used:
        log.aliases_used[spec.column] = used
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


def _fast_models(
    table: pa.Table, lines: np.ndarray, columns: dict[str, Any], log: TradeLog
) -> tuple[str, ...]:
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


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(item) for item in value.values())
    if isinstance(value, list):
        return sum(_count_keys(item) for item in value)
    return 0


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears twice in one object: which value is meant cannot be known")
        seen[key] = value
    return seen


def _duplicate_key(raw: bytes, obj: Any) -> str | None:
    """Parsers keep the last of two equal keys without a word; a record saying two things is a defect.

    Every key is followed by ``":`` (or ``" :``); more of those than keys parsed means a key was swallowed
    (or a string holds ``":``), and only then is the line parsed again, slowly, to be sure.
    """
    if raw.count(b'":') + raw.count(b'" :') <= _count_keys(obj):
        return None
    try:
        json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except ValueError as error:
        return str(error)
    return None


def _decode_line(raw: bytes) -> tuple[Any, str | None]:
    try:
        obj = orjson.loads(raw)
        return obj, _duplicate_key(raw, obj)
    except orjson.JSONDecodeError:
        pass
    try:
        # Python's own json accepts NaN/Infinity, which the engine's json.dumps writes for float('nan'):
        # such a line is a record with a NaN value (reported as such), not "not JSON".
        obj = json.loads(raw.decode("utf-8"))
        return obj, _duplicate_key(raw, obj)
    except UnicodeDecodeError:
        return None, "not valid UTF-8"
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg} at column {error.colno})"


def _exact_read(data: Buffer, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, log: TradeLog) -> None:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for start, end, line_number in zip(starts.tolist(), ends.tolist(), numbers.tolist(), strict=True):
        obj, problem = _decode_line(data[start:end])
        if problem is None and not isinstance(obj, dict):
            problem = f"not a JSON object (a JSON {type(obj).__name__})"
        if problem is not None:
            log.parse_errors.append((line_number, problem))
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
                (wrong_lines if entry is not None and not isinstance(entry, dict) else null_lines).append(
                    line
                )
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


def _add_lines(target: dict[str, np.ndarray], column: str, lines: np.ndarray) -> None:
    if len(lines):
        existing = target.get(column)
        merged = lines if existing is None else np.union1d(existing, lines)
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
    frame = pa.table(arrays).to_pandas(split_blocks=True, self_destruct=True)
    frame["timestamp"] = _parse_timestamps(raw)
    zoned = pc.fill_null(pc.match_substring_regex(raw, _ZONED), True).to_numpy(zero_copy_only=False)
    frame["timestamp_naive"] = ~zoned
    return frame


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
        return pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce").astype(
            "datetime64[us, UTC]"
        )
