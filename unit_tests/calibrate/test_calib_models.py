"""Per-model samples: each model judged on its own calls, and refusing defective input with line numbers."""

from __future__ import annotations

import numpy as np
import pytest

from calpolicy.calibrate.models import ProposalError, extract
from calpolicy.clm.fields import action_column, conf_column
from calpolicy.clm.reader import parse_clm_bytes
from unit_tests.calibrate.synth import frame_log


def _trades(actions: list[str | None], sides: list[str]) -> dict[str, np.ndarray]:
    n = len(sides)
    return {
        "confidence": np.linspace(0.5, 0.9, n),
        "side": np.array(sides, dtype=object),
        "pnl": np.array([1.0, -1.0] * (n // 2) + [1.0] * (n % 2)),
        conf_column("m"): np.linspace(0.55, 0.95, n),
        action_column("m"): np.array(actions, dtype=object),
    }


def test_a_model_is_judged_on_its_own_call_against_the_price_move() -> None:
    """Every BUY/SELL call counts, agreeing with the trade or not; right = the price moved its way.
    HOLD and a missing action are excluded and counted."""
    sides = ["BUY", "LONG", "SELL", "SHORT", "BUY", "SELL", "BUY", "BUY"]
    actions = ["LONG", "BUY", "SHORT", "sell", "SELL", "HOLD", None, "BUY"]
    trades = _trades(actions, sides)
    log = frame_log(trades, ("m",))
    data = extract(log)
    assert data["ensemble"].n == 8
    np.testing.assert_array_equal(data["ensemble"].outcome, [1, 0, 1, 0, 1, 0, 1, 0])
    model = data["m"]
    np.testing.assert_array_equal(model.rows, [0, 1, 2, 3, 4, 7])
    np.testing.assert_array_equal(model.confidence, trades[conf_column("m")][[0, 1, 2, 3, 4, 7]])
    # price moves: BUY win up, LONG loss down, SELL win down, SHORT loss up, BUY win up, ..., BUY loss down
    # calls:       LONG ✓,    BUY ✗,         SHORT ✓,       sell ✗,         SELL on an up move ✗, BUY ✗
    np.testing.assert_array_equal(model.outcome, [1, 0, 1, 0, 0, 0])
    assert model.excluded == {"hold": 1, "no_action": 1}
    assert "price move" in model.target


def test_a_call_on_a_record_without_a_price_move_leaves_that_model_unjudged_with_its_line() -> None:
    trades = _trades(["BUY", "SELL", "HOLD", "BUY"], ["BUY", "BUY", "BUY", "BUY"])
    log = frame_log(trades, ("m",))
    log.frame.loc[2, "exit_price"] = log.frame.loc[2, "entry_price"]  # a HOLD there: not needed, fine
    assert extract(log)["m"].problem is None
    log.frame.loc[1, "exit_price"] = log.frame.loc[1, "entry_price"]
    problem = extract(log)["m"].problem
    assert problem is not None
    assert "line 2" in problem
    assert "identity" in problem


def test_hold_rows_may_hold_nan_confidence_calls_may_not() -> None:
    trades = _trades(["BUY", "HOLD", "BUY", "BUY"], ["BUY", "BUY", "BUY", "BUY"])
    trades[conf_column("m")][1] = np.nan
    assert extract(frame_log(trades, ("m",)))["m"].n == 3
    trades[conf_column("m")][2] = np.nan
    with pytest.raises(ProposalError, match=r"model 'm'.*line 3"):
        extract(frame_log(trades, ("m",)))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("confidence", np.nan, r"ensemble confidence .* line 2"),
        ("confidence", 1.2, r"outside \[0, 1\] on line 2"),
        ("pnl", 0.0, r"exactly 0 .* line 2"),
        ("pnl", np.nan, r"PnL is missing.*line 2"),
    ],
)
def test_defective_values_are_refused_with_their_line(column: str, value: float, message: str) -> None:
    trades = _trades(["BUY"] * 4, ["BUY"] * 4)
    trades[column][1] = value
    with pytest.raises(ProposalError, match=message):
        extract(frame_log(trades, ("m",)))


def test_empty_and_unreadable_logs_are_refused() -> None:
    with pytest.raises(ProposalError, match="no trades"):
        extract(parse_clm_bytes(b""))
    with pytest.raises(ProposalError, match="unparseable"):
        extract(parse_clm_bytes(b'{"confidence": 0.5}\nnot json\n'))
