"""A group-sequential boundary that holds over every look of the watch (Lan-DeMets alpha spending).

The watch looks every 15 minutes for 24 hours: 96 looks. A fixed one-sided z threshold at 5 % would be
crossed by chance on most no-harm days somewhere among 96 looks, so each look may only spend part of the
signal's alpha: an O'Brien-Fleming-like spending function on calendar time (Hwang-Shih-DeCani with
``γ = −4``, ``t`` = look / looks) spends little early (when 20 trades say little) and nearly the
fixed-sample level at the end. The boundary at each look is found from the joint distribution of the z statistics of
all looks so far: in canonical form the score ``S_k = z_k √I_k`` is a Brownian motion in the information
``I``, so ``S_k − S_{k−1}`` is normal with variance ``I_k − I_{k−1}`` and independent of the past. The
recursion carries the density of ``S`` over the paths that have not crossed yet, on a uniform grid, and
puts each boundary where the newly crossing mass equals the alpha spent at that look.

The statistics compare the cumulative post-apply outcomes with a fixed baseline. With the baseline's
own error included, ``Var(D_k) = σ²(1/n_b + 1/n_k)`` and ``Cov(D_j, D_k) = Var(D_k)`` for ``j < k``, which
is exactly the canonical form with ``I_k = 1 / Var(D_k)``: the baseline term only makes the information
approach ``n_b/σ²`` instead of growing without bound.

Nothing here keeps state between runs: the boundary of every past look is recomputed from the data at
each run, so a ROLLBACK found at one look is found again at every later look (it does not flicker away).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri

_SPAN = 7.0  # the grid covers ±7 standard deviations of the last look's score
_CELLS_PER_SD = 30  # cells per standard deviation of the last look's score
_NEGLIGIBLE = 1e-12  # an alpha increment below this is no test at that look
GAMMA = -4.0  # the spending function's shape (Hwang-Shih-DeCani; more negative is more conservative early)


def spending(t: float | np.ndarray, alpha: float, gamma: float = GAMMA) -> np.ndarray:
    """Cumulative one-sided alpha spent by calendar fraction ``t``: Hwang-Shih-DeCani,
    ``α (1 − e^{−γt}) / (1 − e^{−γ})``; ``γ = −4`` is close to O'Brien-Fleming at the end of the day but
    spends a little early, so a blatant harm (every confidence out of range) is caught within the first
    hour instead of never before hour three."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    return alpha * np.expm1(-gamma * t) / np.expm1(-gamma)


def smallest_boundary(alpha: float) -> float:
    """No look's boundary is below ``z_{1−α}``: a z under it cannot cross, whatever the looks were."""
    return float(ndtri(1.0 - alpha))


@dataclass(frozen=True)
class Crossing:
    """The z-scale boundary of every look (``inf``: nothing spent there) and the first look at or above it."""

    boundaries: np.ndarray
    first: int | None


def boundaries(t: np.ndarray, info: np.ndarray, alpha: float) -> np.ndarray:
    """The z-scale boundary of each look, given its calendar fraction ``t`` and information ``info``.

    Looks must have strictly increasing ``info`` and non-decreasing ``t``; a look whose alpha increment is
    negligible gets ``inf`` (its spending rolls forward to the next look).
    """
    return np.array(_boundaries(tuple(map(float, t)), tuple(map(float, info)), float(alpha)))


