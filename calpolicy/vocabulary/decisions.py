"""The gate's decisions as pure functions: a measured value and a bound in, a verdict out.

The probes measure and the policy tests enforce; what sits between — which statistic is compared, whether
"at the bound" passes, which side of zero is safe — lives here, so each decision can be tested at exactly
its boundary without a live Redis or a proposal. A comparison written inline in a policy test can only be
tested by running the whole live suite, and a flipped ``>=`` there would go unnoticed.

The measurements they judge (``LatencyStats``, ``GroupBacklog``) are defined here too, not in the Redis
probe that fills them: they are the vocabulary between the probe and the gate, and the vocabulary imports
no probe (pyproject.toml's import contracts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from calpolicy.vocabulary.verdict import Finding

LATENCY_ID = BACKLOG_ID = "P0.1.f"
# Float noise of clipping at raw ± band (e.g. 0.15000000000000002); far below any meaningful change.
BAND_TOLERANCE = 1e-9


# ------------------------------------------------------------------------------------------ P0.1.f


@dataclass(frozen=True)
class LatencyStats:
    """The sampled PINGs in figures. ``p90_ms``, ``p95_ms`` and ``mean_ms`` are optional for stats built by
    hand; ``stats_of`` (and so the Redis probe's ``measure_latency``) always fills them."""

    samples: int
    min_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    p90_ms: float | None = None
    p95_ms: float | None = None
    mean_ms: float | None = None

    def as_dict(self) -> dict[str, float]:
        shown: dict[str, float] = {"samples": self.samples}
        for name in ("min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"):
            value = getattr(self, name)
            if value is not None:
                shown[name] = round(value, 3)
        return shown


def quantile_rank(samples: int, q: float) -> int:
    """Nearest rank: the 1-based rank of the smallest of ``samples`` sorted values with at least ``q`` of all
    values at or below it (``samples`` = it is the maximum)."""
    return min(samples, max(1, math.ceil(q * samples)))


def _quantile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``sorted_values`` (the value at ``quantile_rank``)."""
    return sorted_values[quantile_rank(len(sorted_values), q) - 1]


def stats_of(timings: list[float]) -> LatencyStats:
    """Every figure of a list of round trips in milliseconds (at least one)."""
    ordered = sorted(timings)
    return LatencyStats(
        samples=len(ordered),
        min_ms=ordered[0],
        p50_ms=_quantile(ordered, 0.5),
        p99_ms=_quantile(ordered, 0.99),
        max_ms=ordered[-1],
        p90_ms=_quantile(ordered, 0.90),
        p95_ms=_quantile(ordered, 0.95),
        mean_ms=sum(ordered) / len(ordered),
    )


@dataclass(frozen=True)
class GroupBacklog:
    """One consumer group of one stream: its pending entries and its lag (None when Redis cannot say)."""

    stream: str
    group: str
    pending: int
    lag: int | None

    @property
    def backlog(self) -> int:
        return max(self.pending, self.lag or 0)


_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


def latency_value(stats: LatencyStats, statistic: str) -> float:
    """The configured statistic (``max``, ``p99``, ``p95``, ``p90`` or ``p50``) of the sampled PINGs, in ms."""
    values = {
        "max": stats.max_ms,
        "p99": stats.p99_ms,
        "p95": stats.p95_ms,
        "p90": stats.p90_ms,
        "p50": stats.p50_ms,
    }
    if statistic not in values:
        raise ValueError(f"unknown latency statistic {statistic!r}; expected one of {', '.join(values)}")
    value = values[statistic]
    if value is None:
        raise ValueError(f"the latency figures carry no {statistic}")
    return value


def effective_statistic(stats: LatencyStats, statistic: str) -> str:
    """The statistic actually judged: a percentile that, over this few samples, is the largest sample is
    judged as ``max`` and said so (p95 of 19 PINGs is the slowest one), never quietly as something looser."""
    q = _QUANTILES.get(statistic)
    if q is None or quantile_rank(stats.samples, q) < stats.samples:
        return statistic
    return "max"


def latency_finding(stats: LatencyStats, statistic: str, max_latency_ms: float) -> Finding:
    """P0.1.f "Redis latency < 50 ms": the configured statistic strictly below the bound passes.

    ``redis-cli --latency`` reports a typical figure over many samples, not the worst single one, so the
    default statistic is the nearest-rank p95 (docs/configuration.md, "Redis latency"): one scheduling
    spike among the PINGs cannot turn a GO into a STOP, a slow tail of 5 % or more does. The maximum and
    the sample count are always in the message and the evidence.
    """
    judged = effective_statistic(stats, statistic)
    value = latency_value(stats, judged)
    summary = ", ".join(f"{k} {v}" for k, v in stats.as_dict().items())
    evidence = {
        "statistic": judged,
        "configured_statistic": statistic,
        "value_ms": value,
        "max_latency_ms": max_latency_ms,
        **stats.as_dict(),
    }
    why = "" if judged == statistic else f"; with {stats.samples} sample(s) {statistic} is the maximum"
    over = f"over {stats.samples} PING(s), max {stats.max_ms:.1f} ms{why}"
    if value < max_latency_ms:
        text = f"Redis latency {judged} {value:.1f} ms < {max_latency_ms:g} ms {over} ({summary})"
        return Finding(LATENCY_ID, "pass", text, evidence)
    text = f"Redis latency {judged} {value:.1f} ms >= {max_latency_ms:g} ms {over} ({summary})"
    return Finding(LATENCY_ID, "fail", text, evidence)


def backlog_finding(groups: Sequence[GroupBacklog], max_backlog: int) -> Finding:
    """P0.1.f "no backlog": every consumer group's backlog (pending or lag) at most ``redis.max_backlog``."""
    behind = [g for g in groups if g.backlog > max_backlog]
    evidence = {
        "max_backlog": max_backlog,
        "groups": [{"stream": g.stream, "group": g.group, "pending": g.pending, "lag": g.lag} for g in groups],
    }
    if behind:
        shown = "; ".join(f"{g.stream} group {g.group}: pending {g.pending}, lag {g.lag}" for g in behind)
        text = f"Redis backlog above {max_backlog} (redis.max_backlog): {shown}"
        return Finding(BACKLOG_ID, "fail", text, evidence)
    text = f"{len(groups)} consumer group(s), none with a backlog above {max_backlog}"
    return Finding(BACKLOG_ID, "pass", text, evidence)


# ------------------------------------------------------------------------------------------ P2.2


def within_band(change: float, band: float) -> bool:
    """P2.2.a: a confidence may move by at most ``band`` (exactly ``band`` is allowed)."""
    return change <= band + BAND_TOLERANCE


def improves_enough(improvement: float, min_improvement: float) -> bool:
    """P2.2.b "MSE improvement ≥ 5%": exactly ``min_improvement`` is enough."""
    return improvement >= min_improvement


def interval_above_zero(lower: float) -> bool:
    """P2.2.b: the gain's interval must lie strictly above zero; a lower bound of exactly 0 may be noise."""
    return lower > 0.0


def not_worse(before: float, after: float, max_degradation: float) -> bool:
    """P2.2.c: a model's Brier may rise by at most ``max_degradation`` (a fraction; 0 = not at all)."""
    return after <= before * (1.0 + max_degradation)
