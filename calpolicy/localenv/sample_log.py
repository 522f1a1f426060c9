"""A healthy CLM log in the model-prediction format, for demos, tests and benchmarks.

The data gate rejects everything production gets wrong (duplicates, zero PnL, sign errors, a span of
hours, constant confidence), so a sample that is to pass it has to be built deliberately: strictly
increasing timestamps spanning more than three days and ending minutes before ``now``, several symbols,
wins and losses, PnL signs that agree with side and price move, and confidences that vary. The models
are made over-confident on purpose so that a calibration run has something honest to correct.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

SYMBOL_PRICES: dict[str, float] = {
    "BTCUSDT": 43000.0,
    "ETHUSDT": 2300.0,
    "SOLUSDT": 98.0,
    "ADAUSDT": 0.52,
}
REGIMES = ("bullish", "bearish", "volatile", "ranging")
OVERCONFIDENCE = 0.25  # well past the 5 % bar, so a demo or test run is a clear GO at a few hundred trades


def _price_digits(price: float) -> int:
    return 2 if price >= 100 else 4 if price >= 1 else 6


def sample_records(
    n_trades: int = 300,
    now: datetime | None = None,
    seed: int = 0,
    models: Sequence[str] = ("xgb", "lgbm", "nhits", "patchtst"),
    span_days: float = 4.0,
    last_trade_age: timedelta = timedelta(minutes=5),
) -> list[dict[str, object]]:
    """The records of a healthy log, oldest first (see the module docstring for what "healthy" means)."""
    if n_trades < 2:
        raise ValueError("a sample log needs at least 2 trades")
    rng = random.Random(seed)
    end = (now or datetime.now(UTC)).astimezone(UTC) - last_trade_age
    start = end - timedelta(days=span_days)
    step = (end - start) / (n_trades - 1)
    symbols = list(SYMBOL_PRICES)
    records: list[dict[str, object]] = []
    for i in range(n_trades):
        jitter = step * (rng.uniform(-0.3, 0.3) if 0 < i < n_trades - 1 else 0.0)
        when = (start + step * i + jitter).replace(tzinfo=None)
        symbol = symbols[i % len(symbols)] if i < len(symbols) else rng.choice(symbols)
        side = rng.choice(("BUY", "SELL"))
        confidence = round(rng.uniform(0.5, 0.95), 3)
        win = rng.random() < confidence - OVERCONFIDENCE
        if i < 2:  # at least one win and one loss whatever the seed
            win = i == 0
        move = rng.uniform(0.1, 2.0) * (1 if win else -1)  # percent, signed by outcome
        digits = _price_digits(SYMBOL_PRICES[symbol])
        entry = round(SYMBOL_PRICES[symbol] * rng.uniform(0.9, 1.1), digits)
        exit_ = round(entry * (1 + move / 100 if side == "BUY" else 1 - move / 100), digits)
        pnl = (exit_ - entry) / entry * 100 * (1 if side == "BUY" else -1)
        predictions = {
            model: {
                "action": rng.choice((side, side, "HOLD")),
                "confidence": round(min(0.99, max(0.4, confidence + rng.gauss(0, 0.04))), 3),
            }
            for model in models
        }
        records.append(
            {
                "trade_id": f"sample_trade_{i + 1:06d}",
                "timestamp": when.isoformat(timespec="microseconds"),
                "symbol": symbol,
                "action": side,
                "entry_price": entry,
                "exit_price": exit_,
                "pnl_percent": round(pnl, 4),
                "confidence": confidence,
                "outcome_label": "WIN" if pnl > 0 else "LOSS",
                "duration_minutes": rng.randint(5, 240),
                "model_predictions": predictions,
                "meta_agent_used": rng.random() < 0.5,
                "arbiter_used": rng.random() < 0.2,
                "market_regime": rng.choice(REGIMES),
            }
        )
    return records


def write_sample_log(
    path: Path,
    n_trades: int = 300,
    now: datetime | None = None,
    seed: int = 0,
    models: Sequence[str] = ("xgb", "lgbm", "nhits", "patchtst"),
) -> Path:
    """Write a healthy log to ``path`` (replacing it); deterministic for a given seed and ``now``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = sample_records(n_trades=n_trades, now=now, seed=seed, models=models)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path
