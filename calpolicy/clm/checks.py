"""The CLM data gate: checklist 0.2, stop signals S.a and S.f, and the defects seen in production.

Every check yields a finding, passing or not, so a GO verdict lists what was actually verified. The gate
reports and stops; it never cleans, drops or rewrites data (checklist: "if the data must be cleaned by
hand → STOP").

Over 400 lines on purpose: it is one short generator per registered control (P0.2.a-e, S.a, S.f and the
CLM.* IDs) over one shared ``_Context``, in checklist order, so a reviewer reads the gate against the
checklist in one file; the reading (``reader.py``) and the schema (``schema.py``) live apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from calpolicy.clm.fields import (
    FIELD_BY_COLUMN,
    MODEL_PREDICTIONS_KEY,
    PRICE_AND_PNL,
    SIDES_LONG,
    SIDES_SHORT,
    conf_column,
    field_path,
)
from calpolicy.clm.reader import TradeLog, sorted_union
from calpolicy.clm.schema import schema_violations
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.controls import DATA, registered
from calpolicy.vocabulary.verdict import Finding, Verdict, format_lines, line_evidence

_PLACEHOLDER_MODEL = re.compile(r"(?:^|_)(?:none|null|nan)$", re.IGNORECASE)
_PLACEHOLDER_REASONS = {"unknown", "none", "null", ""}
# a key of model_predictions becomes a heading in report.md, a line on the terminal and a key of the live config:
# a newline or an escape sequence in it rewrote what the reviewer reads ("\n## GO", "\x1b[2J")
_PLAIN_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
# Every item this gate answers for, from the registry; an unreadable log leaves each of them "not checked".
DATA_IDS = registered(producer=DATA)


@dataclass(frozen=True)
class _Context:
    log: TradeLog
    config: Config
    now: datetime
    violations: dict[tuple[str, str], np.ndarray]

    @property
    def frame(self) -> pd.DataFrame:
        return self.log.frame

    @property
    def cap(self) -> int:
        return self.config.data.max_examples

    def lines(self, values: np.ndarray) -> dict[str, object]:
        """``line_evidence`` of only the first ``cap`` lines (it lists its input whole: 8 s for 450,000)."""
        values = np.asarray(values)
        evidence = line_evidence(values[: self.cap].tolist(), self.cap)
        evidence.update(count=len(values), truncated=len(values) > self.cap)
        return evidence

    def name(self, column: str) -> str:
        """The field as the record spells it (``model_predictions.xgb.confidence``), not our column."""
        return field_path(column, self.log.aliases_used)


def check_data(log: TradeLog, config: Config, now: datetime | None = None) -> Verdict:
    """Judge a trade log; ``now`` is the instant freshness (S.f, future stamps) is measured against."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if log.read_error is not None:
        return _unreadable(log)
    context = _Context(log, config, moment, schema_violations(log.frame, log.models))
    # Two threads: the checks only read the frame, and most of their time is NumPy and Arrow work that
    # releases the GIL (0.33 s -> 0.24 s on a million records). The findings keep the order of _CHECKS.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="calpolicy-check") as pool:
        per_check = list(pool.map(lambda check: list(check(context)), _CHECKS))
    return Verdict(tuple(finding for findings in per_check for finding in findings))


def _unreadable(log: TradeLog) -> Verdict:
    """A missing file is a failed P0.2.a (checked: there is nothing); an unreadable one could not be checked."""
    assert log.read_error is not None
    status = "fail" if not log.exists else "error"
    first = Finding("P0.2.a", status, log.read_error, {"path": str(log.path)})
    rest = [
        Finding(control, "error", f"not checked: {log.read_error}", {"path": str(log.path)})
        for control in DATA_IDS
        if control != "P0.2.a"
    ]
    return Verdict((first, *rest))


def _finding(control: str, problems: list[str], ok: str, evidence: dict[str, object]) -> Finding:
    if problems:
        return Finding(control, "fail", "; ".join(problems), evidence)
    return Finding(control, "pass", ok, evidence)


def _problem(ctx: _Context, what: str, lines: np.ndarray) -> str:
    return f"{what} ({format_lines(ctx.lines(lines))})"


# ---------------------------------------------------------------------------------------- checklist 0.2


