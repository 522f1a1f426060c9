"""The 24-hour post-apply watch (checklist 4.2): four signals, each OK, BREACH or INCONCLUSIVE.

A signal is only as good as its sample. Twenty trades give a win-rate standard error of about eleven
points, wider than the five-point threshold, so every signal reports its sample size and standard error
beside its value, and a signal with too few post-apply observations is INCONCLUSIVE ("hold for a
human"), never OK. A breach is judged on the point value against the checklist's threshold: rolling back
is the safe direction, so the watch errs towards recommending it and shows the noise so a human can
weigh it. The watch never rolls back by itself.

The baseline is the window before ``approved_at`` (``watch.baseline_hours``, extended to the last
``watch.baseline_min_trades`` trades when that window holds fewer); the post-apply window runs from
``approved_at`` for ``watch.hours``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from calpolicy.probes.journal import JournalEntry

SignalStatus = Literal["ok", "breach", "inconclusive"]

EXIT_OK = 0
EXIT_ROLLBACK = 1
EXIT_COULD_NOT_CHECK = 3
EXIT_INCONCLUSIVE = 4

_CONFIDENCE = r"confidence=(?P<conf>\d+(?:\.\d+)?)(?P<pct>%?)"
_CONFIRMED = re.compile(r"Action confirmed:\s*(?P<action>[A-Z]+)\s*\(" + _CONFIDENCE)
_NO_SIGNAL = re.compile(r"No actionable signal for\s+(?P<symbol>\S+)")


class WatchError(Exception):
    """The watch cannot judge (no applied calibration, unreadable log or journal): exit 3."""


@dataclass(frozen=True)
class Decision:
    """One decision of the AI engine: HOLD, or an actionable side with the confidence it acted on."""

    when: datetime
    action: str
    confidence: float | None
    text: str


@dataclass(frozen=True)
class Signal:
    id: str
    name: str
    status: SignalStatus
    value: float | None
    threshold: float
    n: int
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "value": self.value,
            "threshold": self.threshold,
            "n": self.n,
            "message": self.message,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class WatchReport:
    version: str | None
    approved_at: datetime
    now: datetime
    signals: tuple[Signal, ...]
    notes: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        statuses = {s.status for s in self.signals}
        if "breach" in statuses:
            return "ROLLBACK RECOMMENDED"
        if "inconclusive" in statuses or not self.signals:
            return "INCONCLUSIVE"
        return "OK"

    @property
    def exit_code(self) -> int:
        return {"OK": EXIT_OK, "ROLLBACK RECOMMENDED": EXIT_ROLLBACK}.get(self.verdict, EXIT_INCONCLUSIVE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "version": self.version,
            "approved_at": self.approved_at.isoformat(),
            "now": self.now.isoformat(),
            "signals": [s.to_dict() for s in self.signals],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str, allow_nan=False)


# --------------------------------------------------------------------------------------------- journal


def _text_of(message: str) -> str:
    """The log text, unwrapped from the engine's JSON line form (``{"msg": ...}``) when it has one."""
    stripped = message.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            return message
        if isinstance(record, dict) and isinstance(record.get("msg"), str):
            return record["msg"]
    return message


def parse_confidence(number: str, percent: str) -> float:
    """``0.72`` and ``72.00%`` are the same confidence; both forms appear in the engine's journal."""
    value = float(number)
    return value / 100.0 if percent else value


def parse_decisions(entries: Iterable[JournalEntry], dedupe_window_s: float = 2.0) -> list[Decision]:
    """Each decision once, from its "Action confirmed" or "No actionable signal" line.

    The engine logs a decision several times in a row (plain and JSON-wrapped, and again by other
    loggers): a decision line identical to the previous decision line and within ``dedupe_window_s`` of it
    is a repeat. Only consecutive repeats merge, so two decisions with the same text (the confirmed line
    names no symbol) count twice as long as any other decision came between them.
    """
    decisions: list[Decision] = []
    previous: tuple[str, datetime] | None = None
    for entry in sorted(entries, key=lambda e: e.when):
        text = _text_of(entry.message)
        confirmed = _CONFIRMED.search(text)
        hold = None if confirmed else _NO_SIGNAL.search(text)
        if not confirmed and not hold:
            continue
        key = (confirmed or hold).group(0)
        repeat = previous is not None and previous[0] == key
        if repeat and (entry.when - previous[1]).total_seconds() <= dedupe_window_s:
            previous = (key, entry.when)
            continue
        previous = (key, entry.when)
        if confirmed:
            confidence = parse_confidence(confirmed["conf"], confirmed["pct"])
            decisions.append(Decision(entry.when, confirmed["action"], confidence, key))
        else:
            decisions.append(Decision(entry.when, "HOLD", None, key))
    return decisions


