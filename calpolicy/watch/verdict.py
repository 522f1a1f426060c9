"""The watch's verdict from already-read inputs: the pure core of ``calpolicy watch`` (``judge``).

Looks: look ``k`` judges the data up to ``approved_at + k × watch.hours / watch.looks`` (every 15 min for
24 h by default). The look index comes from the elapsed time alone, and every past look is recomputed from
the data at each run, so the watch keeps no state and a ROLLBACK found at one look stays found.

Alpha: ``watch.alpha`` (5 %) is the chance that a no-harm day says ROLLBACK at *any* look of *any* signal;
it is split across the signals (``ALPHA_SHARE``), and each signal's share is spent over its looks by the
group-sequential boundary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from calpolicy.watch.journal import Decision
from calpolicy.watch.signals import (
    Looks,
    Signal,
    calibration,
    confidence_distribution,
    hold_rate,
    pnl_drift,
    win_rate_delta,
)
from calpolicy.watch.trades import Trades

EXIT_OK = 0
EXIT_ROLLBACK = 1
EXIT_COULD_NOT_CHECK = 3
EXIT_INCONCLUSIVE = 4

# Each signal's share of the day's alpha (Bonferroni: the shares add up to 1). The trade signals get the
# most: they are the checklist's harm; the calibration and range checks split the rest.
ALPHA_SHARE = {"P4.2.a": 0.25, "P4.2.b": 0.25, "P4.2.c": 0.20, "P4.2.cal": 0.20, "P4.2.d": 0.10}


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

    @property
    def findings(self) -> tuple[Signal, ...]:
        """The README's JSON contract calls them findings; ``signals`` stays as the older name."""
        return self.signals

    def to_dict(self) -> dict[str, Any]:
        items = [s.to_dict() for s in self.signals]
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "version": self.version,
            "approved_at": self.approved_at.isoformat(),
            "now": self.now.isoformat(),
            "findings": items,
            "signals": items,
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str, allow_nan=False)


def looks_at(approved_at: datetime, now: datetime, hours: float, total: int) -> Looks:
    """The looks reached by ``now``: every ``hours / total`` after approval, at most ``total``."""
    interval_h = hours / total
    elapsed_h = (now - approved_at).total_seconds() / 3600.0
    count = 0 if elapsed_h <= 0 else min(math.floor(elapsed_h / interval_h + 1e-9), total)
    return Looks(np.arange(1, count + 1) / total, total, interval_h)