def _exists(ctx: _Context) -> Iterator[Finding]:
    evidence = {"path": str(ctx.log.path), "bytes": ctx.log.size_bytes, "sha256": ctx.log.sha256}
    if ctx.log.size_bytes == 0 or ctx.log.line_count == ctx.log.blank_count:
        yield Finding("P0.2.a", "fail", f"CLM file {ctx.log.path} is empty", evidence)
    else:
        yield Finding("P0.2.a", "pass", f"CLM file {ctx.log.path} exists ({ctx.log.size_bytes} bytes)", evidence)


def _enough_trades(ctx: _Context) -> Iterator[Finding]:
    minimum = ctx.config.cadence.min_trades
    records = ctx.log.records
    # "lines" is reserved for line-number lists (verdict.line_evidence); this is a count
    evidence = {"records": records, "line_count": ctx.log.line_count, "min_trades": minimum}
    if records < minimum:
        yield Finding("P0.2.b", "fail", f"{records} trades, fewer than cadence.min_trades = {minimum}", evidence)
    else:
        yield Finding("P0.2.b", "pass", f"{records} trades (minimum {minimum})", evidence)


def _enough_symbols(ctx: _Context) -> Iterator[Finding]:
    symbols = sorted({s for s in ctx.frame["symbol"].dropna().unique() if isinstance(s, str) and s})
    minimum = ctx.config.cadence.min_symbols
    evidence = {"symbols": symbols[:50], "count": len(symbols), "min_symbols": minimum}
    if len(symbols) < minimum:
        yield Finding("P0.2.c", "fail", f"{len(symbols)} symbol(s) {symbols}, fewer than {minimum}", evidence)
    else:
        yield Finding("P0.2.c", "pass", f"{len(symbols)} symbols", evidence)


def _wins_and_losses(ctx: _Context) -> Iterator[Finding]:
    pnl = ctx.frame["pnl_pct"].to_numpy(dtype=np.float64)
    wins, losses = int(np.sum(pnl > 0)), int(np.sum(pnl < 0))
    evidence = {"wins": wins, "losses": losses}
    problems = []
    if wins == 0:
        problems.append("no WIN (pnl > 0) in the log")
    if losses == 0:
        problems.append("no LOSS (pnl < 0) in the log")
    yield _finding("P0.2.d", problems, f"{wins} wins and {losses} losses", evidence)


def _prices_and_pnl(ctx: _Context) -> Iterator[Finding]:
    """P0.2.e: NaN, null or 0.0 in entry/exit/PnL, and the wrong types and infinities that hide them."""
    problems: list[str] = []
    evidence: dict[str, object] = {}
    for column in PRICE_AND_PNL:
        shown = ctx.name(column)
        nulls = ctx.log.nulls.get(column, np.empty(0, dtype=np.int64))
        wrong = ctx.log.type_errors.get(column, np.empty(0, dtype=np.int64))
        if len(nulls):
            problems.append(_problem(ctx, f"{shown} missing or null", nulls))
        if len(wrong):
            problems.append(_problem(ctx, f"{shown} is not a number", wrong))
        for (col, what), lines in sorted(ctx.violations.items()):
            if col != column:
                continue
            if what == "missing":
                lines = lines[~np.isin(lines, sorted_union(nulls, wrong))]
                what = "is NaN"
            if len(lines):
                problems.append(_problem(ctx, f"{shown} {what}", lines))
                evidence[f"{shown}: {what}"] = ctx.lines(lines)
    yield _finding(
        "P0.2.e", problems, "entry price, exit price and PnL are finite and non-zero on every line", evidence
    )


# ------------------------------------------------------------------------------------------ stop signals


def _cadence_minimum(ctx: _Context) -> Iterator[Finding]:
    """S.a: enough trades, and spread over enough days (the real cadence gate wants days, not hours)."""
    cadence = ctx.config.cadence
    stamps = ctx.frame["timestamp"].dropna()
    span_days = (stamps.max() - stamps.min()).total_seconds() / 86400 if len(stamps) else 0.0
    problems = []
    if ctx.log.records < cadence.min_trades:
        problems.append(f"{ctx.log.records} trades, below the cadence minimum of {cadence.min_trades}")
    if span_days < cadence.min_span_days:
        problems.append(f"trades span {span_days:.2f} days, below cadence.min_span_days = {cadence.min_span_days:g}")
    evidence = {
        "records": ctx.log.records,
        "span_days": round(span_days, 3),
        "min_trades": cadence.min_trades,
        "min_span_days": cadence.min_span_days,
    }
    yield _finding("S.a", problems, f"{ctx.log.records} trades over {span_days:.1f} days", evidence)


