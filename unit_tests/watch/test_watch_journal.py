"""The AI engine's decision lines as the watch counts them: the exact words, the repeat window's edge.

Found by mutation testing (docs/mutation.md, issue 21 §5): ``parse_decisions`` was tested on whole lines
only, so the repeat window's edge, a chain of repeats and what a ``Decision`` holds had no test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from calpolicy.preflight.probes.journal import JournalEntry
from calpolicy.watch.journal import Decision, parse_confidence, parse_decisions

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SELL = "[AI-ENGINE] ✅ Action confirmed: SELL (confidence=0.72)"
HOLD = "[AI-ENGINE] ⚠️ No actionable signal for BTCUSDT"


def entry(seconds: float, message: str) -> JournalEntry:
    return JournalEntry(T0 + timedelta(seconds=seconds), "quantum-ai-engine.service", message)


def test_a_confidence_in_percent_is_a_fraction() -> None:
    assert parse_confidence("72.00", "%") == pytest.approx(0.72)
    assert parse_confidence("72", "%") == pytest.approx(0.72)
    assert parse_confidence("0.72", "") == 0.72
    assert parse_confidence("1", "") == 1.0


def test_a_decision_holds_its_time_action_confidence_and_the_words_matched() -> None:
    decisions = parse_decisions([entry(5, HOLD), entry(0, SELL), entry(9, "x Action confirmed:BUY(confidence=68%) y")])
    assert decisions == [
        Decision(T0, "SELL", 0.72, "Action confirmed: SELL (confidence=0.72"),
        Decision(T0 + timedelta(seconds=5), "HOLD", None, "No actionable signal for BTCUSDT"),
        Decision(T0 + timedelta(seconds=9), "BUY", pytest.approx(0.68), "Action confirmed:BUY(confidence=68%"),
    ]


def test_the_engines_json_lines_are_read_by_their_message() -> None:
    for key in ("msg", "message"):
        line = json.dumps({"ts": "2026-11-20T12:00:00Z", "level": "INFO", key: HOLD})
        assert [d.action for d in parse_decisions([entry(0, line)])] == ["HOLD"], key


def test_lines_that_only_look_like_decisions_are_not_decisions() -> None:
    lines = [
        "Action confirmed: sell (confidence=0.72)",  # the engine writes the side in capitals
        "Action confirmed: SELL (confidence=high)",
        "No actionable signal for ",
    ]
    assert parse_decisions([entry(i, line) for i, line in enumerate(lines)]) == []


@pytest.mark.parametrize(("gap", "count"), [(2.0, 1), (2.001, 2)])
def test_a_repeat_is_within_the_window_inclusive(gap: float, count: int) -> None:
    assert len(parse_decisions([entry(0, SELL), entry(gap, SELL)])) == count
    assert len(parse_decisions([entry(0, HOLD), entry(gap, HOLD)])) == count


def test_the_window_is_the_callers() -> None:
    assert len(parse_decisions([entry(0, SELL), entry(3, SELL)], dedupe_window_s=3.0)) == 1
    assert len(parse_decisions([entry(0, SELL), entry(0, SELL)], dedupe_window_s=0.0)) == 1
    assert len(parse_decisions([entry(0, SELL), entry(0.5, SELL)], dedupe_window_s=0.0)) == 2


def test_a_chain_of_repeats_is_measured_from_the_last_repeat() -> None:
    """Logged at 0, 1.5 and 3.0 s: each line is a repeat of the one before, so one decision."""
    assert len(parse_decisions([entry(0, SELL), entry(1.5, SELL), entry(3.0, SELL)])) == 1
    assert [d.when for d in parse_decisions([entry(0, SELL), entry(1.5, SELL), entry(3.6, SELL)])] == [
        T0,
        T0 + timedelta(seconds=3.6),
    ]


def test_a_hold_for_another_symbol_is_another_decision() -> None:
    other = "[AI-ENGINE] ⚠️ No actionable signal for ETHUSDT"
    assert len(parse_decisions([entry(0, HOLD), entry(0.1, other), entry(0.2, HOLD)])) == 3


def test_noise_between_repeats_does_not_break_the_repeat() -> None:
    decisions = parse_decisions([entry(0, SELL), entry(0.5, "[AI-ENGINE] 🎯 Ensemble returned"), entry(1, SELL)])
    assert len(decisions) == 1


def test_decisions_after_a_line_that_is_not_one_are_still_read() -> None:
    noise = "[AI-ENGINE] 🔍 Action check: repr='HOLD', equals_HOLD=True, fallback=False"
    decisions = parse_decisions([entry(0, noise), entry(1, SELL), entry(2, noise), entry(3, HOLD)])
    assert [d.action for d in decisions] == ["SELL", "HOLD"]
