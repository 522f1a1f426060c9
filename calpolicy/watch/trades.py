"""Post-apply trades as the watch counts them: each trade once, by the data gate's own duplicate rule.

The production log repeats about half its lines (double delivery, REAL_SYSTEM.md §1). Counting a repeat
twice would give the watch evidence it does not have, so a repeat is dropped exactly as the data gate
(``CLM.duplicates``) finds it: the same symbol, side, prices, PnL and confidences within
``data.duplicate_window_ms``, or a ``trade_id`` seen before. The gate's own functions are called, so the
two cannot drift apart; a window made mostly of repeats then simply has few trades, and a signal with
too few trades is INCONCLUSIVE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calpolicy.clm.checks import _reused_trade_ids, repeated_pairs
from calpolicy.clm.reader import sorted_union


def duplicate_rows(frame: pd.DataFrame, models: tuple[str, ...], window_ms: float) -> np.ndarray:
    """Row positions the data gate reports as duplicates (the later record of each pair)."""
    if len(frame) < 2:
        return np.empty(0, dtype=np.int64)
    later, _ = repeated_pairs(frame, models, window_ms)
    trade_ids = frame["trade_id"] if "trade_id" in frame else pd.Series([None] * len(frame))
    return sorted_union(later, _reused_trade_ids(trade_ids))


@dataclass(frozen=True)
class Trades:
    """Unique trades in time order: when, PnL (percent) and the confidence the map was applied to."""

    times: np.ndarray  # datetime64[us]
    pnl: np.ndarray
    confidence: np.ndarray  # NaN where the record has none
    duplicates: np.ndarray  # datetime64[us] of the dropped repeats, to say how many fell in each window

    @classmethod
    def from_arrays(cls, times: np.ndarray, pnl: np.ndarray, confidence: np.ndarray | None = None) -> Trades:
        times = np.asarray(times, dtype="datetime64[us]")
        pnl = np.asarray(pnl, dtype=np.float64)
        conf = np.full(len(pnl), np.nan) if confidence is None else np.asarray(confidence, dtype=np.float64)
        order = np.argsort(times, kind="stable")
        return cls(times[order], pnl[order], conf[order], np.empty(0, dtype="datetime64[us]"))


def trades_from_frame(frame: pd.DataFrame, models: tuple[str, ...], window_ms: float) -> tuple[Trades, int]:
    """The log's unique, usable trades and how many records had no timestamp or PnL."""
    dropped = np.zeros(len(frame), dtype=bool)
    dropped[duplicate_rows(frame, models, window_ms)] = True
    times = frame["timestamp"].to_numpy(dtype="datetime64[us]")
    pnl = frame["pnl_pct"].to_numpy(dtype=np.float64)
    conf = frame["confidence"].to_numpy(dtype=np.float64) if "confidence" in frame else np.full(len(frame), np.nan)
    usable = ~np.isnat(times) & np.isfinite(pnl)
    trades = Trades.from_arrays(times[usable & ~dropped], pnl[usable & ~dropped], conf[usable & ~dropped])
    repeats = np.sort(times[usable & dropped])
    return Trades(trades.times, trades.pnl, trades.confidence, repeats), int((~usable).sum())
