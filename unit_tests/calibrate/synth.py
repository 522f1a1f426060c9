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


def frame_log(trades: dict[str, np.ndarray], models: tuple[str, ...] = (), sha: str = "synthetic") -> TradeLog:
    n = len(trades["confidence"])
    columns = {
        "line": np.arange(1, n + 1),
        "timestamp": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
        "side": trades["side"],
        "pnl_pct": trades["pnl"],
        "confidence": trades["confidence"],
    }
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