# --------------------------------------------------------------------------------------------- signals


def _inconclusive(signal_id: str, name: str, threshold: float, n: int, why: str, **evidence: Any) -> Signal:
    return Signal(signal_id, name, "inconclusive", None, threshold, n, f"INCONCLUSIVE: {why}", evidence)


def pnl_drift(baseline: np.ndarray, post: np.ndarray, threshold: float, min_baseline: int, min_post: int) -> Signal:
    """P4.2.a: |mean post − mean baseline| / sd(baseline), in baseline standard deviations."""
    name = "PnL drift"
    if len(baseline) < min_baseline:
        return _inconclusive(
            "P4.2.a", name, threshold, len(post), f"{len(baseline)} baseline trades, need {min_baseline}"
        )
    sd = float(np.std(baseline, ddof=1))
    if not math.isfinite(sd) or sd == 0.0:
        return _inconclusive("P4.2.a", name, threshold, len(post), "the baseline PnL has no spread to measure drift in")
    if len(post) < min_post:
        return _inconclusive("P4.2.a", name, threshold, len(post), f"{len(post)} post-apply trades, need {min_post}")
    drift = abs(float(np.mean(post)) - float(np.mean(baseline))) / sd
    standard_error = 1.0 / math.sqrt(len(post))
    evidence = {
        "mean_baseline": float(np.mean(baseline)),
        "mean_post": float(np.mean(post)),
        "sd_baseline": sd,
        "n_baseline": len(baseline),
        "standard_error": standard_error,
    }
    status: SignalStatus = "breach" if _reaches(drift, threshold) else "ok"
    word = "BREACH" if status == "breach" else "OK"
    message = (
        f"{word}: PnL drift {drift:.3f} sd (threshold {threshold:g}) over {len(post)} post-apply trades; "
        f"its standard error is about {standard_error:.2f} sd"
    )
    return Signal("P4.2.a", name, status, drift, threshold, len(post), message, evidence)


def win_rate_delta(baseline: np.ndarray, post: np.ndarray, recent: int, threshold: float, min_baseline: int) -> Signal:
    """P4.2.b: win rate (pnl > 0) of the last ``recent`` post-apply trades against the baseline's."""
    name = "win-rate delta"
    if len(baseline) < min_baseline:
        return _inconclusive(
            "P4.2.b", name, threshold, len(post), f"{len(baseline)} baseline trades, need {min_baseline}"
        )
    if len(post) < recent:
        return _inconclusive("P4.2.b", name, threshold, len(post), f"{len(post)} post-apply trades, need {recent}")
    base_rate = float(np.mean(baseline > 0))
    last = post[-recent:]
    post_rate = float(np.mean(last > 0))
    delta = post_rate - base_rate
    standard_error = math.sqrt(max(base_rate * (1 - base_rate), 1e-12) / recent)
    status: SignalStatus = "breach" if _reaches(abs(delta), threshold) else "ok"
    word = "BREACH" if status == "breach" else "OK"
    message = (
        f"{word}: win rate of the last {recent} trades {post_rate:.0%} vs baseline {base_rate:.0%} "
        f"(change {delta * 100:+.1f} points, threshold {threshold * 100:g}); with {recent} trades its standard "
        f"error is about {standard_error * 100:.0f} points"
    )
    evidence = {
        "baseline_win_rate": base_rate,
        "post_win_rate": post_rate,
        "n_baseline": len(baseline),
        "standard_error": standard_error,
    }
    return Signal("P4.2.b", name, status, abs(delta), threshold, recent, message, evidence)


