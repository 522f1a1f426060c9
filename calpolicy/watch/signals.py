"""The watch's signals (checklist 4.2) as one-sided sequential tests toward harm.

Each signal is a z statistic per look, computed from the cumulative post-apply data up to that look
against the baseline, with the baseline's own error in its standard error; a look crosses when its z
reaches the group-sequential boundary (``sequential.py``) *and* the point estimate is past the
checklist's threshold (the checklist's effect size stays binding: a significant 2-point drop is not a
5-point drop). Only harm can cross: a better win rate, a better PnL, fewer HOLDs give negative z.

Status: ``breach`` once any look so far crossed (found again at every later look); ``ok`` only when the
watch window is complete, the signal had enough data at its last look and no look crossed; otherwise
``inconclusive`` (too little data, or no harm seen *so far*). The evidence gives the smallest effect the
data at hand would detect with 80 % power, so an OK says what it could and could not have seen.

This module stays whole although long (~560 lines): the four signals share one test (a z per look against
the same boundary, the same minimal detectable effect, the same status rule); apart they would drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import ndtri

from calpolicy.watch.sequential import first_crossing, smallest_boundary

SignalStatus = Literal["ok", "breach", "inconclusive"]

Z_POWER = float(ndtri(0.80))  # the minimum detectable effect is quoted at 80 % power
TAIL_SHARE = 0.05  # P4.2.d: "p5 and p95 within the range" = at most 5 % of confidences beyond each end


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
class Looks:
    """The looks so far: look ``k`` (1-based) judges the data up to ``approved_at + k × interval``.

    ``t`` is each look's calendar fraction ``k / total``; ``complete`` once the last look of the window
    has been reached. Derived from the elapsed time alone, so the watch keeps no state between runs.
    """

    t: np.ndarray
    total: int
    interval_h: float

    @property
    def count(self) -> int:
        return len(self.t)

    @property
    def complete(self) -> bool:
        return self.count >= self.total

    def hours(self, k: int) -> float:
        """Hours after approval of look index ``k`` (0-based)."""
        return (k + 1) * self.interval_h


@dataclass(frozen=True)
class Stream:
    """One sequential test: a z per look (NaN: not testable there), its information and its effect."""

    z: np.ndarray
    info: np.ndarray
    effect: np.ndarray  # the point estimate in the threshold's units, per look
    past_threshold: np.ndarray  # the checklist's effect size reached at that look
    se: np.ndarray  # the effect's standard error per look (for the detectable effect)
    alpha: float
    null: float = 0.0  # the effect under no harm (P4.2.d: a 5 % share beyond the range is allowed)
    floor: float = 0.0  # the checklist's effect size: nothing smaller is detected, whatever the data


@dataclass(frozen=True)
class Outcome:
    """A stream's verdict: the first crossing look (or None) and the boundaries where computed."""

    first: int | None
    boundaries: np.ndarray | None  # z-scale boundary per look (None: not computed, nothing came near)
    latest: int | None  # latest testable look
    z_max: float

    @property
    def boundary_now(self) -> float | None:
        """The boundary of the latest look that was tested: a look with no new data is not tested again."""
        if self.boundaries is None or self.latest is None:
            return None
        tested = np.flatnonzero(np.isfinite(self.boundaries[: self.latest + 1]))
        return float(self.boundaries[tested[-1]]) if len(tested) else None


def run_stream(stream: Stream, looks: Looks, detail: bool) -> Outcome:
    """Test a stream. No boundary is below ``z_{1−α}``, so a stream that never reached it needs no
    recursion (``detail=False`` then skips it: the verdict is the same, only the shown boundary is not)."""
    testable = np.flatnonzero(np.isfinite(stream.z))
    latest = int(testable[-1]) if len(testable) else None
    z_max = float(np.max(stream.z[testable])) if len(testable) else -math.inf
    floor = smallest_boundary(stream.alpha)
    candidate = np.isfinite(stream.z) & (stream.z >= floor) & stream.past_threshold
    if not candidate.any() and not detail:
        return Outcome(None, None, latest, z_max)
    crossing = first_crossing(
        looks.t, stream.info, stream.z, stream.alpha, also=stream.past_threshold, stop_early=not detail
    )
    return Outcome(crossing.first, crossing.boundaries, latest, z_max)