def _starvation(ctx: _Context) -> Iterator[Finding]:
    stamps = ctx.frame["timestamp"].dropna()
    limit_h = ctx.config.data.starvation_hours
    if not len(stamps):
        yield Finding("S.f", "error", "no parseable timestamp: cannot tell when the last trade was", {})
        return
    last = stamps.max().to_pydatetime()
    age_h = (ctx.now - last).total_seconds() / 3600
    evidence = {
        "last_trade": last.isoformat(),
        "now": ctx.now.isoformat(),
        "age_hours": round(age_h, 3),
        "starvation_hours": limit_h,
    }
    if age_h > limit_h:
        message = f"STARVATION: no trade for {age_h:.1f} h (last trade {last.isoformat()}; limit {limit_h:g} h)"
        yield Finding("S.f", "fail", message, evidence)
    else:
        yield Finding("S.f", "pass", f"last trade {age_h:.2f} h ago", evidence)


# ---------------------------------------------------------------------------------------- extra checks


def _parse(ctx: _Context) -> Iterator[Finding]:
    """CLM.parse: every line is one JSON object. Blank lines are a writer fault too: reported, not skipped.

    Only the first ``max_examples`` bad lines carry a reason (the reader examined no more); the count is
    of all of them.
    """
    log = ctx.log
    errors = log.parse_errors
    count = max(log.parse_error_count, len(errors))
    evidence: dict[str, object] = {
        "lines": [n for n, _ in errors[: ctx.cap]],
        "count": count,
        "truncated": count > min(len(errors), ctx.cap),
        "reasons": [f"line {n}: {why}" for n, why in errors[: ctx.cap]],
        "blank_lines": {
            "lines": [int(n) for n in log.blank_lines[: ctx.cap]],
            "count": log.blank_count,
            "truncated": log.blank_count > ctx.cap,
        },
        "reader": log.reader,
        "encoding": log.encoding,
        "crlf": log.crlf,
    }
    problems = []
    if log.encoding is not None:
        problems.append(f"the file is {log.encoding}, not plain UTF-8 JSON lines")
    if count:
        shown = min(5, len(errors))
        detail = "; ".join(f"line {n}: {why}" for n, why in errors[:shown])
        more = f" (+{count - shown} more)" if count > shown else ""
        tail = ""
        if log.last_line_torn:
            tail = " — the last line has no newline: the writer may have been mid-append; re-run to check"
        problems.append(f"{count} line(s) cannot be read as one record: {detail}{more}{tail}")
    if log.blank_count:
        blank = [int(n) for n in log.blank_lines[: ctx.cap]]
        listed = ", ".join(str(n) for n in blank)
        suffix = f", … ({log.blank_count} in all)" if log.blank_count > len(blank) else ""
        word = "line" if log.blank_count == 1 else "lines"
        problems.append(f"{log.blank_count} blank {word} (a writer fault: {word} {listed}{suffix})")
    yield _finding("CLM.parse", problems, f"every line is a JSON object ({log.records} records)", evidence)


def _schema(ctx: _Context) -> Iterator[Finding]:
    problems: list[str] = []
    for column in ("timestamp_raw", "symbol", "side"):
        if column in ctx.log.nulls:
            problems.append(_problem(ctx, f"{column.removesuffix('_raw')} missing or null", ctx.log.nulls[column]))
    for column, lines in sorted(ctx.log.type_errors.items()):
        if column not in PRICE_AND_PNL and not column.startswith("conf__") and column != "confidence":
            problems.append(_problem(ctx, f"{ctx.name(column)} has the wrong JSON type", lines))
    for column, lines in sorted(ctx.log.alias_conflicts.items()):
        problems.append(
            _problem(ctx, f"{ctx.name(column)} given twice under different names with different values", lines)
        )
    for (column, what), lines in sorted(ctx.violations.items()):
        if column in ("side", "symbol") or column.startswith("action__"):
            if what == "missing":
                continue
            problems.append(_problem(ctx, f"{ctx.name(column)} {what}", lines))
    # Keyed by the field's first (checklist) name, listing the names this log used, when that differs.
    aliases = {
        FIELD_BY_COLUMN[column].aliases[0]: names
        for column, names in ctx.log.aliases_used.items()
        if names != [FIELD_BY_COLUMN[column].aliases[0]]
    }
    yield _finding("CLM.schema", problems, "required fields present with the right types", {"aliases": aliases})


