"""The four post-apply signals at their thresholds, with too little data, and the journal's decision lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from calpolicy.config import Config
from calpolicy.probes.journal import JournalEntry
from calpolicy.watch import (
    Decision,
    confidence_distribution,
    hold_rate,
    judge,
    parse_decisions,
    pnl_drift,
    win_rate_delta,
)

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WATCH = Config().watch


def entry(seconds: float, message: str) -> JournalEntry:
    return JournalEntry(T0 + timedelta(seconds=seconds), "quantum-ai-engine.service", message)


# --------------------------------------------------------------------------------------------- journal


def test_both_confidence_forms_parse_to_the_same_fraction() -> None:
    decisions = parse_decisions(
        [
            entry(0, "[AI-ENGINE] ✅ Action confirmed: SELL (confidence=0.72)"),
            entry(10, "[AI-ENGINE] ✅ Action confirmed: BUY (confidence=68.10%)"),
        ]
    )
    assert [(d.action, d.confidence) for d in decisions] == [("SELL", 0.72), ("BUY", pytest.approx(0.681))]


def test_a_decision_logged_several_times_counts_once() -> None:
    line = "[AI-ENGINE] ✅ Action confirmed: SELL (confidence=0.72)"
    wrapped = json.dumps({"ts": "2026-11-20T12:00:00Z", "level": "INFO", "service": "ai_engine", "msg": line})
    hold = "[AI-ENGINE] ⚠️ No actionable signal for BTCUSDT"
    decisions = parse_decisions(
        [entry(0, line), entry(0.1, wrapped), entry(0.2, line), entry(1, hold), entry(1.1, hold), entry(60, line)]
    )
    assert [d.action for d in decisions] == ["SELL", "HOLD", "SELL"]


def test_lines_that_are_not_decisions_are_ignored() -> None:
    noise = [
        entry(0, "[AI-ENGINE] 🎯 Ensemble returned: action='BUY' (type=<class 'str'>), confidence=0.7234"),
        entry(1, "[AI-ENGINE] 🔍 Action check: repr='HOLD', equals_HOLD=True, fallback=False"),
        entry(2, "[PHASE 3C] 📊 Confidence calibrated for BTCUSDT: 72.34% → 68.10% (factor: 0.941)"),
        entry(3, "[LGBM-Agent] [ERROR] 2026-03-11 03:18:56 | Model load error: boom"),
    ]
    assert parse_decisions(noise) == []


# --------------------------------------------------------------------------------------------- P4.2.a


def test_pnl_drift_breaches_at_the_threshold_and_passes_below() -> None:
    rng = np.random.default_rng(0)
    baseline = rng.normal(0.0, 1.0, 500)
    sd, mean = float(np.std(baseline, ddof=1)), float(np.mean(baseline))
    below = np.full(40, mean + 0.09 * sd)
    at = np.full(40, mean + 0.10 * sd)
    assert pnl_drift(baseline, below, 0.10, 50, 20).status == "ok"
    signal = pnl_drift(baseline, at, 0.10, 50, 20)
    assert signal.status == "breach"
    assert signal.value == pytest.approx(0.10)
    assert "standard error" in signal.message


def test_pnl_drift_with_too_few_trades_is_inconclusive_not_ok() -> None:
    baseline = np.linspace(-1, 1, 100)
    assert pnl_drift(baseline, np.zeros(19), 0.10, 50, 20).status == "inconclusive"
    assert pnl_drift(baseline[:49], np.zeros(30), 0.10, 50, 20).status == "inconclusive"
    assert pnl_drift(np.zeros(100), np.zeros(30), 0.10, 50, 20).status == "inconclusive"


# --------------------------------------------------------------------------------------------- P4.2.b


def test_win_rate_uses_the_last_20_trades_against_the_baseline() -> None:
    baseline = np.array([1.0] * 50 + [-1.0] * 50)  # 50 %
    ten_of_twenty = np.array([-1.0] * 30 + [1.0, -1.0] * 10)  # last 20: 50 %
    assert win_rate_delta(baseline, ten_of_twenty, 20, 0.05, 50).status == "ok"
    nine_of_twenty = np.array([1.0] * 30 + [1.0] * 9 + [-1.0] * 11)  # last 20: 45 %, earlier wins ignored
    signal = win_rate_delta(baseline, nine_of_twenty, 20, 0.05, 50)
    assert signal.status == "breach"
    assert signal.value == pytest.approx(0.05)
    assert "11 points" in signal.message


def test_win_rate_with_fewer_than_20_post_trades_is_inconclusive() -> None:
    baseline = np.array([1.0, -1.0] * 50)
    assert win_rate_delta(baseline, np.ones(19), 20, 0.05, 50).status == "inconclusive"


# --------------------------------------------------------------------------------------------- P4.2.c


def decisions(n: int, holds: int, start: float = 0.0, step: float = 60.0) -> list[Decision]:
    return [
        Decision(T0 + timedelta(seconds=start + i * step), "HOLD" if i < holds else "BUY", None, str(i))
        for i in range(n)
    ]


def test_hold_rate_breaches_above_plus_50_percent_per_hour_or_share() -> None:
    base = decisions(100, 20)  # 20 % share, 20 holds in 24 h
    same = decisions(40, 8)  # 20 % share, 8 holds in 10 h = 0.8/h vs 0.83/h
    assert hold_rate(base, same, 24.0, 10.0, 0.5, 20, 1.0).status == "ok"
    share_up = decisions(40, 13)  # 32.5 % share: +62 %
    signal = hold_rate(base, share_up, 24.0, 24.0, 0.5, 20, 1.0)
    assert signal.status == "breach"
    assert signal.evidence["increase_share"] == pytest.approx(0.625)
    at_threshold = decisions(40, 12)  # 30 % share: exactly +50 %, not above it
    assert hold_rate(base, at_threshold, 24.0, 24.0, 0.5, 20, 1.0).status == "ok"


def test_hold_rate_from_none_to_some_is_a_breach() -> None:
    signal = hold_rate(decisions(50, 0), decisions(30, 3), 24.0, 5.0, 0.5, 20, 1.0)
    assert signal.status == "breach"
    assert "from none" in signal.message


def test_hold_rate_with_few_decisions_or_a_short_window_is_inconclusive() -> None:
    base = decisions(100, 20)
    assert hold_rate(base, decisions(19, 0), 24.0, 5.0, 0.5, 20, 1.0).status == "inconclusive"
    assert hold_rate(base, decisions(40, 0), 24.0, 0.5, 0.5, 20, 1.0).status == "inconclusive"


# --------------------------------------------------------------------------------------------- P4.2.d


def confident(values: list[float]) -> list[Decision]:
    return [Decision(T0, "BUY", v, str(i)) for i, v in enumerate(values)]


def test_confidence_inside_the_band_is_ok_and_a_tail_outside_breaches() -> None:
    assert confidence_distribution(confident(list(np.linspace(0.55, 0.9, 40))), 0.5, 0.95, 20).status == "ok"
    high_tail = list(np.linspace(0.6, 0.9, 30)) + [0.99] * 10
    signal = confidence_distribution(confident(high_tail), 0.5, 0.95, 20)
    assert signal.status == "breach"
    assert "p95" in signal.message


def test_confidence_needs_enough_decisions() -> None:
    assert confidence_distribution(confident([0.7] * 19), 0.5, 0.95, 20).status == "inconclusive"


# --------------------------------------------------------------------------------------------- judge


def judged(now: datetime, confidence: float = 0.7, post_pnl: np.ndarray | None = None) -> object:
    """120 baseline trades (every 10 min, half wins) and 40 after approval; a decision every 5 min."""
    before = [T0 - timedelta(minutes=10 * i) for i in range(120, 0, -1)]
    after = [T0 + timedelta(minutes=10 * i) for i in range(1, 41)]
    times = np.array([t.replace(tzinfo=None) for t in before + after], dtype="datetime64[us]")
    alternating = np.tile([1.0, -1.0], 80)
    pnl = alternating if post_pnl is None else np.concatenate([alternating[:120], post_pnl])
    steady = [
        Decision(T0 + timedelta(minutes=5 * i), "HOLD" if i % 5 == 0 else "BUY", confidence, str(i))
        for i in range(-280, 80)
    ]
    return judge(times=times, pnl=pnl, decisions=steady, approved_at=T0, now=now, version="cal_x", watch_config=WATCH)


def test_judge_is_ok_when_every_signal_is_steady() -> None:
    report = judged(T0 + timedelta(hours=7))
    assert [s.status for s in report.signals] == ["ok"] * 4
    assert report.verdict == "OK"
    assert report.exit_code == 0


def test_judge_holds_for_a_human_until_enough_post_apply_data() -> None:
    report = judged(T0 + timedelta(minutes=30))
    assert report.verdict == "INCONCLUSIVE"
    assert report.exit_code == 4


def test_judge_recommends_rollback_on_any_breach() -> None:
    assert judged(T0 + timedelta(hours=7), confidence=0.99).verdict == "ROLLBACK RECOMMENDED"
    losing = np.tile([1.0, -1.0, -1.0, -1.0], 10)
    report = judged(T0 + timedelta(hours=7), post_pnl=losing)
    assert report.exit_code == 1
    assert {s.id for s in report.signals if s.status == "breach"} == {"P4.2.a", "P4.2.b"}


def test_the_same_text_twice_with_another_decision_between_is_two_decisions() -> None:
    sell = "[AI-ENGINE] ✅ Action confirmed: SELL (confidence=0.72)"
    hold = "[AI-ENGINE] ⚠️ No actionable signal for ETHUSDT"
    decisions = parse_decisions([entry(0, sell), entry(0.1, hold), entry(0.2, sell)])
    assert [d.action for d in decisions] == ["SELL", "HOLD", "SELL"]
