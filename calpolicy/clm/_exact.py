"""The exact path: lines read one at a time with the standard JSON decoder (``decode.py``).

Slow but faithful: every defect is reported against its own line number. Lines that are not one object
are counted in full but only the first few are examined (``Problems``), so memory stays bounded.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calpolicy.clm._frame import Buffer, TradeLog, add_lines, empty_frame, finish_frame
from calpolicy.clm.decode import decode_line, encoding_problem
from calpolicy.clm.fields import FIELDS, MODEL_PREDICTIONS_KEY, FieldSpec, action_column, conf_column


@dataclass
class Problems:
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
            heapq.heappush(self.heap, (-number, bad_reason(data, start, end)))
            if len(self.heap) > self.cap:
                heapq.heappop(self.heap)

    def examples(self) -> list[tuple[int, str]]:
        return sorted((-negative, reason) for negative, reason in self.heap)


def bad_reason(data: Buffer, start: int, end: int) -> str:
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


def exact_read(
    data: Buffer, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, log: TradeLog, problems: Problems
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
    log.frame = finish_frame(columns) if records else empty_frame()
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
        add_lines(log.nulls, spec.column, np.asarray(nulls, dtype=np.int64))
    add_lines(log.type_errors, spec.column, np.asarray(sorted(set(wrong)), dtype=np.int64))
    add_lines(log.alias_conflicts, spec.column, np.asarray(conflicts, dtype=np.int64))
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
        add_lines(log.nulls, conf_column(name), np.asarray(null_lines, dtype=np.int64))
        add_lines(log.type_errors, conf_column(name), np.asarray(sorted(set(wrong_lines)), dtype=np.int64))
    if names:
        add_lines(log.nulls, MODEL_PREDICTIONS_KEY, np.asarray(missing, dtype=np.int64))
    add_lines(log.type_errors, MODEL_PREDICTIONS_KEY, np.asarray(wrong, dtype=np.int64))
    return tuple(names)