def _at(counts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sum and sum of squares of ``values`` over the first ``counts[k]`` of them, per look."""
    s1 = np.concatenate([[0.0], np.cumsum(values)])
    s2 = np.concatenate([[0.0], np.cumsum(values**2)])
    return s1[counts], s2[counts]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def inconclusive(signal_id: str, name: str, threshold: float, n: int, why: str, **evidence: Any) -> Signal:
    return Signal(signal_id, name, "inconclusive", None, threshold, n, f"INCONCLUSIVE: {why}", evidence)


def decide(
    signal_id: str,
    name: str,
    threshold: float,
    looks: Looks,
    streams: dict[str, Stream],
    n_now: int,
    value_now: float | None,
    describe: Any,
    short: str,
    evidence: dict[str, Any],
    detail: bool,
    words: Any = None,
) -> Signal:
    """The signal's status from its streams (each a one-sided harm direction with its share of alpha).

    ``describe(kind, k)`` words the effect at look ``k``; ``short`` says what too little data means;
    ``words(kind, effect)`` words a detectable effect (default: the stream's name and the number).
    """
    outcomes = {kind: run_stream(stream, looks, detail) for kind, stream in streams.items()}
    tests: dict[str, Any] = {}
    for kind, stream in streams.items():
        out = outcomes[kind]
        entry: dict[str, Any] = {"alpha": stream.alpha, "z_max": _finite(out.z_max)}
        if out.latest is not None:
            entry["z_now"] = _finite(float(stream.z[out.latest]))
            entry["boundary_now"] = _finite(out.boundary_now)
            bound = out.boundary_now if out.boundary_now is not None else smallest_boundary(stream.alpha)
            if math.isfinite(bound):
                reach = stream.null + (bound + Z_POWER) * float(stream.se[out.latest])
                entry["detectable_effect"] = _finite(max(reach, stream.floor))
        if out.first is not None:
            entry["crossed_at_look"] = out.first + 1
        tests[kind] = entry
    evidence = {**evidence, "look": looks.count, "looks": looks.total, "tests": tests}
    crossed = [(out.first, kind) for kind, out in outcomes.items() if out.first is not None]
    if crossed:
        k, kind = min(crossed)
        stream = streams[kind]
        message = (
            f"BREACH at look {k + 1} of {looks.total} ({looks.hours(k):.2f} h after approval): {describe(kind, k)}; "
            f"z {stream.z[k]:.2f} reached the boundary {outcomes[kind].boundaries[k]:.2f} "
            f"that keeps a no-harm day's chance of any false alarm over the {looks.total} looks at "
            f"{stream.alpha:.2%}"
        )
        return Signal(signal_id, name, "breach", value_now, threshold, n_now, message, evidence)
    now_testable = all(out.latest == looks.count - 1 for out in outcomes.values())
    if looks.complete and now_testable:
        detect = _detectable(tests, words)
        message = (
            f"OK: no harm at any of the {looks.total} looks ({describe(None, looks.count - 1)}); "
            f"this window would have detected {detect} with 80 % power — smaller harm is not excluded"
        )
        return Signal(signal_id, name, "ok", value_now, threshold, n_now, message, evidence)
    if not now_testable:
        message = f"INCONCLUSIVE: {short}"
        return Signal(signal_id, name, "inconclusive", value_now, threshold, n_now, message, evidence)
    message = (
        f"INCONCLUSIVE: no harm so far at look {looks.count} of {looks.total} "
        f"({describe(None, looks.count - 1)}); OK is said only when the {looks.total} looks are complete"
    )
    return Signal(signal_id, name, "inconclusive", value_now, threshold, n_now, message, evidence)


def _detectable(tests: dict[str, Any], words: Any) -> str:
    say = words or (lambda kind, effect: f"{kind} {effect:.3g}")
    parts = [say(kind, e["detectable_effect"]) for kind, e in tests.items() if e.get("detectable_effect") is not None]
    return ", ".join(parts) if parts else "no effect of known size"


# --------------------------------------------------------------------------------------------- P4.2.a


def pnl_drift(
    baseline: np.ndarray,
    post: np.ndarray,
    counts: np.ndarray,
    looks: Looks,
    threshold: float,
    alpha: float,
    min_baseline: int,
    min_post: int,
    detail: bool = True,
) -> Signal:
    """P4.2.a: mean post-apply PnL below the baseline's, in baseline standard deviations (one-sided).

    z = (mean before − mean after) / √(s²_before/n_before + s²_after/n_after) (Welch: the baseline's error
    counts); a breach also needs the drop to reach ``threshold`` baseline standard deviations.
    """
    name = "PnL drift"
    n_now = int(counts[-1]) if len(counts) else 0
    if len(baseline) < min_baseline:
        return inconclusive("P4.2.a", name, threshold, n_now, f"{len(baseline)} baseline trades, need {min_baseline}")
    mean_b, sd_b = float(np.mean(baseline)), float(np.std(baseline, ddof=1))
    if not math.isfinite(sd_b) or sd_b == 0.0:
        return inconclusive("P4.2.a", name, threshold, n_now, "the baseline PnL has no spread to measure drift in")
    n = counts.astype(np.float64)
    s1, s2 = _at(counts, post)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = np.maximum(s2 - n * mean**2, 0.0) / (n - 1)
        se = np.sqrt(sd_b**2 / len(baseline) + var / n)
        z = np.where(n >= max(min_post, 2), (mean_b - mean) / se, np.nan)
        drift = (mean - mean_b) / sd_b
    info = 1.0 / (1.0 / len(baseline) + 1.0 / np.maximum(n, 1.0))
    stream = Stream(z, info, drift, drift <= -threshold + 1e-12, se / sd_b, alpha, floor=threshold)
    value = _finite(float(drift[-1])) if n_now else None

    def describe(_kind: str | None, k: int) -> str:
        return (
            f"mean PnL {mean[k]:+.3f} vs {mean_b:+.3f} before, a drift of {drift[k]:+.3f} sd over {int(n[k])} trades"
            f" (threshold −{threshold:g} sd)"
        )

    evidence = {
        "mean_baseline": mean_b,
        "sd_baseline": sd_b,
        "n_baseline": len(baseline),
        "mean_post": _finite(float(mean[-1])) if n_now else None,
        "standard_error_sd": _finite(float(se[-1] / sd_b)) if n_now > 1 else None,
    }
    short = f"{n_now} post-apply trades, need {min_post}"
    return decide(
        "P4.2.a",
        name,
        threshold,
        looks,
        {"drop": stream},
        n_now,
        value,
        describe,
        short,
        evidence,
        detail,
        lambda _kind, effect: f"a mean PnL drop of {effect:.2f} baseline sd",
    )


# --------------------------------------------------------------------------------------------- P4.2.b


def win_rate_delta(
    baseline: np.ndarray,
    post: np.ndarray,
    counts: np.ndarray,
    looks: Looks,
    threshold: float,
    alpha: float,
    min_baseline: int,
    min_post: int,
    recent: int = 20,
    detail: bool = True,
) -> Signal:
    """P4.2.b: win rate (pnl > 0) of all post-apply trades so far below the baseline's (one-sided).

    The standard error is the two-sample one under no change, √(p(1−p)(1/n_before + 1/n_after)) with p
    the baseline's win rate (shrunk by half a trade so 0 % or 100 % still has spread): it depends on the
    counts only, so turning a post-apply loss into a win always lowers z. The checklist's "last 20
    trades" rate is shown beside it: at 20 trades its standard error is about 11 points, so it cannot
    decide a 5-point question on its own.
    """
    name = "win-rate delta"
    n_now = int(counts[-1]) if len(counts) else 0
    if len(baseline) < min_baseline:
        return inconclusive("P4.2.b", name, threshold, n_now, f"{len(baseline)} baseline trades, need {min_baseline}")
    wins_b = float(np.sum(baseline > 0))
    rate_b = wins_b / len(baseline)
    p = (wins_b + 0.5) / (len(baseline) + 1.0)
    n = counts.astype(np.float64)
    wins, _ = _at(counts, (post > 0).astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = wins / n
        se = np.sqrt(p * (1 - p) * (1.0 / len(baseline) + 1.0 / n))
        z = np.where(n >= min_post, (rate_b - rate) / se, np.nan)
    delta = rate - rate_b
    info = 1.0 / (1.0 / len(baseline) + 1.0 / np.maximum(n, 1.0))
    stream = Stream(z, info, delta, delta <= -threshold + 1e-12, se, alpha, floor=threshold)
    value = _finite(float(delta[-1])) if n_now else None
    last = post[:n_now][-recent:]

    def describe(_kind: str | None, k: int) -> str:
        return (
            f"win rate {rate[k]:.0%} of {int(n[k])} trades vs {rate_b:.0%} before, {delta[k] * 100:+.1f} points"
            f" (threshold −{threshold * 100:g})"
        )

    evidence = {
        "baseline_win_rate": rate_b,
        "n_baseline": len(baseline),
        "post_win_rate": _finite(float(rate[-1])) if n_now else None,
        "standard_error": _finite(float(se[-1])) if n_now else None,
        f"last_{recent}_win_rate": float(np.mean(last > 0)) if len(last) else None,
    }
    short = f"{n_now} post-apply trades, need {min_post}"
    return decide(
        "P4.2.b",
        name,
        threshold,
        looks,
        {"drop": stream},
        n_now,
        value,
        describe,
        short,
        evidence,
        detail,
        lambda _kind, effect: f"a win-rate drop of {effect * 100:.0f} points",
    )


# --------------------------------------------------------------------------------------------- P4.2.c


def hold_rate(
    base_holds: int,
    base_decisions: int,
    base_hours: float,
    post_holds: np.ndarray,
    post_decisions: np.ndarray,
    looks: Looks,
    threshold: float,
    alpha: float,
    min_decisions: int,
    min_post_hours: float,
    detail: bool = True,
) -> Signal:
    """P4.2.c: HOLDs per hour and HOLDs as a share of decisions, each up on the baseline (one-sided).

    ``post_holds``/``post_decisions`` are cumulative counts per look. Per hour: a Poisson-rate comparison
    with the pooled rate's variance, ``base_hours`` being the journal span actually read; share: two
    proportions with the pooled share. Each carries half the signal's alpha; a breach also needs a rise
    of more than ``threshold`` (relative).
    """
    name = "HOLD rate"
    n_now = int(post_decisions[-1]) if len(post_decisions) else 0
    if base_decisions < min_decisions:
        why = f"{base_decisions} baseline decisions, need {min_decisions}"
        return inconclusive("P4.2.c", name, threshold, n_now, why)
    if base_hours <= 0:
        return inconclusive("P4.2.c", name, threshold, n_now, "the journal read holds no time before approval")
    hours = (np.arange(looks.count) + 1) * looks.interval_h
    holds = post_holds.astype(np.float64)
    decisions = post_decisions.astype(np.float64)
    enough = (decisions >= min_decisions) & (hours >= min_post_hours - 1e-12)
    rate_b, share_b = base_holds / base_hours, base_holds / base_decisions
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = holds / hours
        pooled_rate = (base_holds + holds + 0.5) / (base_hours + hours)
        se_rate = np.sqrt(pooled_rate * (1.0 / base_hours + 1.0 / hours))
        z_rate = np.where(enough, (rate - rate_b) / se_rate, np.nan)
        share = holds / decisions
        pooled = (base_holds + holds + 0.5) / (base_decisions + decisions + 1.0)
        se_share = np.sqrt(pooled * (1 - pooled) * (1.0 / base_decisions + 1.0 / decisions))
        z_share = np.where(enough, (share - share_b) / se_share, np.nan)
        up_rate = np.where(rate_b > 0, rate / rate_b - 1.0, np.where(rate > 0, np.inf, 0.0))
        up_share = np.where(share_b > 0, share / share_b - 1.0, np.where(share > 0, np.inf, 0.0))
    streams = {
        "per_hour": Stream(
            z_rate,
            1.0 / (1.0 / base_hours + 1.0 / hours),
            up_rate,
            up_rate > threshold + 1e-12,
            se_rate / max(rate_b, 1e-12),
            alpha / 2,
            floor=threshold,
        ),
        "share": Stream(
            z_share,
            1.0 / (1.0 / base_decisions + 1.0 / np.maximum(decisions, 1.0)),
            up_share,
            up_share > threshold + 1e-12,
            se_share / max(share_b, 1e-12),
            alpha / 2,
            floor=threshold,
        ),
    }
    worst = max(float(up_rate[-1]), float(up_share[-1])) if n_now else None

    def describe(kind: str | None, k: int) -> str:
        return (
            f"HOLD {rate[k]:.2f}/h vs {rate_b:.2f}/h before ({_percent(up_rate[k])}), share {share[k]:.0%} vs "
            f"{share_b:.0%} ({_percent(up_share[k])}); breach above +{threshold:.0%}"
        )

    evidence = {
        "baseline_holds": base_holds,
        "baseline_decisions": base_decisions,
        "baseline_hours": base_hours,
        "post_holds": int(holds[-1]) if n_now else 0,
        "post_decisions": n_now,
        "post_hours": float(hours[-1]) if len(hours) else 0.0,
        "increase_per_hour": _finite(float(up_rate[-1])) if n_now else None,
        "increase_share": _finite(float(up_share[-1])) if n_now else None,
    }
    post_hours = float(hours[-1]) if len(hours) else 0.0
    short = f"{n_now} post-apply decisions over {post_hours:.2f} h, need {min_decisions} over {min_post_hours:g} h"
    return decide(
        "P4.2.c",
        name,
        threshold,
        looks,
        streams,
        n_now,
        _finite(worst),
        describe,
        short,
        evidence,
        detail,
        lambda kind, effect: f"HOLDs {'per hour' if kind == 'per_hour' else 'as a share'} up {effect:.0%}",
    )


def _percent(increase: float) -> str:
    return "from none" if math.isinf(increase) else f"{increase:+.0%}"


# --------------------------------------------------------------------------------------------- P4.2.d


def confidence_distribution(
    confidences: np.ndarray,
    counts: np.ndarray,
    looks: Looks,
    low: float,
    high: float,
    alpha: float,
    min_n: int,
    detail: bool = True,
) -> Signal:
    """P4.2.d: the share of acted-on confidences above ``high`` (or below ``low``) exceeds 5 %.

    "p5 and p95 within [low, high]" is "at most 5 % beyond each end"; each end is a one-sample sequential
    test of that share against 5 % (half the signal's alpha each). The range is absolute, as the
    checklist means; the proposal-time gate already refuses a map whose outputs would leave it, so this
    is the live check of what the engine actually acts on.
    """
    name = "confidence distribution"
    n_now = int(counts[-1]) if len(counts) else 0
    n = counts.astype(np.float64)
    above, _ = _at(counts, (confidences > high).astype(np.float64))
    below, _ = _at(counts, (confidences < low).astype(np.float64))
    q0 = TAIL_SHARE
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(q0 * (1 - q0) / n)
        share_above, share_below = above / n, below / n
        z_above = np.where(n >= min_n, (share_above - q0) / se, np.nan)
        z_below = np.where(n >= min_n, (share_below - q0) / se, np.nan)
    info = np.maximum(n, 1.0) / (q0 * (1 - q0))
    streams = {
        "above": Stream(z_above, info, share_above, share_above > q0, se, alpha / 2, null=q0),
        "below": Stream(z_below, info, share_below, share_below > q0, se, alpha / 2, null=q0),
    }
    seen = confidences[:n_now]
    mean = float(np.mean(seen)) if n_now else None

    def describe(_kind: str | None, k: int) -> str:
        return (
            f"{share_above[k]:.1%} of {int(n[k])} acted-on confidences above {high:g}, {share_below[k]:.1%} below "
            f"{low:g} (at most {q0:.0%} each)"
        )

    evidence = {
        "low": low,
        "high": high,
        "share_above": _finite(float(share_above[-1])) if n_now else None,
        "share_below": _finite(float(share_below[-1])) if n_now else None,
        "mean": mean,
        "p5": float(np.percentile(seen, 5)) if n_now else None,
        "p95": float(np.percentile(seen, 95)) if n_now else None,
        "min": float(seen.min()) if n_now else None,
        "max": float(seen.max()) if n_now else None,
    }
    short = f"{n_now} post-apply confidences, need {min_n}"
    return decide(
        "P4.2.d",
        name,
        high,
        looks,
        streams,
        n_now,
        mean,
        describe,
        short,
        evidence,
        detail,
        lambda kind, effect: f"{effect:.0%} of confidences {kind} the range",
    )


# --------------------------------------------------------------------------------------------- calibration


def calibration(
    predicted: np.ndarray,
    wins: np.ndarray,
    counts: np.ndarray,
    looks: Looks,
    threshold: float,
    alpha: float,
    min_post: int,
    predicted_brier: float | None,
    detail: bool = True,
) -> Signal:
    """Post-apply reliability of the applied map: do trades win as often as the map says they should?

    The proposal predicted the applied map is calibrated: a trade the map gives 0.7 wins 70 % of the time.
    Under that prediction ``Σ(win − p)`` has mean 0 and variance ``Σ p(1−p)`` whatever the market does, so
    ``z = Σ(p − win) / √Σ p(1−p)`` is an exact martingale in the information ``Σ p(1−p)``. Harm is a map
    that overstates its trades (fewer wins than it promised), by at least ``threshold`` on average. The
    other direction is not judged here: trades winning more often than the map says cannot be told apart
    from a better win rate, which must never recommend a rollback (an under-confident map shows as more
    HOLDs, P4.2.c). The post-apply
    Brier beside the proposal's predicted out-of-sample Brier is shown, not judged: Brier also moves
    with how predictable the market was that day.
    """
    name = "calibration vs proposal"
    n_now = int(counts[-1]) if len(counts) else 0
    n = counts.astype(np.float64)
    gap_sum, _ = _at(counts, wins - predicted)
    var_sum, _ = _at(counts, predicted * (1.0 - predicted))
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = gap_sum / n
        z = gap_sum / np.sqrt(var_sum)
        ok_n = (n >= min_post) & (var_sum > 0)
        se = np.sqrt(var_sum) / n
    info = np.maximum(var_sum, 1e-12)
    overstates = Stream(np.where(ok_n, -z, np.nan), info, gap, gap <= -threshold + 1e-12, se, alpha, floor=threshold)
    streams = {"overstates": overstates}
    seen = slice(0, n_now)
    brier = float(np.mean((predicted[seen] - wins[seen]) ** 2)) if n_now else None

    def describe(_kind: str | None, k: int) -> str:
        return (
            f"trades won {gap[k] * 100:+.1f} points vs the map's prediction over {int(n[k])} trades "
            f"(threshold −{threshold * 100:g})"
        )

    evidence = {
        "mean_predicted": float(np.mean(predicted[seen])) if n_now else None,
        "win_rate": float(np.mean(wins[seen])) if n_now else None,
        "gap": _finite(float(gap[-1])) if n_now else None,
        "brier_post": brier,
        "brier_predicted": predicted_brier,
    }
    short = f"{n_now} post-apply trades with a confidence, need {min_post}"
    value = _finite(float(gap[-1])) if n_now else None
    return decide(
        "P4.2.cal",
        name,
        threshold,
        looks,
        streams,
        n_now,
        value,
        describe,
        short,
        evidence,
        detail,
        lambda _kind, effect: f"a map overstating its trades by {effect * 100:.0f} points",
    )
