"""Does a map's held-out gain hold *now* and *everywhere*? Time trend, newest block, per symbol, watch range.

The holdout averages the newest 30 % of the log. An average can hide what the operator cares about most:
over-confidence that faded to calibrated in the newest tenth (issue 24: GO 100/100 at n = 10,000 while
the shipped map was 8 % worse at the present), or one symbol turning calibrated while the others stay
over-confident. Everything here works on the per-trade Brier gain of one fixed map on held-out trades,
``d_i = (c_i − y_i)² − (m(c_i) − y_i)²``, whose mean over ``(c_i − y_i)²``'s mean is the relative gain.
The map is fixed before the holdout is looked at, so the ``d_i`` are independent given the map.

- ``trend``: ordinary least squares of ``d_i`` on the trade's position in the holdout (0 … 1), with a
  heteroscedasticity-robust (HC1) standard error, and the one-sided p-value of a *decline*. A stationary
  log has no trend whatever its gain, so the test's false alarms are its level; a gain that fades inside
  the holdout shows as a negative slope.
- ``subset_gain``: the relative gain on a subset (the newest third of the holdout, one symbol) with its
  one-sided lower confidence bound (delta method on the ratio of means). "No subset worse" is then a
  non-inferiority claim per subset: each lower bound must reach ``−max_degradation``. All of them must
  hold for a GO, which is an intersection-union test (Berger 1982): each at the full level keeps the chance
  of a GO with some subset truly worse at most that level, with no multiplicity correction needed.
- ``watch_range``: mean and 5th/95th percentiles of the held-out confidences before and after the map,
  the statistics the watch holds to ``[watch] confidence_range`` (P4.2.d). A map that moves them out of
  the range ships a rollback.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

NEWEST_SHARE = 1 / 3
"""The newest block is the last third of the holdout (the newest 10 % of the log at the default 0.3)."""


def trend(d: np.ndarray, s: np.ndarray) -> dict[str, Any] | None:
    """Slope of the per-trade gain ``d`` over the holdout (in time order), and the p-value of a decline.

    ``slope_relative`` is the fitted change of the relative gain from the first to the last held-out trade
    (slope / mean of ``s``); ``p_decline`` the one-sided p-value of slope < 0. None below 3 trades.
    """
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    if n < 3:
        return None
    t = np.arange(n, dtype=np.float64) / (n - 1)
    tc = t - t.mean()
    sxx = float(np.sum(tc * tc))
    slope = float(np.sum(tc * (d - d.mean())) / sxx)
    resid = d - d.mean() - slope * tc
    variance = float(np.sum(tc * tc * resid * resid)) / (sxx * sxx) * n / (n - 2)
    se = math.sqrt(variance)
    mean_s = float(np.mean(s))
    z = slope / se if se > 0 else 0.0 if slope == 0 else math.copysign(math.inf, slope)
    relative = slope / mean_s if mean_s > 0 else float("nan")
    return {"n": n, "slope_relative": relative, "z": float(z), "p_decline": float(norm.cdf(z))}


def subset_gain(d: np.ndarray, s: np.ndarray, level: float) -> dict[str, Any]:
    """Relative gain ``Σd / Σs`` on a subset with its one-sided ``level`` lower bound (delta method)."""
    d = np.asarray(d, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    n = len(d)
    total_s = float(s.sum())
    if n < 2 or not total_s > 0:
        return {"n": n, "improvement": None, "improvement_lower": None}
    relative = float(d.sum()) / total_s
    influence = (d - relative * s) / (total_s / n)
    se = float(np.std(influence, ddof=1)) / math.sqrt(n)
    lower = relative + float(norm.ppf(1.0 - level)) * se
    return {"n": n, "improvement": relative, "improvement_lower": float(lower)}


def newest_block(n: int) -> np.ndarray:
    """Mask of the newest third of ``n`` held-out trades in time order."""
    size = max(1, math.ceil(NEWEST_SHARE * n)) if n else 0
    return np.arange(n) >= n - size


def time_evidence(
    raw: np.ndarray, mapped: np.ndarray, y: np.ndarray, symbols: np.ndarray | None, level: float
) -> dict[str, Any]:
    """Trend, newest block and per-symbol gains of one fixed map on held-out trades in time order.

    Per symbol also the raw and mapped mean confidence and the win rate, so the report can show each
    symbol's reliability in the large next to its gain.
    """
    s = (raw - y) ** 2
    d = s - (mapped - y) ** 2
    newest = newest_block(len(d))
    out: dict[str, Any] = {
        "trend": trend(d, s),
        "newest": {"share_of_holdout": NEWEST_SHARE, **subset_gain(d[newest], s[newest], level)},
        "symbols": [],
    }
    if symbols is None:
        return out
    for symbol in sorted({str(v) for v in symbols}):
        mask = symbols == symbol
        row = {"symbol": symbol, **subset_gain(d[mask], s[mask], level)}
        row["brier_before"] = float(np.mean(s[mask]))
        row["brier_after"] = float(np.mean((mapped[mask] - y[mask]) ** 2))
        row["mean_confidence_before"] = float(np.mean(raw[mask]))
        row["mean_confidence_after"] = float(np.mean(mapped[mask]))
        row["win_rate"] = float(np.mean(y[mask]))
        row["trend"] = trend(d[mask], s[mask])
        out["symbols"].append(row)
    return out


def watch_range(raw: np.ndarray, mapped: np.ndarray) -> dict[str, Any] | None:
    """Mean, p5 and p95 of the held-out confidences, raw and mapped: what the watch's P4.2.d looks at."""
    if len(raw) == 0:
        return None

    def stats(values: np.ndarray) -> dict[str, float]:
        return {
            "mean": float(np.mean(values)),
            "p5": float(np.percentile(values, 5)),
            "p95": float(np.percentile(values, 95)),
        }

    return {"raw": stats(np.asarray(raw, dtype=np.float64)), "mapped": stats(np.asarray(mapped, dtype=np.float64))}


