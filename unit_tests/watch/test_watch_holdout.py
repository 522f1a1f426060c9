"""Hold-out simulations of the watch's own ``judge`` over whole days of 96 looks: markets and seeds that
``benchmarks/sim_watch.py`` (the numbers in docs/watch.md) does not use, few days, and margins far from
the expected rates so a seeded run cannot flake (each bound is many standard errors from its expectation).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from calpolicy.localenv.watch_data import SIM_T0, Market, Scenario, simulate_day
from calpolicy.vocabulary.config import Config

WATCH = Config().watch
# another market than the benchmark's: higher raw confidences, a steeper correction, more HOLDs
HOLDOUT = Market(
    conf_range=(0.55, 0.85), offset=-0.17, decisions_per_hour=24.0, hold_share=0.3, acted_range=(0.6, 0.92)
)
TRADE_SIGNALS = {"P4.2.a", "P4.2.b", "P4.2.cal"}


def days(rate: float, scenario: Scenario, n: int, seed: int) -> list:
    rng = np.random.default_rng([seed, int(rate * 10)])
    return [simulate_day(rng, rate, scenario, WATCH, market=HOLDOUT) for _ in range(n)]


@pytest.mark.parametrize("rate", [1.0, 4.0, 10.0])
def test_no_harm_days_rarely_ever_say_rollback_over_96_looks(rate: float) -> None:
    """Expected about 2 % (at most 5 %): 40 days allow 5 (P(≥ 6 | 5 %) ≈ 1.4 % on any fresh seed)."""
    reports = days(rate, Scenario("no change", harm=False), 40, seed=9001)
    assert sum(r.verdict == "ROLLBACK RECOMMENDED" for r in reports) <= 5


@pytest.mark.parametrize("rate", [4.0, 10.0])
def test_a_better_win_rate_never_recommends_rollback(rate: float) -> None:
    reports = days(rate, Scenario("better", win_shift=+0.10, harm=False), 30, seed=9002)
    assert not [s.id for r in reports for s in r.signals if s.status == "breach" and s.id in TRADE_SIGNALS]


def test_a_20_point_drop_is_caught_in_nearly_every_day_at_10_trades_an_hour() -> None:
    """Expected ≥ 99 %: 30 days must catch at least 27 (the issue's bar is 90 %)."""
    reports = days(10.0, Scenario("drop 20", win_shift=-0.20), 30, seed=9003)
    assert sum(r.verdict == "ROLLBACK RECOMMENDED" for r in reports) >= 27


def test_a_map_that_overstates_by_012_is_told_from_no_change_at_10_trades_an_hour() -> None:
    """Expected about 95 % against about 1 % for no change (the calibration signal)."""
    reports = days(10.0, Scenario("overstates", map_shift=+0.12), 30, seed=9004)
    caught = sum(any(s.id == "P4.2.cal" and s.status == "breach" for s in r.signals) for r in reports)
    assert caught >= 22


def test_judging_at_the_last_look_says_rollback_exactly_when_some_look_of_the_day_did() -> None:
    """The watch recomputes every past look: one call at look 96 is the whole day's "ever ROLLBACK"."""
    rng = np.random.default_rng(9005)
    evers = []
    for _ in range(3):
        state = rng.bit_generator.state
        final = simulate_day(rng, 10.0, Scenario("drop 10", win_shift=-0.10), WATCH, market=HOLDOUT)
        ever = False
        for k in range(1, 97):
            rng.bit_generator.state = state  # the same day, judged as of look k
            report = simulate_day(
                rng, 10.0, Scenario("drop 10", win_shift=-0.10), WATCH, SIM_T0 + timedelta(minutes=15 * k), HOLDOUT
            )
            ever = ever or report.verdict == "ROLLBACK RECOMMENDED"
            if ever:
                assert report.verdict == "ROLLBACK RECOMMENDED", k  # once found, found at every later look
        assert ever == (final.verdict == "ROLLBACK RECOMMENDED")
        evers.append(ever)
    assert any(evers)  # the "found again at every later look" path was exercised