@lru_cache(maxsize=1024)
def _boundaries(t: tuple[float, ...], info: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    return tuple(iter_boundaries(np.asarray(t), np.asarray(info), alpha))


def iter_boundaries(t: np.ndarray, info: np.ndarray, alpha: float) -> Iterator[float]:
    """The boundaries look by look, so a caller can stop at the first crossing.

    The recursion holds cell masses: each cell's mass sits at its centre and moves by the exact normal
    probability of landing in each other cell, so an information step far smaller than a cell is still
    exact (the mass simply stays), and the crossing mass at a look is read off the cells above the cut.
    """
    if len(t) == 0:
        return
    info_arr = np.asarray(info, dtype=np.float64)
    if np.any(info_arr <= 0.0) or np.any(np.diff(info_arr) <= 0.0):
        raise ValueError("information must be positive and strictly increasing across looks")
    increments = np.diff(np.concatenate([[0.0], spending(np.asarray(t), alpha)]))
    sd_last = math.sqrt(info_arr[-1])
    h = sd_last / _CELLS_PER_SD
    half = math.ceil(_SPAN * _CELLS_PER_SD)
    centres = np.arange(-half, half + 1) * h
    mass: np.ndarray | None = None  # None: no cut yet, the score is still exactly N(0, I_k)
    for k in range(len(t)):
        if increments[k] < _NEGLIGIBLE:
            if mass is not None:
                mass = _spread(mass, h, info_arr[k] - info_arr[k - 1])
            yield math.inf
            continue
        if mass is None:
            sd = math.sqrt(info_arr[k])
            edges = (np.arange(-half, half + 2) - 0.5) * h
            mass = np.diff(ndtr(edges / sd))
        else:
            mass = _spread(mass, h, info_arr[k] - info_arr[k - 1])
        bound, mass = _cut(mass, centres, h, increments[k])
        yield bound / math.sqrt(info_arr[k])


def _spread(mass: np.ndarray, h: float, step: float) -> np.ndarray:
    """Add an independent N(0, step) increment to a score held as cell masses."""
    sd = math.sqrt(step)
    reach = min(math.ceil(_SPAN * sd / h) + 1, len(mass) - 1)
    offsets = np.arange(-reach, reach + 2) - 0.5
    kernel = np.diff(ndtr(offsets * (h / sd)))
    return np.convolve(mass, kernel, mode="same")


def _cut(mass: np.ndarray, centres: np.ndarray, h: float, increment: float) -> tuple[float, np.ndarray]:
    """The score above which the remaining mass equals ``increment``, and the mass left below it.

    Within a cell the mass is taken as uniform, so the cut can fall inside a cell.
    """
    tail = np.cumsum(mass[::-1])[::-1]  # mass in cell i and above
    above = np.flatnonzero(tail >= increment)
    if len(above) == 0:  # less mass left than there is to spend: every path crosses
        return -math.inf, np.zeros_like(mass)
    i = int(above[-1])
    beyond = tail[i + 1] if i + 1 < len(tail) else 0.0
    fraction = (increment - beyond) / mass[i] if mass[i] > 0 else 0.0  # of cell i that crosses
    bound = centres[i] + h / 2.0 - fraction * h
    left = mass.copy()
    left[i + 1 :] = 0.0
    left[i] *= 1.0 - fraction
    return float(bound), left


def first_crossing(
    t: np.ndarray,
    info: np.ndarray,
    z: np.ndarray,
    alpha: float,
    also: np.ndarray | None = None,
    stop_early: bool = False,
) -> Crossing:
    """The boundaries of the testable looks (``z`` finite) and the first look crossing one.

    ``also`` (optional, per look) must hold too for a crossing to count: the checklist's effect size.
    Requiring more than the boundary only shrinks the rejection region, so the error bound still holds.
    Looks whose information did not grow since the last testable look are not tested (nothing new to
    say); their spending rolls forward. ``stop_early`` stops at the first crossing (later boundaries are
    left ``inf``): the verdict does not depend on them.
    """
    t, info, z = (np.asarray(a, dtype=np.float64) for a in (t, info, z))
    testable = np.isfinite(z) & np.isfinite(info) & (info > 0.0)
    keep: list[int] = []
    last = 0.0
    for k in np.flatnonzero(testable):
        if info[k] > last * (1.0 + 1e-9):
            keep.append(int(k))
            last = info[k]
    bounds = np.full(len(z), np.inf)
    if not keep:
        return Crossing(bounds, None)
    idx = np.array(keep)
    ok = np.ones(len(z), dtype=bool) if also is None else np.asarray(also, dtype=bool)
    if not stop_early:
        bounds[idx] = boundaries(t[idx], info[idx], alpha)
        where = np.flatnonzero((z >= bounds) & testable & ok)
        return Crossing(bounds, int(where[0]) if len(where) else None)
    candidates = idx[(z[idx] >= smallest_boundary(alpha)) & ok[idx]]
    if len(candidates) == 0:
        return Crossing(bounds, None)
    idx = idx[idx <= candidates[-1]]  # a look's boundary depends only on the looks before it
    for k, bound in zip(idx, iter_boundaries(t[idx], info[idx], alpha), strict=False):
        bounds[k] = bound
        if ok[k] and z[k] >= bound:
            return Crossing(bounds, int(k))
    return Crossing(bounds, None)
