"""Trades and AI-engine decision lines around an approval, for the watch's tests and the demo; and
simulated watch days (``simulate_day``) for ``benchmarks/sim_watch.py`` and the hold-out tests.

The trades are the recorder's shape; the decision lines are the engine's own (REAL_SYSTEM.md §3), each
logged twice the way the engine does (plain and JSON-wrapped), so the watch's de-duplication is exercised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

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


# --------------------------------------------------------------------------------------------- simulated days

SIM_T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Scenario:
    """What changes after the approval: the trades' true win probability, or only what the map says."""

    name: str
    win_shift: float = 0.0  # added to every post-apply trade's true win probability
    map_shift: float = 0.0  # added to what the applied map says (outcomes unchanged)
    harm: bool = True


@dataclass(frozen=True)
class Market:
    """A simulated market: raw confidences uniform in ``conf_range``, the applied map ``p = c + offset``
    (calibrated: a trade wins with probability p), decisions per hour with a HOLD share, acted-on
    confidences uniform in ``acted_range``."""

    conf_range: tuple[float, float] = (0.45, 0.75)
    offset: float = -0.10
    decisions_per_hour: float = 30.0
    hold_share: float = 0.2
    acted_range: tuple[float, float] = (0.55, 0.90)
    baseline_hours: float = 72.0

    def mapping(self, shift: float = 0.0) -> dict[str, float]:
        low, high = self.conf_range
        knots = {0.0: 0.0, low: low + self.offset, high: high + self.offset, 1.0: 1.0}
        return {repr(k): min(max(v + (shift if 0.0 < k < 1.0 else 0.0), 0.0), 1.0) for k, v in knots.items()}


def _sim_trades(rng: np.random.Generator, rate: float, start: datetime, hours: float, market: Market, shift: float):
    n = rng.poisson(rate * hours)
    seconds = np.sort(rng.uniform(0, hours * 3600, n))
    times = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us") + (seconds * 1e6).astype("timedelta64[us]")
    raw = rng.uniform(*market.conf_range, n)
    win = rng.random(n) < np.clip(raw + market.offset + shift, 0.0, 1.0)
    size = rng.uniform(0.2, 1.5, n)
    return times, np.where(win, size, -size), raw


def _sim_decisions(rng: np.random.Generator, start: datetime, hours: float, market: Market) -> list[Any]:
    from calpolicy.watch import Decision

    n = rng.poisson(market.decisions_per_hour * hours)
    seconds = np.sort(rng.uniform(0, hours * 3600, n))
    hold = rng.random(n) < market.hold_share
    conf = rng.uniform(*market.acted_range, n)
    return [
        Decision(start + timedelta(seconds=float(s)), "HOLD" if h else "BUY", None if h else float(c), "")
        for s, h, c in zip(seconds, hold, conf, strict=True)
    ]


def simulate_day(
    rng: np.random.Generator,
    rate: float,
    scenario: Scenario,
    watch_config: Any,
    now: datetime | None = None,
    market: Market | None = None,
    detail: bool = False,
    extra_decisions: list[Any] | None = None,
) -> Any:
    """One watch day through the watch's own ``judge``: Poisson trades at ``rate`` per hour before and after
    an approval at ``SIM_T0``; the report as of ``now`` (default: the window's last look).
    ``extra_decisions`` are added to the post-apply ones (a blatant harm for the range check)."""
    from calpolicy.watch import judge

    market = market or Market()
    before = SIM_T0 - timedelta(hours=market.baseline_hours)
    bt, bp, bc = _sim_trades(rng, rate, before, market.baseline_hours, market, 0.0)
    pt, pp, pc = _sim_trades(rng, rate, SIM_T0, watch_config.hours, market, scenario.win_shift)
    decisions = _sim_decisions(rng, SIM_T0 - timedelta(hours=24), 24.0, market) + _sim_decisions(
        rng, SIM_T0, watch_config.hours, market
    )
    decisions += extra_decisions or []
    return judge(
        times=np.concatenate([bt, pt]),
        pnl=np.concatenate([bp, pp]),
        confidence=np.concatenate([bc, pc]),
        decisions=decisions,
        approved_at=SIM_T0,
        now=now or SIM_T0 + timedelta(hours=watch_config.hours),
        version="sim",
        watch_config=watch_config,
        mapping=market.mapping(scenario.map_shift),
        journal_start=SIM_T0 - timedelta(hours=24),
        detail=detail,
    )
