"""The synthetic recorder-format trade log the CLM benchmarks read, and the naive check they race.

One generator for every benchmark, so their figures are about the same kind of line: the recorder's
fields, plausible prices and PnL, five symbols, over 20 days.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT", "XRPUSDT")

# pandas.read_json(lines=True) + a pandera schema of the seven required fields: the way it is done by hand.
NAIVE_SCHEMA = """
import numpy as np, pandas as pd
import pandera.pandas as pa
schema = pa.DataFrameSchema({
    "timestamp": pa.Column(nullable=False),
    "symbol": pa.Column(nullable=False, checks=pa.Check.str_length(min_value=1)),
    "side": pa.Column(nullable=False, checks=pa.Check.isin(["BUY", "SELL", "LONG", "SHORT"])),
    "entry_price": pa.Column(float, nullable=False, checks=[pa.Check.gt(0), pa.Check(np.isfinite)]),
    "exit_price": pa.Column(float, nullable=False, checks=[pa.Check.gt(0), pa.Check(np.isfinite)]),
    "pnl_percent": pa.Column(float, nullable=False, checks=[pa.Check.ne(0), pa.Check(np.isfinite)]),
    "confidence": pa.Column(float, nullable=False, checks=pa.Check.in_range(0.0, 1.0)),
})
"""


def record(rng: random.Random, i: int, lines: int) -> dict[str, object]:
    """Trade ``i`` of ``lines``: a real-looking recorder record, never flat, PnL sign matching the side."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    side = "BUY" if rng.random() < 0.5 else "SELL"
    entry = round(rng.uniform(100, 200), 2)
    move = rng.uniform(0.05, 2.0) * (1 if rng.random() < 0.5 else -1)
    exit_ = round(entry * (1 + move / 100), 2)
    if exit_ == entry:
        exit_ = round(entry + 0.01, 2)
    pnl = (exit_ - entry) / entry * 100 * (1 if side == "BUY" else -1)
    return {
        "timestamp": (start + timedelta(days=20) / lines * i).isoformat(),
        "symbol": SYMBOLS[i % len(SYMBOLS)],
        "side": side,
        "entry_price": entry,
        "exit_price": exit_,
        "pnl_percent": round(pnl, 4) or 0.0001,
        "confidence": round(rng.uniform(0.5, 0.95), 3),
        "model_id": "ensemble_v3",
        "outcome_label": "WIN" if pnl > 0.5 else "LOSS" if pnl < -0.5 else "NEUTRAL",
        "duration_seconds": rng.randint(30, 9000),
        "strategy_id": "momentum_v2",
        "position_size": round(rng.uniform(10, 500), 1),
        "exit_reason": "take_profit",
    }


def write_log(path: Path, lines: int, seed: int = 1, compact: bool = False) -> None:
    """``lines`` records, one JSON object per line; ``compact`` drops json.dumps' default spaces."""
    rng = random.Random(seed)
    separators = (",", ":") if compact else (", ", ": ")
    with path.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(json.dumps(record(rng, i, lines), separators=separators) + "\n")
