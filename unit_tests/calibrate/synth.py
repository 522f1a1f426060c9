"""Synthetic trade logs with a known truth, for tests that must be able to fail.

``frame_log`` builds a ``TradeLog`` directly from arrays (fast enough for hundreds of seeds);
``jsonl_bytes`` writes the same trades in the model-prediction record format the real generator uses,
so the policy suite can also be run on a file through the real reader.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from calpolicy.clm.fields import action_column, conf_column
from calpolicy.clm.reader import TradeLog

MODELS = ("xgb", "lgbm", "nhits", "patchtst")


def overconfident(conf: np.ndarray, strength: float = 0.3) -> np.ndarray:
    """True win probability when the model claims ``conf``: pulled strongly towards 0.5."""
    return 0.5 + (conf - 0.5) * strength


def draw(n: int, seed: int, truth: str = "calibrated", models: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Trades whose outcome is Bernoulli(truth(confidence)); each model sees the ensemble's confidence plus
    a little noise and agrees with the trade 90% of the time (otherwise HOLD or the opposite side)."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.05, 0.95, n) if truth == "calibrated" else rng.uniform(0.5, 0.98, n)
    p = conf if truth == "calibrated" else overconfident(conf)
    win = rng.random(n) < p
    out: dict[str, np.ndarray] = {
        "confidence": conf,
        "win": win,
        "side": np.where(rng.random(n) < 0.5, "BUY", "SELL").astype(object),
        "pnl": np.where(win, 1.0, -1.0) * rng.uniform(0.1, 3.0, n),
    }
    for name in models:
        # the model's confidence tracks the ensemble's, so its miscalibration is the same kind
        out[conf_column(name)] = np.clip(conf + rng.normal(0.0, 0.01, n), 0.0, 1.0)
        roll = rng.random(n)
        opposite = np.where(out["side"] == "BUY", "SELL", "BUY")
        out[action_column(name)] = np.where(roll < 0.9, out["side"], np.where(roll < 0.95, "HOLD", opposite))
    return out


def prices(trades: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Entry/exit prices whose move agrees with the side and PnL (or the given ``move`` column, ±1)."""
    n = len(trades["confidence"])
    entry = 100.0 + np.arange(n) % 50
    if "move" in trades:
        direction = np.asarray(trades["move"], dtype=np.float64)
    else:
        side = np.where(np.isin(np.asarray(trades["side"], dtype=object), ("BUY", "LONG")), 1.0, -1.0)
        direction = side * np.sign(np.asarray(trades["pnl"], dtype=np.float64))
    return entry, entry * (1.0 + 0.01 * direction)


def frame_log(trades: dict[str, np.ndarray], models: tuple[str, ...] = (), sha: str = "synthetic") -> TradeLog:
    n = len(trades["confidence"])
    columns = {
        "line": np.arange(1, n + 1),
        "timestamp": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
        "side": trades["side"],
        "pnl_pct": trades["pnl"],
        "confidence": trades["confidence"],
    }
    entry, exit_ = prices(trades)
    columns["entry_price"] = entry
    columns["exit_price"] = exit_
    for name in models:
        columns[conf_column(name)] = trades[conf_column(name)]
        columns[action_column(name)] = np.asarray(trades[action_column(name)], dtype=object)
    return TradeLog(
        path=Path("<synthetic>"), exists=True, sha256=sha, line_count=n, frame=pd.DataFrame(columns), models=models
    )


def jsonl_bytes(trades: dict[str, np.ndarray], models: tuple[str, ...] = MODELS) -> bytes:
    """The model-prediction record format (naive timestamps, ``action``, ``pnl_percent``, predictions)."""
    start = datetime(2026, 1, 1)
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    lines = []
    for i in range(len(trades["confidence"])):
        side = str(trades["side"][i])
        pnl = round(float(trades["pnl"][i]), 3) or 0.001
        entry = 100.0 + (i % 50)
        move = entry * pnl / 100.0
        exit_price = entry + move if side == "BUY" else entry - move
        record = {
            "trade_id": f"synthetic_{i + 1:06d}",
            "timestamp": (start + timedelta(minutes=37 * i)).isoformat(),
            "symbol": symbols[i % len(symbols)],
            "action": side,
            "entry_price": round(entry, 4),
            "exit_price": round(exit_price, 6),
            "pnl_percent": pnl,
            "confidence": round(float(trades["confidence"][i]), 4),
            "outcome_label": "WIN" if pnl > 0 else "LOSS",
            "duration_minutes": 30 + i % 90,
            "model_predictions": {
                name: {
                    "action": str(trades[action_column(name)][i]),
                    "confidence": round(float(trades[conf_column(name)][i]), 4),
                }
                for name in models
            },
        }
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