def hold_rate(
    baseline: Sequence[Decision],
    post: Sequence[Decision],
    baseline_hours: float,
    post_hours: float,
    threshold: float,
    min_decisions: int,
    min_post_hours: float,
) -> Signal:
    """P4.2.c: HOLD decisions per hour and as a share of decisions; either up > threshold is a breach."""
    name = "HOLD rate"
    if len(baseline) < min_decisions:
        return _inconclusive(
            "P4.2.c", name, threshold, len(post), f"{len(baseline)} baseline decisions, need {min_decisions}"
        )
    if len(post) < min_decisions or post_hours < min_post_hours:
        return _inconclusive(
            "P4.2.c",
            name,
            threshold,
            len(post),
            f"{len(post)} post-apply decisions over {post_hours:.2f} h, need {min_decisions} over {min_post_hours:g} h",
        )
    base_holds = sum(d.action == "HOLD" for d in baseline)
    post_holds = sum(d.action == "HOLD" for d in post)
    rates = {
        "per_hour": (base_holds / baseline_hours, post_holds / post_hours),
        "share": (base_holds / len(baseline), post_holds / len(post)),
    }
    increases = {kind: _relative_increase(before, after) for kind, (before, after) in rates.items()}
    worst = max(increases.values())
    status: SignalStatus = "breach" if _exceeds(worst, threshold) else "ok"
    word = "BREACH" if status == "breach" else "OK"
    message = (
        f"{word}: HOLD {rates['per_hour'][1]:.2f}/h vs {rates['per_hour'][0]:.2f}/h baseline "
        f"({_percent(increases['per_hour'])}), share {rates['share'][1]:.0%} vs {rates['share'][0]:.0%} "
        f"({_percent(increases['share'])}); breach above +{threshold:.0%}"
    )
    evidence = {
        "baseline_holds": base_holds,
        "baseline_decisions": len(baseline),
        "baseline_hours": baseline_hours,
        "post_holds": post_holds,
        "post_decisions": len(post),
        "post_hours": post_hours,
        "increase_per_hour": _finite(increases["per_hour"]),
        "increase_share": _finite(increases["share"]),
    }
    return Signal("P4.2.c", name, status, _finite(worst), threshold, len(post), message, evidence)


def _reaches(value: float, threshold: float) -> bool:
    """At or past the threshold, counting float noise (0.45 − 0.50 is −0.04999…) as at it."""
    return value >= threshold or math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)


def _exceeds(value: float, threshold: float) -> bool:
    """Strictly past the threshold, float noise at the threshold counting as not past it."""
    return value > threshold and not math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)


def _relative_increase(before: float, after: float) -> float:
    if before == 0.0:
        return 0.0 if after == 0.0 else math.inf
    return (after - before) / before


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _percent(increase: float) -> str:
    return "from none" if math.isinf(increase) else f"{increase:+.0%}"


def confidence_distribution(post: Sequence[Decision], low: float, high: float, min_n: int) -> Signal:
    """P4.2.d: mean and 5th/95th percentiles of the acted-on confidences stay within [low, high]."""
    name = "confidence distribution"
    values = np.array([d.confidence for d in post if d.confidence is not None], dtype=np.float64)
    threshold = high
    if len(values) < min_n:
        return _inconclusive(
            "P4.2.d", name, threshold, len(values), f"{len(values)} post-apply confidences, need {min_n}"
        )
    mean, p5, p95 = float(values.mean()), float(np.percentile(values, 5)), float(np.percentile(values, 95))
    outside = [label for label, v in (("mean", mean), ("p5", p5), ("p95", p95)) if not low <= v <= high]
    status: SignalStatus = "breach" if outside else "ok"
    word = "BREACH" if outside else "OK"
    where = f" ({', '.join(outside)} outside)" if outside else ""
    message = (
        f"{word}: confidence mean {mean:.3f}, p5 {p5:.3f}, p95 {p95:.3f} over {len(values)} decisions; "
        f"allowed [{low:g}, {high:g}]{where}"
    )
    evidence = {
        "mean": mean,
        "p5": p5,
        "p95": p95,
        "min": float(values.min()),
        "max": float(values.max()),
        "low": low,
        "high": high,
    }
    return Signal("P4.2.d", name, status, mean, threshold, len(values), message, evidence)


# --------------------------------------------------------------------------------------------- windows


