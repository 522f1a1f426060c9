"""Phase 4.2 — the 24-hour post-apply watch: PnL drift, win rate, HOLD rate, confidence distribution.

Each signal is a one-sided sequential test toward harm over the day's looks (docs/watch.md). A breach
fails its item (ROLLBACK RECOMMENDED); too little data, or no harm shown *yet* before the window's looks
are complete, is "could not check" with the reason — inconclusive means "hold for a human", never a pass.
"""

from __future__ import annotations

import pytest

from calpolicy.plugin import CouldNotCheck
from calpolicy.vocabulary.config import Config
from calpolicy.watch import Signal, WatchError, WatchReport, watch

pytestmark = pytest.mark.watch


@pytest.fixture(scope="module")
def watch_report(calpolicy_config: Config) -> WatchReport:
    try:
        return watch(calpolicy_config)
    except WatchError as error:
        raise CouldNotCheck(f"could not run the post-apply watch: {error}") from None


def judge_signals(report: WatchReport, *signal_ids: str) -> None:
    """Fail on any breach among ``signal_ids``; otherwise could-not-check on any inconclusive one."""
    chosen: list[Signal] = [s for s in report.signals if s.id in signal_ids]
    breaches = [s for s in chosen if s.status == "breach"]
    if breaches:
        pytest.fail("; ".join(f"{s.id} {s.message}" for s in breaches) + " — ROLLBACK RECOMMENDED", pytrace=False)
    held = [s for s in chosen if s.status == "inconclusive"]
    if held:
        raise CouldNotCheck("; ".join(f"{s.id} {s.message}" for s in held) + " — hold for a human")


@pytest.mark.control("P4.2.a")
def test_pnl_drift_within_normal(watch_report: WatchReport) -> None:
    """P4.2.a: the mean PnL after approval has not dropped by 0.10 baseline standard deviations (sequential)."""
    judge_signals(watch_report, "P4.2.a")


@pytest.mark.control("P4.2.b")
def test_win_rate_delta_below_5_points(watch_report: WatchReport) -> None:
    """P4.2.b: the post-apply win rate has not dropped by 5 points against the baseline's (sequential)."""
    judge_signals(watch_report, "P4.2.b")


@pytest.mark.control("P4.2.c")
def test_hold_rate_not_up_by_half(watch_report: WatchReport) -> None:
    """P4.2.c: HOLD decisions per hour and as a share are not up by more than 50 % (sequential)."""
    judge_signals(watch_report, "P4.2.c")


@pytest.mark.control("P4.2.d")
def test_confidence_distribution_reasonable(watch_report: WatchReport) -> None:
    """P4.2.d: at most 5 % of acted-on confidences beyond either end of [0.50, 0.95], and the applied map
    does not overstate its trades (P4.2.cal: post-apply reliability against the proposal's prediction)."""
    judge_signals(watch_report, "P4.2.d", "P4.2.cal")