# ----------------------------------------------------------------------------------- engine v2 scenarios


def slope_truth(conf: np.ndarray, slope: float) -> np.ndarray:
    """True win rate 0.5 + slope·(c − 0.5): slope 1 is calibrated, below 1 over-confident."""
    return 0.5 + slope * (np.asarray(conf) - 0.5)


def slope_trades(n: int, seed: int, slope: float, low: float = 0.5, high: float = 0.95) -> dict[str, np.ndarray]:
    """Ensemble-only trades with confidence ~ U(low, high) and outcome ~ Bernoulli(slope_truth)."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(low, high, n)
    win = rng.random(n) < slope_truth(conf, slope)
    return {
        "confidence": conf,
        "win": win,
        "side": np.where(rng.random(n) < 0.5, "BUY", "SELL").astype(object),
        "pnl": np.where(win, 1.0, -1.0) * rng.uniform(0.1, 3.0, n),
    }


def drift_trades(n: int, seed: int, overconfident_share: float = 2 / 3, slope: float = 0.3) -> dict[str, np.ndarray]:
    """Over-confident (``slope``) for the first share of the log in time, perfectly calibrated since."""
    trades = slope_trades(n, seed, 1.0, 0.5, 0.98)
    rng = np.random.default_rng(seed + 10_000)
    early = np.arange(n) < int(overconfident_share * n)
    p = np.where(early, slope_truth(trades["confidence"], slope), trades["confidence"])
    win = rng.random(n) < p
    trades["win"] = win
    trades["pnl"] = np.where(win, 1.0, -1.0) * np.abs(trades["pnl"])
    return trades


def vote_trades(n: int, seed: int, models: tuple[str, ...] = MODELS, hold: float = 0.1) -> dict[str, np.ndarray]:
    """Models each perfectly calibrated on *all* their own calls; the trade follows a weighted vote.

    The price moves up or down with equal odds; model i says the right direction with probability equal to
    its confidence c_i ~ U(0.5, 0.95), independently, or HOLD with probability ``hold``. The traded side is
    the sign of Σ (c_i − 0.5)·direction_i (xgb decides a tie); the ensemble confidence is the mean
    confidence of the models that agree with it. Selecting a model's calls by agreement with the vote is
    what biased engine v1.
    """
    rng = np.random.default_rng(seed)
    move = np.where(rng.random(n) < 0.5, 1, -1)
    vote = np.zeros(n)
    calls: dict[str, np.ndarray] = {}
    confs: dict[str, np.ndarray] = {}
    for name in models:
        conf = rng.uniform(0.5, 0.95, n)
        direction = np.where(rng.random(n) < conf, move, -move)
        direction = np.where(rng.random(n) < hold, 0, direction)
        calls[name], confs[name] = direction, conf
        vote += (conf - 0.5) * direction
    side_dir = np.where(vote > 0, 1, np.where(vote < 0, -1, np.where(calls[models[0]] != 0, calls[models[0]], 1)))
    agree = np.array([calls[m] == side_dir for m in models])
    agreeing_conf = np.array([confs[m] for m in models])
    ensemble = np.where(agree.any(axis=0), (agreeing_conf * agree).sum(axis=0) / np.maximum(agree.sum(axis=0), 1), 0.5)
    win = side_dir == move
    out: dict[str, np.ndarray] = {
        "confidence": ensemble,
        "win": win,
        "move": move,
        "side": np.where(side_dir > 0, "BUY", "SELL").astype(object),
        "pnl": np.where(win, 1.0, -1.0) * rng.uniform(0.1, 3.0, n),
    }
    names = {1: "BUY", -1: "SELL", 0: "HOLD"}
    for name in models:
        out[conf_column(name)] = confs[name]
        out[action_column(name)] = np.array([names[d] for d in (-1, 0, 1)], dtype=object)[calls[name] + 1]
    return out


def true_relative_gain(
    mapping_x: np.ndarray, mapping_y: np.ndarray, slope: float, low: float = 0.5, high: float = 0.95
) -> float:
    """Expected relative Brier gain of a map on fresh data from ``slope_trades`` (exact up to the grid)."""
    c = np.linspace(low, high, 200_001)
    p = slope_truth(c, slope)
    m = np.clip(np.interp(c, mapping_x, mapping_y), 0.0, 1.0)
    noise = p * (1 - p)
    before = np.mean((c - p) ** 2 + noise)
    after = np.mean((m - p) ** 2 + noise)
    return float((before - after) / before)