def _confidence(ctx: _Context) -> Iterator[Finding]:
    problems: list[str] = []
    columns = ["confidence", *[conf_column(m) for m in ctx.log.models]]
    for column in columns:
        if column in ctx.log.type_errors:
            problems.append(_problem(ctx, f"{ctx.name(column)} is not a number", ctx.log.type_errors[column]))
        for what in ("missing", "is outside [0, 1]"):
            lines = ctx.violations.get((column, what))
            if lines is not None and len(lines):
                problems.append(_problem(ctx, f"{ctx.name(column)} {what}", lines))
    yield _finding(
        "CLM.confidence",
        problems,
        "every confidence is a number in [0, 1]",
        {"columns": [ctx.name(c) for c in columns]},
    )


def _row_digest(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A 64-bit digest per row over ``columns``: float bits and string codes mixed multiplicatively.

    Several times cheaper than ``pandas.util.hash_pandas_object`` on Arrow strings; a collision would
    only matter if two different records also fell within the duplicate window.
    """
    digest = np.full(len(frame), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for column in columns:
        series = frame[column]
        if pd.api.types.is_float_dtype(series):
            values = np.nan_to_num(series.to_numpy(dtype=np.float64), nan=-1.0e300).view(np.uint64)
        else:
            values = pd.factorize(series, use_na_sentinel=True)[0].astype(np.uint64)
        digest = (digest ^ values) * np.uint64(0x100000001B3)
        digest ^= digest >> np.uint64(29)
    return digest


def _same_content_in_time_order(digest: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """Row order grouping equal digests, each group in time order; rows with a unique digest (nearly all
    of a healthy log) are left out, since they cannot repeat anything. A plain sort finds the repeated
    digests, a binary search their rows, and only those rows are sorted by (digest, time): several times
    cheaper than an argsort of every row, let alone a full two-key lexsort."""
    sorted_digest = np.sort(digest)
    equal = sorted_digest[1:] == sorted_digest[:-1]
    if not equal.any():
        return np.empty(0, dtype=np.intp)
    repeated_values = np.unique(sorted_digest[1:][equal])
    at = np.minimum(np.searchsorted(repeated_values, digest), len(repeated_values) - 1)
    rows = np.flatnonzero(repeated_values[at] == digest)
    return rows[np.lexsort((stamps[rows], digest[rows]))]


def repeated_pairs(frame: pd.DataFrame, models: tuple[str, ...], window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(later, earlier) row positions of each pair of records with the same symbol, side, prices, PnL and
    confidences within ``window_ms`` of each other (at least two rows): CLM.duplicates' content rule, which
    the watch applies to post-apply trades too (``watch/trades.py``)."""
    content = ["symbol", "side", *PRICE_AND_PNL, "confidence", *[conf_column(m) for m in models]]
    digest = _row_digest(frame, content)
    stamps = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    order = _same_content_in_time_order(digest, stamps)
    same = digest[order][1:] == digest[order][:-1]
    gap = np.abs(stamps[order][1:] - stamps[order][:-1])
    repeated = same & (gap <= window_ms * 1e6)
    return np.maximum(order[1:][repeated], order[:-1][repeated]), np.minimum(order[1:][repeated], order[:-1][repeated])


def _duplicates(ctx: _Context) -> Iterator[Finding]:
    """Double delivery: the same symbol, side, prices, PnL and confidences within ``duplicate_window_ms``,
    or a trade_id seen twice. Two genuine trades never agree on all of those within a second.
    """
    frame = ctx.frame
    if len(frame) < 2:
        yield Finding("CLM.duplicates", "pass", "fewer than two records", {})
        return
    later, earlier = repeated_pairs(frame, ctx.log.models, ctx.config.data.duplicate_window_ms)
    # In NumPy, not a Python set: a log of empty records repeats itself on every line (a million rows).
    rows = sorted_union(later, _reused_trade_ids(frame["trade_id"]))
    line = frame["line"].to_numpy()
    pairs = [
        f"line {line[b]} repeats line {line[a]}" for a, b in zip(earlier[: ctx.cap], later[: ctx.cap], strict=True)
    ]
    evidence = {**ctx.lines(line[rows]), "pairs": pairs, "window_ms": ctx.config.data.duplicate_window_ms}
    problems = []
    if len(rows):
        problems.append(
            f"{len(rows)} record(s) ({100 * len(rows) / len(frame):.0f}%) repeat an earlier one within "
            f"{ctx.config.data.duplicate_window_ms:g} ms or reuse a trade_id "
            f"({format_lines(ctx.lines(line[rows]))})"
        )
    yield _finding("CLM.duplicates", problems, "no record is delivered twice", evidence)


def _reused_trade_ids(trade_ids: pd.Series) -> np.ndarray:
    """Rows whose trade_id an earlier row already used; only rows that carry one are hashed (the recorder
    format carries none, and hashing a million missing values costs as much as real ones)."""
    present = trade_ids.notna().to_numpy()
    if not present.any():
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(present)[trade_ids[present].duplicated(keep="first").to_numpy()]


def _constant_confidence(ctx: _Context) -> Iterator[Finding]:
    problems = []
    evidence: dict[str, object] = {}
    for column in ["confidence", *[conf_column(m) for m in ctx.log.models]]:
        values = ctx.frame[column].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        ordered = np.sort(values)
        evidence[ctx.name(column)] = int(np.count_nonzero(ordered[1:] != ordered[:-1])) + (len(ordered) > 0)
        if len(values) >= 2 and values.min() == values.max():
            problems.append(f"{ctx.name(column)} is {values[0]:g} on every record: nothing to calibrate")
    yield _finding("CLM.constant_confidence", problems, "confidence varies across records", evidence)


def _pnl_sign(ctx: _Context) -> Iterator[Finding]:
    frame = ctx.frame
    move = np.sign(frame["exit_price"].to_numpy(dtype=np.float64) - frame["entry_price"].to_numpy(dtype=np.float64))
    side = frame["side"]
    longs, shorts = side.isin(SIDES_LONG).to_numpy(bool), side.isin(SIDES_SHORT).to_numpy(bool)
    direction = np.where(longs, 1.0, np.where(shorts, -1.0, np.nan))
    pnl = np.sign(frame["pnl_pct"].to_numpy(dtype=np.float64))
    expected = move * direction
    with np.errstate(invalid="ignore"):
        bad = (pnl != 0) & (expected != 0) & np.isfinite(expected) & np.isfinite(pnl) & (pnl != expected)
    lines = ctx.log.lines_of(bad)
    evidence = ctx.lines(lines)
    problems = []
    if len(lines):
        problems.append(
            f"PnL sign disagrees with side and price move on {len(lines)} record(s), e.g. a short "
            f"recorded as BUY ({format_lines(evidence)})"
        )
    yield _finding("CLM.pnl_sign", problems, "PnL sign agrees with side and price move", evidence)


def _flat_price(ctx: _Context) -> Iterator[Finding]:
    entry = ctx.frame["entry_price"].to_numpy(dtype=np.float64)
    flat = entry == ctx.frame["exit_price"].to_numpy(dtype=np.float64)
    lines = ctx.log.lines_of(flat)
    evidence = ctx.lines(lines)
    yield _finding(
        "CLM.flat_price",
        [_problem(ctx, "entry price equals exit price", lines)] if len(lines) else [],
        "entry and exit prices differ on every record",
        evidence,
    )


def _timestamps(ctx: _Context) -> Iterator[Finding]:
    frame = ctx.frame
    stamps = frame["timestamp"]
    raw_present = frame["timestamp_raw"].notna().to_numpy()
    unparseable = ctx.log.lines_of(raw_present & stamps.isna().to_numpy())
    tolerance = pd.Timedelta(seconds=ctx.config.data.future_tolerance_s)
    future = ctx.log.lines_of((stamps > pd.Timestamp(ctx.now) + tolerance).to_numpy())
    valid = stamps.dropna()
    steps = valid.diff().dt.total_seconds().to_numpy()
    back_rows = valid.index.to_numpy()[np.nan_to_num(steps, nan=0.0) < -ctx.config.data.backwards_tolerance_s]
    backwards = frame["line"].to_numpy()[back_rows]
    naive = int(frame["timestamp_naive"].sum())
    problems = []
    if len(unparseable):
        problems.append(_problem(ctx, "timestamp is not ISO 8601", unparseable))
    if len(future):
        problems.append(_problem(ctx, f"timestamp is in the future (now {ctx.now.isoformat()})", future))
    if len(backwards):
        problems.append(_problem(ctx, "timestamp goes backwards from the previous record", backwards))
    evidence = {
        "unparseable": ctx.lines(unparseable),
        "future": ctx.lines(future),
        "backwards": ctx.lines(backwards),
        "naive_read_as_utc": naive,
    }
    ok = "timestamps parse, are in order and not in the future"
    if naive:
        ok += f"; {naive} carry no time zone and were read as UTC"
    yield _finding("CLM.timestamps", problems, ok, evidence)


def _per_value(column: pd.Series, is_bad: Callable[[str], bool]) -> np.ndarray:
    """A row mask from a test of each distinct string: a log holds a handful of model ids and exit reasons,
    so testing the distinct values and mapping back is far cheaper than string ops on a million rows."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    bad = np.asarray([isinstance(value, str) and is_bad(value) for value in uniques] + [False], dtype=bool)
    return bad[codes]  # code -1 (missing) takes the trailing False


def _placeholders(ctx: _Context) -> Iterator[Finding]:
    frame = ctx.frame
    problems = []
    evidence: dict[str, object] = {}
    bad_model = _per_value(frame["model_id"], lambda text: bool(_PLACEHOLDER_MODEL.search(text)))
    bad_reason = _per_value(frame["exit_reason"], lambda text: text.strip().lower() in _PLACEHOLDER_REASONS)
    size = frame["position_size"].to_numpy(dtype=np.float64)
    for what, mask in (
        ("model_id is a placeholder (e.g. *_None)", bad_model),
        ("exit_reason is 'unknown'", bad_reason),
        ("position_size is 0.0", size == 0.0),
    ):
        lines = ctx.log.lines_of(mask)
        if len(lines):
            problems.append(_problem(ctx, what, lines))
            evidence[what] = ctx.lines(lines)
    yield _finding("CLM.placeholders", problems, "no placeholder values", evidence)


def _models(ctx: _Context) -> Iterator[Finding]:
    if not ctx.log.models:
        yield Finding("CLM.models", "pass", "no per-model predictions in this log (ensemble only)", {"models": []})
        return
    problems = []
    missing = ctx.log.nulls.get(MODEL_PREDICTIONS_KEY)
    if missing is not None and len(missing):
        problems.append(_problem(ctx, "model_predictions missing", missing))
    wrong = ctx.log.type_errors.get(MODEL_PREDICTIONS_KEY)
    if wrong is not None and len(wrong):
        problems.append(_problem(ctx, "model_predictions is not an object", wrong))
    for model in ctx.log.models:
        if not _PLAIN_MODEL_NAME.fullmatch(model):  # it is printed in the report, the terminal, the live config
            problems.append(f"model name {model[:80]!r} is not a plain name (letters, digits, '_', '.', '-'; "
                            "at most 64 characters)")  # fmt: skip
        lines = ctx.log.nulls.get(conf_column(model))
        if lines is not None and len(lines):
            problems.append(_problem(ctx, f"model {model!r} has no confidence", lines))
    yield _finding(
        "CLM.models",
        problems,
        f"every record carries {', '.join(ctx.log.models)}",
        {"models": list(ctx.log.models)},
    )


_CHECKS: tuple[Callable[[_Context], Iterator[Finding]], ...] = (
    _exists,
    _enough_trades,
    _enough_symbols,
    _wins_and_losses,
    _prices_and_pnl,
    _cadence_minimum,
    _starvation,
    _parse,
    _schema,
    _confidence,
    _duplicates,
    _constant_confidence,
    _pnl_sign,
    _flat_price,
    _timestamps,
    _placeholders,
    _models,
)
