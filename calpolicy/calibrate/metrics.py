"""The numbers that decide: Brier (the checklist's MSE), Spiegelhalter's Z, intervals, reliability.

Everything here is a plain function of arrays so a reviewer can recompute any figure of a proposal by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))
_BOOTSTRAP_CHUNK = 200


def brier(p: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Mean squared error of probabilities against 0/1 outcomes (``weight`` as in scikit-learn)."""
    sq = (np.asarray(p, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2
    return float(np.average(sq, weights=weight))


def spiegelhalter_z(p: np.ndarray, y: np.ndarray) -> float | None:
    """Spiegelhalter's calibration Z: ~N(0, 1) when the forecasts are calibrated; None if undefined.

    Z = Σ (y − p)(1 − 2p) / sqrt(Σ (1 − 2p)² p (1 − p)); undefined when every p is 0, ½ or 1.
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    variance = float(np.sum((1.0 - 2.0 * p) ** 2 * p * (1.0 - p)))
    if not variance > 0.0:
        return None
    return float(np.sum((y - p) * (1.0 - 2.0 * p)) / math.sqrt(variance))


@dataclass(frozen=True)
class ImprovementEvidence:
    """How much a fixed map improves Brier on held-out trades, with its uncertainty.

    ``relative`` = (Brier before − after) / Brier before; ``lower_bound`` is its one-sided lower
    confidence bound at the requested level; ``relative_interval`` and ``interval`` (mean per-trade
    difference) are two-sided 95%.
    """

    relative: float
    mean_difference: float
    interval: tuple[float, float]
    relative_interval: tuple[float, float]
    lower_bound: float
    method: str


def improvement_evidence(
    sq_before: np.ndarray,
    sq_after: np.ndarray,
    rng: np.random.Generator,
    level: float,
    bootstrap_below: int,
    resamples: int,
) -> ImprovementEvidence:
    """Intervals for the gain of one fixed map on held-out trades: BCa bootstrap below ``bootstrap_below``
    trades, the delta method (normal) above, where the two agree and the bootstrap only costs time.

    The map was fitted on other (earlier) trades, so the held-out per-trade differences are independent
    draws given the map and the intervals are about the map that ships. BCa (Efron 1987) corrects the
    percentile bootstrap's bias and skewness; the relative improvement is a ratio of means, whose
    jackknife values are exact in O(n).
    """
    d = np.asarray(sq_before, dtype=np.float64) - np.asarray(sq_after, dtype=np.float64)
    s = np.asarray(sq_before, dtype=np.float64)
    n = len(d)
    total_d, total_s = float(d.sum()), float(s.sum())
    relative = total_d / total_s if total_s > 0 else float("nan")
    mean = total_d / n if n else float("nan")
    if n < 2 or not total_s > 0:
        return ImprovementEvidence(relative, mean, (mean, mean), (relative, relative), relative, "none")
    z_low = float(norm.ppf(1.0 - level))
    if n >= bootstrap_below:
        half = Z95 * float(np.std(d, ddof=1)) / math.sqrt(n)
        influence = (d - relative * s) / (total_s / n)
        se = float(np.std(influence, ddof=1)) / math.sqrt(n)
        return ImprovementEvidence(
            relative, mean, (mean - half, mean + half),
            (relative - Z95 * se, relative + Z95 * se), relative + z_low * se, "normal",
        )  # fmt: skip
    boot_d = np.empty(resamples)
    boot_s = np.empty(resamples)
    chunk = max(1, min(_BOOTSTRAP_CHUNK, 4_000_000 // n))
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        index = rng.integers(0, n, size=(stop - start, n), dtype=np.int32 if n < 2**31 else np.int64)
        boot_d[start:stop] = d[index].sum(axis=1)
        boot_s[start:stop] = s[index].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_relative = np.where(boot_s > 0, boot_d / boot_s, relative)
    jack_d, jack_s = total_d - d, total_s - s
    with np.errstate(divide="ignore", invalid="ignore"):
        jack_relative = np.where(jack_s > 0, jack_d / jack_s, relative)
    rel_lo, rel_hi, rel_lower = _bca(boot_relative, relative, jack_relative, (0.025, 0.975, 1.0 - level))
    mean_lo, mean_hi = _bca(boot_d / n, mean, jack_d / (n - 1), (0.025, 0.975))
    return ImprovementEvidence(relative, mean, (mean_lo, mean_hi), (rel_lo, rel_hi), rel_lower, "bca_bootstrap")


def _bca(boot: np.ndarray, estimate: float, jackknife: np.ndarray, alphas: tuple[float, ...]) -> list[float]:
    """Bias-corrected and accelerated percentile bounds of ``boot`` at each of ``alphas``."""
    b = len(boot)
    below = (np.sum(boot < estimate) + 0.5 * np.sum(boot == estimate)) / b
    z0 = float(norm.ppf(min(max(below, 0.5 / b), 1.0 - 0.5 / b)))
    centred = jackknife.mean() - jackknife
    spread = float(np.sum(centred**2))
    accel = float(np.sum(centred**3)) / (6.0 * spread**1.5) if spread > 0 else 0.0
    out = []
    for alpha in alphas:
        z = float(norm.ppf(alpha))
        adjusted = float(norm.cdf(z0 + (z0 + z) / (1.0 - accel * (z0 + z))))
        out.append(float(np.quantile(boot, min(max(adjusted, 0.0), 1.0))))
    return out


def calibration_drift(
    early_p: np.ndarray, early_y: np.ndarray, late_p: np.ndarray, late_y: np.ndarray, alpha: float
) -> dict[str, Any] | None:
    """Did calibration change between the earliest and the latest block? None when a block is too small.

    Two Welch z-tests on per-trade terms whose mean is 0 for a calibrated forecast: ``y − p``
    (calibration in the large: are wins as frequent as claimed) and ``(y − p)(1 − 2p)`` (Spiegelhalter's
    term: are confident forecasts right as often as claimed). The smaller p-value, doubled (Bonferroni),
    is compared with ``alpha``. This raw earliest-vs-latest comparison is a risk shown in the report; the
    gate on time is the shipped map's gain inside the holdout (``stability.py``, issue 24).
    """
    blocks = []
    terms = []
    for p, y in ((early_p, early_y), (late_p, late_y)):
        p = np.asarray(p, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if len(p) < 2:
            return None
        blocks.append(
            {
                "n": len(p),
                "mean_confidence": float(p.mean()),
                "win_rate": float(y.mean()),
                "brier": brier(p, y),
                "spiegelhalter_z": spiegelhalter_z(p, y),
            }
        )
        terms.append((y - p, (y - p) * (1.0 - 2.0 * p)))
    tests = {}
    for index, name in enumerate(("in_the_large", "spiegelhalter")):
        early, late = terms[0][index], terms[1][index]
        se = math.sqrt(np.var(early, ddof=1) / len(early) + np.var(late, ddof=1) / len(late))
        diff = float(late.mean() - early.mean())
        z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
        tests[name] = {"difference": diff, "z": z, "p_value": float(2.0 * norm.sf(abs(z)))}
    p_value = min(1.0, 2.0 * min(t["p_value"] for t in tests.values()))
    return {
        "earliest": blocks[0],
        "latest": blocks[1],
        "tests": tests,
        "p_value": p_value,
        "alpha": alpha,
        "significant": p_value < alpha,
    }


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; sane at 0 and n, unlike the Wald interval."""
    if n == 0:
        return 0.0, 1.0
    phat = successes / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def reliability_table(p: np.ndarray, y: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Equal-count bins by forecast quantile (tied forecasts stay in one bin, so counts may differ).

    Each row: forecast range, count, mean forecast, observed win rate and its Wilson interval.
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(p) == 0:
        return []
    edges = np.quantile(p, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    label = np.searchsorted(edges, p, side="right")
    counts = np.bincount(label, minlength=bins)
    wins = np.bincount(label, weights=y, minlength=bins)
    sums = np.bincount(label, weights=p, minlength=bins)
    lows = np.full(bins, np.inf)
    highs = np.full(bins, -np.inf)
    np.minimum.at(lows, label, p)
    np.maximum.at(highs, label, p)
    rows = []
    for b in np.flatnonzero(counts):
        n = int(counts[b])
        k = round(float(wins[b]))
        lo, hi = wilson(k, n)
        rows.append(
            {
                "confidence_lo": float(lows[b]),
                "confidence_hi": float(highs[b]),
                "n": n,
                "mean_confidence": float(sums[b] / n),
                "win_rate": k / n,
                "wilson_lo": lo,
                "wilson_hi": hi,
            }
        )
    return rows