def _margin(max_degradation: float) -> str:
    """−max_degradation as a signed percentage, and a plain 0 % rather than "-0.0%"."""
    return "0%" if max_degradation == 0 else f"{-max_degradation:+.1%}"


def judged_symbols(evidence: dict[str, Any], min_trades: int) -> list[dict[str, Any]]:
    """The symbols with enough held-out trades to be judged on their own (the rest are shown, not judged)."""
    return [row for row in evidence.get("symbols") or [] if row["n"] >= min_trades]


def problems(
    evidence: dict[str, Any] | None, min_trades: int, max_degradation: float, alpha: float
) -> list[tuple[str, str]]:
    """Why a map's gain does not hold now or everywhere, as ``(kind, reason)``; [] when it does.

    ``kind`` is "time" (the holdout as a whole) or "symbol". The decision, in plain reasons:

    1. **No decline across the holdout**: the trend tests of the whole holdout and of every judged symbol
       form one family; a decline is significant when its one-sided p-value times the family's size is
       below ``alpha`` (Bonferroni; for "is any significant" Holm gives the same answer).
    2. **Not worse on the newest block** and **not worse on any judged symbol**: each one-sided lower bound
       of the relative gain must reach ``−max_degradation`` (non-inferiority, intersection-union: no
       correction). A subset with fewer than ``min_trades`` held-out trades is not judged on its own.
    """
    if evidence is None:
        return []
    out: list[tuple[str, str]] = []
    symbols = judged_symbols(evidence, min_trades)
    family = [("time", "the holdout", evidence.get("trend"))]
    family += [("symbol", f"symbol {r['symbol']}", r.get("trend")) for r in symbols]
    family = [(kind, label, t) for kind, label, t in family if t is not None]
    for kind, label, t in family:
        adjusted = min(1.0, t["p_decline"] * len(family))
        if adjusted < alpha:
            out.append((kind, (
                f"the gain declines across {label} ({t['slope_relative']:+.1%} from its first to its last "
                f"held-out trade; one-sided p {t['p_decline']:.2g} × {len(family)} tests < {alpha:g})"
            )))  # fmt: skip
    subsets = [("time", "the newest block of the holdout", evidence.get("newest"))]
    subsets += [("symbol", f"symbol {r['symbol']}", r) for r in symbols]
    for kind, label, row in subsets:
        if row is None or row["n"] < min_trades:
            continue
        lower = row["improvement_lower"]
        if lower is None or lower < -max_degradation:
            shown = "not computable" if lower is None else f"{row['improvement']:+.1%}, lower bound {lower:+.1%}"
            out.append((kind, (
                f"not shown no worse on {label} ({row['n']} held-out trades: {shown}; the bound must reach "
                f"{_margin(max_degradation)})"
            )))  # fmt: skip
    return out


def trades_needed(improvement: float | None, lower: float | None, n: int, target: float) -> int | None:
    """Held-out trades at which the lower bound would reach ``target`` if the estimate and spread held.

    The bound's distance from the estimate shrinks as 1/√n, so n · ((estimate − bound) / (estimate −
    target))²; None when the estimate itself is below the target (no amount of data would show it).
    """
    if improvement is None or lower is None or improvement <= target:
        return None
    return math.ceil(n * ((improvement - lower) / (improvement - target)) ** 2)


def model_identity_reasons(
    n_evaluated: int,
    improvement: float | None,
    improvement_lower: float | None,
    evidence: dict[str, Any] | None,
    *,
    min_trades: int,
    min_improvement: float,
    max_degradation: float,
    alpha: float,
    holdout_fraction: float,
) -> list[str]:
    """Why a model (not the ensemble) keeps the identity instead of its fitted map; [] = the map ships.

    A model's map ships only when its own held-out gain is shown to reach ``min_improvement`` (the same
    rule as the ensemble's P2.2.b) and it holds now and on every judged symbol. A fitted map on a
    calibrated model is fitted noise whose true gain is negative; shipping it whenever its holdout
    happened to look fine would hurt that model in every GO (issue 24).
    """
    if n_evaluated < min_trades:
        in_log = math.ceil(min_trades / holdout_fraction)
        return [
            f"only {n_evaluated} held-out calls, below the {min_trades} a map needs "
            f"(about {in_log} calls of this model in the log)"
        ]
    reasons = []
    if improvement_lower is None or improvement_lower < min_improvement:
        shown = "not computable" if improvement_lower is None else (
            f"{improvement:+.1%}, one-sided lower bound {improvement_lower:+.1%}"
        )  # fmt: skip
        text = f"its own gain is not shown to reach {min_improvement:.0%} ({shown})"
        needed = trades_needed(improvement, improvement_lower, n_evaluated, min_improvement)
        if needed is not None:
            text += (
                f"; if the estimate held it would need about {needed} held-out calls "
                f"(about {math.ceil(needed / holdout_fraction)} in the log)"
            )
        reasons.append(text)
    reasons += [text for _, text in problems(evidence, min_trades, max_degradation, alpha)]
    return reasons