def _us(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def split_trades(
    times: np.ndarray,
    pnl: np.ndarray,
    approved_at: datetime,
    until: datetime,
    baseline_hours: float,
    baseline_min_trades: int,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Baseline and post-apply PnL, in time order; the baseline widens to the last N trades if thin."""
    base, post, how = _split(Trades.from_arrays(times, pnl), approved_at, until, baseline_hours, baseline_min_trades)
    return base, post.pnl, how


def _split(
    trades: Trades, approved_at: datetime, until: datetime, baseline_hours: float, baseline_min_trades: int
) -> tuple[np.ndarray, Trades, str]:
    approved, end = _us(approved_at), _us(until)
    start = approved - np.timedelta64(int(baseline_hours * 3600 * 1e6), "us")
    before = trades.times < approved
    baseline = trades.pnl[before & (trades.times >= start)]
    how = f"the {baseline_hours:g} h before approval"
    if len(baseline) < baseline_min_trades:
        baseline = trades.pnl[before][-baseline_min_trades:]
        how = f"the last {len(baseline)} trades before approval ({baseline_hours:g} h held too few)"
    after = (trades.times >= approved) & (trades.times <= end)
    post = Trades(trades.times[after], trades.pnl[after], trades.confidence[after], trades.duplicates)
    return baseline, post, how


def predicted_probability(mapping: dict[str, float] | None, confidence: np.ndarray) -> np.ndarray:
    """What the applied map makes of each confidence: the engine's rule, ``calibrate.proposal.apply_engine_mapping``.

    A copy of those four lines, not an import: importing ``calpolicy.calibrate`` brings the whole engine and
    scipy.stats into every ``calpolicy watch`` (3 s at load 13). ``unit_tests/test_checked_copies.py``
    holds the two to the same answers.
    """
    if not mapping:
        return np.clip(confidence, 0.0, 1.0)
    keys = sorted(mapping, key=float)
    x = np.array([float(k) for k in keys])
    y = np.array([float(mapping[k]) for k in keys])
    return np.clip(np.interp(confidence, x, y), 0.0, 1.0)


def judge(
    *,
    times: np.ndarray | None = None,
    pnl: np.ndarray | None = None,
    decisions: Sequence[Decision],
    approved_at: datetime,
    now: datetime,
    version: str | None,
    watch_config: Any,
    confidence: np.ndarray | None = None,
    trades: Trades | None = None,
    mapping: dict[str, float] | None = None,
    predicted_brier: float | None = None,
    journal_start: datetime | None = None,
    detail: bool = True,
) -> WatchReport:
    """Every signal from already-read inputs.

    ``trades`` (unique trades, from ``trades_from_frame``) or ``times``/``pnl``/``confidence``;
    ``mapping`` is the applied ``confidence_calibration.mapping`` (None: the engine applies none);
    ``journal_start`` the earliest journal entry read, so the HOLD baseline is the span actually read.
    ``detail=False`` skips computing boundaries no statistic came near (same verdict, fewer numbers shown).
    """
    w = watch_config
    if trades is None:
        if times is None or pnl is None:
            raise TypeError("judge needs trades or times and pnl")
        trades = Trades.from_arrays(times, pnl, confidence)
    looks = looks_at(approved_at, now, w.hours, w.looks)
    last_look = approved_at + timedelta(hours=looks.count * looks.interval_h)
    step_us = np.timedelta64(round(looks.interval_h * 3600e6), "us")
    ends = _us(approved_at) + step_us * np.arange(1, looks.count + 1)
    baseline_pnl, post, baseline_how = _split(trades, approved_at, last_look, w.baseline_hours, w.baseline_min_trades)
    counts = np.searchsorted(post.times, ends, side="right").astype(np.int64)
    alpha = {sid: share * w.alpha for sid, share in ALPHA_SHARE.items()}

    has_conf = np.isfinite(post.confidence)
    conf_counts = np.searchsorted(post.times[has_conf], ends, side="right").astype(np.int64)
    predicted = predicted_probability(mapping, post.confidence[has_conf])

    base_start = approved_at - timedelta(hours=w.baseline_hours)
    if journal_start is not None and journal_start > base_start:
        base_start = min(journal_start, approved_at)
    base_hours = (approved_at - base_start).total_seconds() / 3600.0
    # decisions as seconds after approval, in time order (one pass over the list; the rest is NumPy)
    ordered = sorted(decisions, key=lambda d: d.when)
    when = np.array([(d.when - approved_at).total_seconds() for d in ordered], dtype=np.float64)
    hold = np.array([d.action == "HOLD" for d in ordered], dtype=bool)
    conf = np.array([np.nan if d.confidence is None else d.confidence for d in ordered], dtype=np.float64)
    start_s, last_s = -base_hours * 3600.0, looks.count * looks.interval_h * 3600.0
    base = (when >= start_s) & (when < 0.0)
    after = (when >= 0.0) & (when <= last_s)
    post_when, is_hold, acted_conf = when[after], hold[after], conf[after]
    ends_s = (np.arange(looks.count) + 1) * looks.interval_h * 3600.0
    dec_counts = np.searchsorted(post_when, ends_s + 1e-6, side="right").astype(np.int64)
    hold_counts = np.concatenate([[0], np.cumsum(is_hold)])[dec_counts]
    acted = np.isfinite(acted_conf)
    acted_counts = np.concatenate([[0], np.cumsum(acted)])[dec_counts].astype(np.int64)
    acted_conf = acted_conf[acted]
    low, high = w.confidence_range

    signals = (
        pnl_drift(
            baseline_pnl,
            post.pnl,
            counts,
            looks,
            w.pnl_drift_sd,
            alpha["P4.2.a"],
            w.baseline_min_trades,
            w.min_post_trades,
            detail,
        ),
        win_rate_delta(
            baseline_pnl,
            post.pnl,
            counts,
            looks,
            w.win_rate_delta,
            alpha["P4.2.b"],
            w.baseline_min_trades,
            w.min_post_trades,
            w.recent_trades,
            detail,
        ),
        hold_rate(
            int(hold[base].sum()),
            int(base.sum()),
            base_hours,
            hold_counts,
            dec_counts,
            looks,
            w.hold_rate_increase,
            alpha["P4.2.c"],
            w.min_decisions,
            w.min_post_hours,
            detail,
        ),
        confidence_distribution(acted_conf, acted_counts, looks, low, high, alpha["P4.2.d"], w.min_decisions, detail),
        calibration(
            predicted,
            (post.pnl[has_conf] > 0).astype(np.float64),
            conf_counts,
            looks,
            w.calibration_bias,
            alpha["P4.2.cal"],
            w.min_post_trades,
            predicted_brier,
            detail,
        ),
    )
    notes = [
        f"baseline: {baseline_how}; HOLD baseline over the {base_hours:.2f} h of journal read before approval",
        f"look {looks.count} of {looks.total} (every {looks.interval_h * 60:g} min for {w.hours:g} h): "
        f"data up to {last_look.isoformat(timespec='seconds')}",
        f"family-wise: a no-harm day says ROLLBACK at any look of any signal with at most {w.alpha:.0%} chance",
    ]
    repeats = trades.duplicates
    if len(repeats):
        in_post = int(np.sum((repeats >= _us(approved_at)) & (repeats <= _us(last_look))))
        notes.append(
            f"{len(repeats)} duplicate CLM records dropped by the data gate's rule ({in_post} after approval): "
            f"a repeat is not more evidence"
        )
    if looks.complete:
        notes.append("the watch window is complete")
    return WatchReport(version, approved_at, now, signals, tuple(notes))
