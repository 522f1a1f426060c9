"""Increasing isotonic regression kept inside a ±band of the raw confidence, stored as plain arrays.

Method: **pointwise clamp of the fitted curve.** We fit the ordinary (unbounded) increasing isotonic
regression, read it as the piecewise-linear function scikit-learn's ``IsotonicRegression`` predicts with
(linear interpolation between the distinct inputs, flat beyond them), extend it to the whole of [0, 1],
insert a knot wherever that curve crosses ``raw ± band``, and clip every knot into the band. Because the
band edges are straight lines, the clipped knots joined by straight lines are *exactly* the clamped curve
``clip(f(c), c - band, c + band)`` for every ``c`` in [0, 1] — not only at the data — and clipping a
non-decreasing function between two non-decreasing bounds keeps it non-decreasing. We chose this over a
bounded pool-adjacent-violators fit because (1) with the band opened wide it *is* scikit-learn's fit,
which makes the map checkable against an independent implementation, (2) the bound is a property of the
stored map that a reviewer can verify by looking at the knots, and (3) it is the simplest construction
for which "within the band everywhere" is a proof rather than a sample.

A map is ``x`` (strictly increasing, ``x[0] == 0``, ``x[-1] == 1``) and ``y``; applying it is ``np.interp``.

Engine v2 adds what a map that ships needs (``fit(..., min_block=, outside="identity")`` and ``shippable``):

- **a minimum number of trades per isotonic step** (``min_block``): adjacent steps of the fit are pooled,
  left to right, until each rests on at least that many trades. Pooling neighbours of a non-decreasing
  step function keeps it non-decreasing, so the result is still isotonic; it removes the classic isotonic
  spike where the last handful of trades are all wins and the map jumps to 1.0.
- **the raw confidence outside the range the fit saw** (``outside="identity"``): the data say nothing
  there, so the map returns to the identity as fast as a continuous non-decreasing map can. Below the
  lowest fitted confidence ``x0`` with fitted value ``x0 + d``: if ``d < 0`` the map is ``min(c, x0 + d)``
  (flat, then identity); if ``d > 0`` it rises with slope 2 from ``(x0 − d, x0 − d)`` to ``(x0, x0 + d)``.
  Symmetrically above the highest. The change there is at most ``|d|``, which is inside the band.
- **exact, clean knots** (``shippable``): knots rounded to 6 decimals so every key of the engine's mapping
  is a clean decimal, re-clipped into the band and made non-decreasing. The rounded map is the one that is
  scored and the one that ships; no grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import isotonic_regression


@dataclass(frozen=True)
class CalibrationMap:
    """A fitted confidence map: knots ``x`` → ``y``, applied by linear interpolation, clamped at the ends."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, confidence: np.ndarray | float) -> np.ndarray:
        return np.interp(confidence, self.x, self.y)

    @property
    def max_change(self) -> float:
        """Largest |map(c) − c| over [0, 1]; exact, as the map is linear between knots covering [0, 1]."""
        return float(np.max(np.abs(self.y - self.x))) if len(self.x) else 0.0

    @classmethod
    def identity(cls) -> CalibrationMap:
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]))


Outside = Literal["flat", "identity"]
KNOT_DECIMALS = 6


def fit(
    confidence: np.ndarray,
    outcome: np.ndarray,
    band: float,
    weight: np.ndarray | None = None,
    *,
    min_block: int = 1,
    outside: Outside = "flat",
) -> CalibrationMap:
    """Fit the band-clamped increasing isotonic map on (confidence, outcome); confidence must be in [0, 1].

    ``min_block`` = 1 and ``outside`` = "flat" is scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``
    clamped to the band; ``propose`` uses a minimum block and the identity outside the data.
    """
    x = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    if len(x) != len(y) or (weight is not None and len(weight) != len(x)):
        raise ValueError("confidence, outcome and weight must have the same length")
    if not band >= 0.0:
        raise ValueError(f"band must be >= 0, got {band}")
    order = np.argsort(x, kind="stable")
    w = None if weight is None else np.asarray(weight, dtype=np.float64)[order]
    return fit_sorted(x[order], y[order], band, w, min_block=min_block, outside=outside)


