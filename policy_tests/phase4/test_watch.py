"""Phase 4.2 — the 24-hour post-apply watch: PnL drift, win rate, HOLD rate, confidence distribution.

A breach fails its item (ROLLBACK RECOMMENDED); too little post-apply data is "could not check" with the
reason — inconclusive means "hold for a human", never a pass.
"""

from __future__ import annotations

import pytest

from calpolicy.config import Config
from calpolicy.plugin import CouldNotCheck
from calpolicy.watch import Signal, WatchError, WatchReport, watch

pytestmark = pytest.mark.watch


@pytest.fixture(scope="module")
def watch_report(calpolicy_config: Config) -> WatchReport:
    try:
        return watch(calpolicy_config)
    except WatchError as error:
        raise CouldNotCheck(f"could not run the post-apply watch: {error}") from None


def judge_signal(report: WatchReport, signal_id: str) -> None:
    signal: Signal = next(s for s in report.signals if s.id == signal_id)
    if signal.status == "breach":
        pytest.fail(f"{signal.id} {signal.message} — ROLLBACK RECOMMENDED", pytrace=False)
    if signal.status == "inconclusive":
        raise CouldNotCheck(f"{signal.id} {signal.message} — hold for a human")


@pytest.mark.control("P4.2.a")
def test_pnl_drift_within_normal(watch_report: WatchReport) -> None:
    """P4.2.a: |mean PnL after − mean PnL before| stays below 0.10 baseline standard deviations."""
    judge_signal(watch_report, "P4.2.a")


@pytest.mark.control("P4.2.b")
def test_win_rate_delta_below_5_points(watch_report: WatchReport) -> None:
    """P4.2.b: the win rate of the last 20 trades is within 5 points of the baseline's."""
    judge_signal(watch_report, "P4.2.b")


@pytest.mark.control("P4.2.c")
def test_hold_rate_not_up_by_half(watch_report: WatchReport) -> None:
    """P4.2.c: HOLD decisions per hour and as a share are not more than 50 % above the baseline."""
    judge_signal(watch_report, "P4.2.c")


@pytest.mark.control("P4.2.d")
def test_confidence_distribution_reasonable(watch_report: WatchReport) -> None:
    """P4.2.d: the mean and 5th/95th percentiles of acted-on confidences stay within [0.50, 0.95]."""
    judge_signal(watch_report, "P4.2.d")
