"""The time split: fit on the past, decide on the most recent trades, held out from the fit.

Trades are a time series and the regime that matters is the current one. Random K-fold mixes old and new
trades and scores a map the operator never gets (v1 shipped a refit on everything), so a log that was
over-confident for two thirds of its life and calibrated since got GO and a map that made the present
worse. Here the log is ordered by time (ties by line), the last ``holdout_fraction`` of the trades is the
holdout, everything before it is the training window, and the map fitted on the training window is both
the map that is scored on the holdout and the map that ships. The earliest block of the same size is kept
for the drift check (``drift.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calpolicy.calibrate.models import ProposalError
from calpolicy.clm.reader import TradeLog

SPLIT = "forward_holdout"


@dataclass(frozen=True)
class TimeSplit:
    """Per log row: its rank in time, and which window it belongs to (training, holdout, earliest block)."""

    rank: np.ndarray
    train: np.ndarray
    holdout: np.ndarray
    earliest: np.ndarray

    @property
    def n_holdout(self) -> int:
        return int(self.holdout.sum())


def time_order(log: TradeLog) -> np.ndarray:
    """Row indices sorted by timestamp, ties by line; a missing timestamp is refused (no time, no split)."""
    stamps = log.frame["timestamp"]
    missing = stamps.isna().to_numpy()
    if missing.any():
        lines = log.lines_of(missing)[:10].tolist()
        raise ProposalError(f"the time split needs a timestamp on every trade; missing or bad on lines {lines}")
    naive_utc = stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz else stamps
    ns = naive_utc.to_numpy().astype("datetime64[ns]").astype(np.int64)
    return np.lexsort((log.frame["line"].to_numpy(), ns))


def forward_split(log: TradeLog, holdout_fraction: float) -> TimeSplit:
    """The last ``ceil(fraction · n)`` trades in time are the holdout, the first as many the earliest block."""
    order = time_order(log)
    n = len(order)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    size = min(n, int(np.ceil(holdout_fraction * n)))
    holdout = rank >= n - size
    return TimeSplit(rank=rank, train=~holdout, holdout=holdout, earliest=rank < size)


def window(log: TradeLog, mask: np.ndarray) -> dict[str, Any]:
    """Where a window starts and ends, in lines and time, so a reviewer can find it in the file."""
    if not mask.any():
        return {"records": 0, "first_line": None, "last_line": None, "from": None, "to": None}
    frame = log.frame
    stamps = frame["timestamp"][mask]
    lines = frame["line"].to_numpy()[mask]
    return {
        "records": int(mask.sum()),
        "first_line": int(lines.min()),
        "last_line": int(lines.max()),
        "from": stamps.min().isoformat(),
        "to": stamps.max().isoformat(),
    }