def fit_sorted(
    x: np.ndarray,
    y: np.ndarray,
    band: float,
    weight: np.ndarray | None = None,
    *,
    min_block: int = 1,
    outside: Outside = "flat",
) -> CalibrationMap:
    """Like ``fit`` for inputs sorted by ``x`` (one sort per model matters at 1M rows)."""
    if len(x) == 0:
        return CalibrationMap.identity()
    starts = np.flatnonzero(np.concatenate(([True], x[1:] != x[:-1])))
    unique_x = x[starts]
    trades = np.diff(np.append(starts, len(x))).astype(np.float64)
    if weight is None:
        totals = np.add.reduceat(y, starts)
        counts = trades
    else:
        totals = np.add.reduceat(y * weight, starts)
        counts = np.add.reduceat(weight, starts)
    means = totals / counts
    fitted = isotonic_regression(means, weights=counts, increasing=True).x
    if min_block > 1:
        fitted = pool_small_blocks(fitted, counts, trades, min_block)
    knots_x, knots_y = _drop_flat_interior(unique_x, fitted)
    if outside == "flat":
        knots_x, knots_y = _cover_unit_interval(knots_x, knots_y)
        return clamp_to_band(knots_x, knots_y, band)
    inside = _round_inward(clamp_to_band(knots_x, knots_y, band), band)
    out_x, out_y = _return_to_identity(inside.x, inside.y)
    return CalibrationMap(np.round(out_x, KNOT_DECIMALS), np.round(out_y, KNOT_DECIMALS))


def _round_inward(m: CalibrationMap, band: float, decimals: int = KNOT_DECIMALS) -> CalibrationMap:
    """The fitted part of a map on clean knots, its two ends rounded *inwards* (into the data's range).

    Why inwards: the return to the identity is built from the edge knots. Rounded to the nearest decimal,
    the last knot could land just beyond the highest confidence seen (0.9609375 → 0.960938), so that
    confidence sat on a steep interior segment instead of on the return, and the map was not yet back to
    the identity where the data ended plus the change there (issue 24's counterexample). With the edge
    knots at or inside the data, every confidence beyond them is on the return path. Values are the
    unrounded map at the rounded knots, rounded, clipped into the band and kept non-decreasing.
    """
    x, step = m.x, 10.0**-decimals
    lo, hi = round(float(x[0]), decimals), round(float(x[-1]), decimals)
    if lo < x[0] - 1e-12:
        lo = round(lo + step, decimals)
    if hi > x[-1] + 1e-12:
        hi = round(hi - step, decimals)
    if lo > hi:  # every fitted knot within one rounding step: one knot, at the nearest clean value
        lo = hi = round(float(x[0]), decimals)
    interior = np.round(x[(x > lo) & (x < hi)], decimals)
    knots = np.unique(np.concatenate(([lo], interior[(interior > lo) & (interior < hi)], [hi])))
    values = np.round(m(knots), decimals)
    values = np.clip(values, np.round(knots - band, decimals + 3), np.round(knots + band, decimals + 3))
    values = np.maximum.accumulate(np.clip(values, 0.0, 1.0))
    return CalibrationMap(knots, values)


def pool_small_blocks(fitted: np.ndarray, weight: np.ndarray, trades: np.ndarray, min_block: int) -> np.ndarray:
    """Pool adjacent isotonic steps, left to right, until each rests on ≥ ``min_block`` trades.

    A short last group joins the one before it. The pooled value is the weighted mean of the pooled
    points, which lies between its neighbours' values, so the result stays non-decreasing.
    """
    run_starts = np.flatnonzero(np.concatenate(([True], fitted[1:] != fitted[:-1])))
    run_trades = np.add.reduceat(trades, run_starts)
    group_of_run = np.empty(len(run_starts), dtype=np.int64)
    group, filled = 0, 0.0
    for index, size in enumerate(run_trades.tolist()):
        group_of_run[index] = group
        filled += size
        if filled >= min_block:
            group, filled = group + 1, 0.0
    if filled and group > 0:  # an unfinished last group joins the previous one
        group_of_run[group_of_run == group] = group - 1
    run_lengths = np.diff(np.append(run_starts, len(fitted)))
    label = np.repeat(group_of_run, run_lengths)
    sums = np.bincount(label, weights=fitted * weight)
    totals = np.bincount(label, weights=weight)
    return (sums / totals)[label]