def split_trades(
    times: np.ndarray,
    pnl: np.ndarray,
    approved_at: datetime,
    until: datetime,
    baseline_hours: float,
    baseline_min_trades: int,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Baseline and post-apply PnL, in time order; the baseline widens to the last N trades if thin."""
    order = np.argsort(times, kind="stable")
    times, pnl = times[order], pnl[order]
    approved = np.datetime64(approved_at.astimezone(UTC).replace(tzinfo=None), "us")
    end = np.datetime64(until.astimezone(UTC).replace(tzinfo=None), "us")
    start = approved - np.timedelta64(int(baseline_hours * 3600 * 1e6), "us")
    before = times < approved
    in_window = before & (times >= start)
    baseline = pnl[in_window]
    how = f"the {baseline_hours:g} h before approval"
    if len(baseline) < baseline_min_trades:
        baseline = pnl[before][-baseline_min_trades:]
        how = f"the last {len(baseline)} trades before approval ({baseline_hours:g} h held too few)"
    post = pnl[(times >= approved) & (times <= end)]
    return baseline, post, how


def judge(
    *,
    times: np.ndarray,
    pnl: np.ndarray,
    decisions: Sequence[Decision],
    approved_at: datetime,
    now: datetime,
    version: str | None,
    watch_config: Any,
) -> WatchReport:
    """All four signals from already-read inputs: the pure core of ``calpolicy watch``."""
    w = watch_config
    until = min(now, approved_at + timedelta(hours=w.hours))
    baseline_pnl, post_pnl, baseline_how = split_trades(
        times, pnl, approved_at, until, w.baseline_hours, w.baseline_min_trades
    )
    base_start = approved_at - timedelta(hours=w.baseline_hours)
    base_decisions = [d for d in decisions if base_start <= d.when < approved_at]
    post_decisions = [d for d in decisions if approved_at <= d.when <= until]
    post_hours = max((until - approved_at).total_seconds() / 3600.0, 0.0)
    low, high = w.confidence_range
    signals = (
        pnl_drift(baseline_pnl, post_pnl, w.pnl_drift_sd, w.baseline_min_trades, w.min_post_trades),
        win_rate_delta(baseline_pnl, post_pnl, w.recent_trades, w.win_rate_delta, w.baseline_min_trades),
        hold_rate(
            base_decisions,
            post_decisions,
            w.baseline_hours,
            post_hours,
            w.hold_rate_increase,
            w.min_decisions,
            w.min_post_hours,
        ),
        confidence_distribution(post_decisions, low, high, w.min_decisions),
    )
    notes = [f"baseline: {baseline_how}", f"post-apply window: {post_hours:.2f} h of {w.hours:g} h"]
    if now >= approved_at + timedelta(hours=w.hours):
        notes.append("the watch window is complete")
    return WatchReport(version, approved_at, now, signals, tuple(notes))


# --------------------------------------------------------------------------------------------- live inputs


def applied_calibration(path: Any) -> tuple[str | None, datetime]:
    """The live calibration's version and ``approved_at``; without an approval there is nothing to watch."""
    from pathlib import Path

    from calpolicy.safe_read import read_bytes

    source = Path(path)
    try:
        raw = json.loads(read_bytes(source, "calibration"))  # a FIFO or a link to /dev/zero: refused, not read
    except FileNotFoundError:
        raise WatchError(f"no calibration is applied: {source} does not exist") from None
    except (OSError, ValueError, RecursionError) as error:
        raise WatchError(f"cannot read the applied calibration {source}: {error}") from None
    if not isinstance(raw, dict):
        raise WatchError(f"{source} is not a JSON object")
    approved = raw.get("approved_at")
    if not isinstance(approved, str):
        raise WatchError(f"{source} has no approved_at: this calibration was not applied through an approval")
    try:
        approved_at = datetime.fromisoformat(approved)
    except ValueError:
        raise WatchError(f"{source}: approved_at is not an ISO-8601 instant: {approved!r}") from None
    version = raw.get("version")
    return (version if isinstance(version, str) else None), (
        approved_at if approved_at.tzinfo else approved_at.replace(tzinfo=UTC)
    )


def watch(config: Any, now: datetime | None = None) -> WatchReport:
    """Judge the live system: the applied calibration, the CLM log and the AI engine's journal."""
    from calpolicy.clm import read_clm_for
    from calpolicy.probes import ProbeError
    from calpolicy.probes.journal import read_journal

    now = now or datetime.now(UTC)
    version, approved_at = applied_calibration(config.paths.calibration_file)
    log = read_clm_for(config)
    if log.read_error:
        raise WatchError(f"cannot read the CLM log: {log.read_error}")
    frame = log.frame
    usable = frame["timestamp"].notna().to_numpy() & np.isfinite(frame["pnl_pct"].to_numpy(dtype=np.float64))
    times = frame["timestamp"].to_numpy(dtype="datetime64[us]")[usable]
    pnl = frame["pnl_pct"].to_numpy(dtype=np.float64)[usable]
    since = approved_at - timedelta(hours=config.watch.baseline_hours)
    try:
        entries = read_journal([config.systemd.ai_engine_unit], since, config.systemd)
    except ProbeError as error:
        raise WatchError(f"cannot read the AI engine's journal: {error}") from None
    decisions = parse_decisions(entries, config.watch.decision_dedupe_s)
    report = judge(
        times=times,
        pnl=pnl,
        decisions=decisions,
        approved_at=approved_at,
        now=now,
        version=version,
        watch_config=config.watch,
    )
    skipped = int((~usable).sum())
    if skipped:
        return WatchReport(
            report.version,
            report.approved_at,
            report.now,
            report.signals,
            (*report.notes, f"{skipped} CLM records without a timestamp or PnL were not used"),
        )
    return report
