"""Turn a trade log into (confidence, outcome) pairs per model, or refuse it with the lines to look at.

Target rule — **a model is judged on its own calls.** A model's confidence is its confidence in *its own*
action, so its call on a record was right when the action's direction matches the record's price move:
BUY/LONG right when ``exit_price > entry_price``, SELL/SHORT right when ``exit_price < entry_price``. This
holds whatever side the system traded, so every directional call counts, agreeing or not. Engine v1 kept
only the calls that agreed with the trade; with trades following a vote, agreeing with the vote is itself
evidence of being right, so that subset is biased upwards (five perfectly calibrated models got maps
raising confidence by +0.13). HOLD says nothing about direction and is excluded, as is a missing or
unknown action; both are counted (``hold``, ``no_action``) so the reviewer sees what each map rests on.
A call on a record whose price did not move is neither right nor wrong: a data defect, refused.

The ensemble ``confidence`` is the confidence behind the trade itself, so its target is the trade's
outcome (``pnl > 0``, the checklist's WIN) on every trade.

This module never cleans data: a NaN or out-of-range confidence or a PnL that is missing or exactly 0 makes
``extract`` raise ``ProposalError`` naming the lines, because the data gate (Phase 0) should have stopped
such a log before anyone tried to calibrate on it. A model call on a record with a missing or flat price
cannot be judged: that model gets ``problem`` (the lines), an identity map and "insufficient" — never the
biased fallback of judging it on agreeing trades only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calpolicy.clm.fields import SIDES_LONG, SIDES_SHORT, action_column, conf_column
from calpolicy.clm.reader import TradeLog

ENSEMBLE = "ensemble"
DISAGREEMENT_RULE = (
    "each model is judged on its own calls: a BUY/LONG call is right when exit_price > entry_price, a "
    "SELL/SHORT call when exit_price < entry_price, whatever side was traded, so calls that disagree with "
    "the trade count too; HOLD and missing actions are excluded and counted. The ensemble confidence is "
    "judged on the trade's outcome (pnl > 0)"
)
ENSEMBLE_TARGET = "trade outcome: pnl > 0 (the checklist's WIN), every trade"
MODEL_TARGET = "own call vs price move: BUY/LONG right if exit > entry, SELL/SHORT right if exit < entry"
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
    target: str = ENSEMBLE_TARGET
    problem: str | None = None  # set when the model's calls cannot be judged: its map stays the identity

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
    if log.parse_errors or log.parse_error_count:  # parse_errors holds only the first examples
        count = max(log.parse_error_count, len(log.parse_errors))
        raise ProposalError(f"the CLM log has {count} unparseable line(s); run the data gate")
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
    move = _price_move(log)
    for name in log.models:
        if name == ENSEMBLE:
            raise ProposalError("a model named 'ensemble' clashes with the ensemble confidence's name")
        action = _direction(frame[action_column(name)].to_numpy(dtype=object))
        values = frame[conf_column(name)].to_numpy(dtype=np.float64)
        calls = (action == 1) | (action == -1)
        _check_confidence(log, values, calls, f"model {name!r}'s confidence")
        no_move = calls & ~np.isin(move, (-1, 1))
        problem = None
        if no_move.any():
            problem = (
                f"{int(no_move.sum())} BUY/SELL call(s) on records whose entry and exit price are missing or "
                f"equal, so the call is neither right nor wrong ({_lines(log, no_move)}); judging the model "
                "only on the trades it agreed with would be biased, so its map stays the identity"
            )
        rows = np.flatnonzero(calls)
        right = (action[rows] == move[rows]).astype(np.int8)
        excluded = {"hold": int(np.sum(action == 0)), "no_action": int(np.sum(action == 2))}
        data[name] = ModelData(name, rows, values[rows], right, excluded, MODEL_TARGET, problem)
    return data


def _price_move(log: TradeLog) -> np.ndarray:
    """+1 price up, −1 down, 0 flat or unknown (missing prices): the truth a model's call is judged by."""
    frame = log.frame
    if "entry_price" not in frame or "exit_price" not in frame:
        return np.zeros(len(frame), dtype=np.int8)
    entry = frame["entry_price"].to_numpy(dtype=np.float64)
    exit_ = frame["exit_price"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.sign(exit_ - entry)).astype(np.int8)
