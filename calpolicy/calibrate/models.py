"""Turn a trade log into (confidence, outcome) pairs per model, or refuse it with the lines to look at.

Disagreement rule — **a model is calibrated only on the trades where its action agrees with the trade**.
A model's confidence is its confidence in *its own* action. On a trade it voted the other way (SELL on a
BUY) or HOLD on, the trade's outcome says nothing direct about whether the model's own call was right:
using ``1 − confidence`` would assume a two-outcome world where HOLD and the costs of the opposite trade
do not exist, and using the raw confidence would calibrate it against someone else's decision. So those
rows are left out of that model's fit and evaluation, and counted (``disagree``, ``hold``, ``no_action``)
so the reviewer sees how much of the log each model's map rests on. BUY≡LONG and SELL≡SHORT.

The ensemble ``confidence`` is the confidence behind the trade itself, so it uses every trade.

This module never cleans data: a NaN or out-of-range confidence, or a PnL that is missing or exactly 0
(neither a WIN nor a LOSS), makes ``extract`` raise ``ProposalError`` naming the lines, because the data
gate (Phase 0) should have stopped such a log before anyone tried to calibrate on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calpolicy.clm.fields import SIDES_LONG, SIDES_SHORT, action_column, conf_column
from calpolicy.clm.reader import TradeLog

ENSEMBLE = "ensemble"
DISAGREEMENT_RULE = (
    "each model is calibrated and evaluated only on trades where its action agrees with the trade's "
    "side (BUY=LONG, SELL=SHORT); HOLD, opposite and missing actions are excluded and counted"
)
_MAX_LINES_IN_MESSAGE = 10


class ProposalError(ValueError):
    """The log cannot be calibrated on as it is; the message says why and where."""


@dataclass(frozen=True)
class ModelData:
    """One model's calibration sample: ``rows`` index the log's frame; ``excluded`` counts dropped rows."""

    name: str
    rows: np.ndarray
    confidence: np.ndarray
    outcome: np.ndarray
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rows)


def _lines(log: TradeLog, mask: np.ndarray) -> str:
    lines = log.lines_of(mask)
    shown = ", ".join(str(int(n)) for n in lines[:_MAX_LINES_IN_MESSAGE])
    more = f", … ({len(lines)} in all)" if len(lines) > _MAX_LINES_IN_MESSAGE else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _direction(values: np.ndarray) -> np.ndarray:
    """+1 long, −1 short, 0 HOLD, 2 anything else (missing or unknown)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # a few distinct strings, a million rows
    lookup = np.full(len(uniques) + 1, 2, dtype=np.int8)  # last slot: the NA sentinel (-1)
    for index, value in enumerate(uniques):
        text = value.upper() if isinstance(value, str) else ""
        lookup[index] = 1 if text in SIDES_LONG else -1 if text in SIDES_SHORT else 0 if text == "HOLD" else 2
    return lookup[codes]


def _check_confidence(log: TradeLog, values: np.ndarray, mask: np.ndarray, what: str) -> None:
    with np.errstate(invalid="ignore"):
        bad = mask & ~((values >= 0.0) & (values <= 1.0))
    if bad.any():
        raise ProposalError(f"{what} is missing, NaN or outside [0, 1] on {_lines(log, bad)}")


def outcomes(log: TradeLog) -> np.ndarray:
    """y = 1 if pnl > 0 else 0; a missing or zero PnL is a data defect, not a LOSS."""
    pnl = log.frame["pnl_pct"].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(pnl) | (pnl == 0.0)
    if bad.any():
        where = _lines(log, bad)
        raise ProposalError(f"PnL is missing, not finite or exactly 0 (neither WIN nor LOSS) on {where}")
    return (pnl > 0.0).astype(np.int8)


def extract(log: TradeLog) -> dict[str, ModelData]:
    """The ensemble first, then every model of the log in the log's order."""
    if log.read_error:
        raise ProposalError(log.read_error)
    if log.parse_errors:
        raise ProposalError(f"the CLM log has {len(log.parse_errors)} unparseable line(s); run the data gate")
    frame = log.frame
    n = len(frame)
    if n == 0:
        raise ProposalError("the CLM log holds no trades: nothing to calibrate")
    y = outcomes(log)
    everything = np.ones(n, dtype=bool)
    conf = frame["confidence"].to_numpy(dtype=np.float64)
    _check_confidence(log, conf, everything, "the ensemble confidence")
    data = {ENSEMBLE: ModelData(ENSEMBLE, np.arange(n), conf, y, {})}
    if not log.models:
        return data
    side = _direction(frame["side"].to_numpy(dtype=object))
    unknown_side = side == 2
    if unknown_side.any():
        where = _lines(log, unknown_side)
        raise ProposalError(f"the trade side is missing or not BUY/SELL/LONG/SHORT on {where}")
    for name in log.models:
        if name == ENSEMBLE:
            raise ProposalError("a model named 'ensemble' clashes with the ensemble confidence's name")
        action = _direction(frame[action_column(name)].to_numpy(dtype=object))
        values = frame[conf_column(name)].to_numpy(dtype=np.float64)
        agree = action == side
        _check_confidence(log, values, agree, f"model {name!r}'s confidence")
        rows = np.flatnonzero(agree)
        excluded = {
            "disagree": int(np.sum(action == -side)),
            "hold": int(np.sum(action == 0)),
            "no_action": int(np.sum(action == 2)),
        }
        data[name] = ModelData(name, rows, values[rows], y[rows], excluded)
    return data
