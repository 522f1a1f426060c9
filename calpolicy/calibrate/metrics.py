"""The numbers that decide: Brier (the checklist's MSE), Spiegelhalter's Z, intervals, reliability.

Everything here is a plain function of arrays so a reviewer can recompute any figure of a proposal by hand.
"""

from __future__ import annotations

import math
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


def mean_interval(
    diff: np.ndarray, rng: np.random.Generator, bootstrap_below: int, resamples: int
) -> tuple[float, float, str]:
    """95% interval for the mean of ``diff``: bootstrap below ``bootstrap_below`` rows, else normal.

    The bootstrap matters for small n, where per-trade Brier differences are lumpy and skewed; at large n
    the normal approximation is as good and costs nothing.
    """
    n = len(diff)
    mean = float(np.mean(diff))
    if n < 2:
        return mean, mean, "none"
    if n < bootstrap_below:
        means = np.empty(resamples)
        for start in range(0, resamples, _BOOTSTRAP_CHUNK):
            stop = min(start + _BOOTSTRAP_CHUNK, resamples)
            means[start:stop] = diff[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
        lo, hi = np.quantile(means, [0.025, 0.975])
        return float(lo), float(hi), "bootstrap"
    half = Z95 * float(np.std(diff, ddof=1)) / math.sqrt(n)
    return mean - half, mean + half, "normal"


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