def _return_to_identity(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extend a map fitted on [x[0], x[-1]] to [0, 1], back to the identity as fast as monotony allows."""
    low_x: list[float] = []
    low_y: list[float] = []
    x0, d = float(x[0]), float(y[0] - x[0])
    start = x0 - abs(d)
    if start > 0.0:
        low_x, low_y = [0.0, start], [0.0, start]
    elif x0 > 0.0:  # the return would start below 0: begin on the line that reaches (x0, x0 + d)
        low_x, low_y = [0.0], [max(0.0, (d - x0) if d > 0 else 0.0)]
    x1, e = float(x[-1]), float(y[-1] - x[-1])
    end = x1 + abs(e)
    high_x: list[float] = []
    high_y: list[float] = []
    if end < 1.0:
        high_x, high_y = [end, 1.0], [end, 1.0]
    elif x1 < 1.0:
        high_x, high_y = [1.0], [min(1.0, (2.0 - x1 + e) if e < 0 else 1.0)]
    out_x = np.concatenate((low_x, x, high_x))
    out_y = np.concatenate((low_y, y, high_y))
    keep = np.concatenate(([True], np.diff(out_x) > 0))
    return out_x[keep], np.maximum.accumulate(out_y[keep])


def shippable(m: CalibrationMap, band: float, decimals: int = KNOT_DECIMALS) -> CalibrationMap:
    """The map with knots rounded to ``decimals`` (clean keys), still in the band, non-decreasing, in [0, 1].

    Values are the unrounded map at the rounded knots, rounded and clipped to the band edges there; the
    result is the artifact that is scored and shipped, so any rounding effect is inside the evidence.
    """
    x = np.unique(np.round(m.x, decimals))
    x[0], x[-1] = 0.0, 1.0
    y = np.round(m(x), decimals)
    y = np.clip(y, np.round(x - band, decimals + 3), np.round(x + band, decimals + 3))
    y = np.maximum.accumulate(np.clip(y, 0.0, 1.0))
    return CalibrationMap(x, y)


def _drop_flat_interior(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove knots equal to both neighbours (scikit-learn does the same); the function is unchanged."""
    if len(x) <= 2:
        return x, y
    keep = np.ones(len(x), dtype=bool)
    keep[1:-1] = (y[1:-1] != y[:-2]) | (y[1:-1] != y[2:])
    return x[keep], y[keep]


def _cover_unit_interval(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add knots at 0 and 1 carrying the end values, which is what ``np.interp`` would do there anyway."""
    if x[0] > 0.0:
        x, y = np.concatenate(([0.0], x)), np.concatenate(([y[0]], y))
    if x[-1] < 1.0:
        x, y = np.concatenate((x, [1.0])), np.concatenate((y, [y[-1]]))
    return x, y


def clamp_to_band(x: np.ndarray, y: np.ndarray, band: float) -> CalibrationMap:
    """Exactly ``clip(f(c), c − band, c + band)`` as a piecewise-linear map; ``f`` interpolates (x, y)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    crossings = [x]
    for edge in (band, -band):
        gap = y - (x + edge)
        left, right = gap[:-1], gap[1:]
        cross = ((left > 0) & (right < 0)) | ((left < 0) & (right > 0))
        if cross.any():
            frac = left[cross] / (left[cross] - right[cross])
            crossings.append(x[:-1][cross] + frac * (x[1:][cross] - x[:-1][cross]))
    knots = np.unique(np.concatenate(crossings)) if len(crossings) > 1 else x
    values = np.interp(knots, x, y) if len(crossings) > 1 else y
    values = np.clip(values, knots - band, knots + band)
    values = np.clip(values, 0.0, 1.0)
    values = np.maximum.accumulate(values)  # float noise only; keeps the map provably non-decreasing
    return CalibrationMap(knots, values)


def within_range(m: CalibrationMap, low: float, high: float) -> CalibrationMap:
    """The map, never taking a confidence out of ``[low, high]`` nor further out of it: exactly
    ``clip(m(c), min(c, low), max(c, high))``, as a piecewise-linear map with knots where it binds.

    Why: the post-apply watch rolls back a map whose acted-on confidences leave its range (P4.2.d), so a
    map that does would be a GO undone the next day. Clipping between two non-decreasing bounds keeps the
    map non-decreasing; each bound lies between ``c`` and ``m(c)`` wherever it binds, so the change only
    shrinks and the band still holds. Consequence: the mapped confidences' 5th and 95th percentiles never
    leave the range where the raw ones were inside it, nor move further out where they were not; so does
    their mean when every raw confidence is inside (``check_bounds`` checks all three on the holdout).
    """
    x = np.unique(np.concatenate((m.x, [low, high])))
    y = m(x)
    lower = np.minimum(x, low)
    upper = np.maximum(x, high)
    crossings = [x]
    for bound in (lower, upper):  # both the map and the bound are linear between these knots
        gap = y - bound
        left, right = gap[:-1], gap[1:]
        cross = ((left > 0) & (right < 0)) | ((left < 0) & (right > 0))
        if cross.any():
            frac = left[cross] / (left[cross] - right[cross])
            crossings.append(x[:-1][cross] + frac * (x[1:][cross] - x[:-1][cross]))
    knots = np.unique(np.concatenate(crossings))
    values = np.clip(m(knots), np.minimum(knots, low), np.maximum(knots, high))
    return CalibrationMap(knots, np.maximum.accumulate(np.clip(values, 0.0, 1.0)))
