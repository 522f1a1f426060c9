"""Trades and AI-engine decision lines around an approval, for the watch's tests and the demo.

The trades are the recorder's shape; the decision lines are the engine's own (REAL_SYSTEM.md §3), each
logged twice the way the engine does (plain and JSON-wrapped), so the watch's de-duplication is exercised.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def trades_around(
    approved_at: datetime,
    baseline: int = 120,
    baseline_step: timedelta = timedelta(minutes=10),
    post: int = 40,
    post_span: timedelta = timedelta(seconds=1),
    post_pnl: tuple[float, ...] = (0.6, -0.6),
) -> list[dict[str, object]]:
    """``baseline`` trades before ``approved_at`` (half wins) and ``post`` after it, cycling ``post_pnl``."""
    records = []
    for i in range(baseline, 0, -1):
        records.append(_trade(approved_at - i * baseline_step, i, 0.6 if i % 2 else -0.6))
    for i in range(post):
        when = approved_at + post_span * ((i + 1) / (post + 1))
        records.append(_trade(when, baseline + i, post_pnl[i % len(post_pnl)]))
    return records


def _trade(when: datetime, i: int, pnl: float) -> dict[str, object]:
    entry = 100.0 + i % 7
    side = "BUY" if i % 3 else "SELL"
    direction = 1.0 if side == "BUY" else -1.0
    return {
        "timestamp": when.isoformat(),
        "symbol": SYMBOLS[i % 2],
        "side": side,
        "entry_price": entry,
        "exit_price": round(entry * (1 + direction * pnl / 100), 6),
        "pnl_percent": pnl,
        "confidence": 0.55 + (i % 8) * 0.05,
        "model_id": "ensemble_v3",
        "outcome_label": "WIN" if pnl > 0.5 else "LOSS" if pnl < -0.5 else "NEUTRAL",
        "duration_seconds": 600,
        "strategy_id": "s1",
        "position_size": 1.0,
        "exit_reason": "take_profit" if pnl > 0 else "stop_loss",
    }


def decision_lines(count: int, hold_every: int = 5, confidence: float = 0.72, percent: bool = False) -> list[str]:
    """``count`` decisions as the engine logs them; every ``hold_every``-th one is a HOLD."""
    lines = []
    for i in range(count):
        if i % hold_every == 0:
            text = f"[AI-ENGINE] ⚠️ No actionable signal for {SYMBOLS[i % 2]}"
        else:
            shown = f"{confidence * 100:.2f}%" if percent else f"{confidence:.2f}"
            text = f"[AI-ENGINE] ✅ Action confirmed: {'BUY' if i % 2 else 'SELL'} (confidence={shown})"
        lines.append(text)
        lines.append(json.dumps({"ts": "", "level": "INFO", "service": "ai_engine", "event": "LOG", "msg": text}))
    return lines


def applied_calibration_json(approved_at: datetime, version: str = "cal_20261120_120000") -> dict[str, object]:
    """An applied ``calibration.json`` whose map says 0.5 for every confidence: right for ``trades_around``'s
    half-wins trades, so the watch's calibration signal has a calibrated map to check."""
    return {
        "version": version,
        "approved_at": approved_at.isoformat(),
        "confidence_calibration": {
            "enabled": True,
            "method": "isotonic",
            "mapping": {"0.0": 0.5, "1.0": 0.5},
            "mse_after": 0.25,
        },
    }
