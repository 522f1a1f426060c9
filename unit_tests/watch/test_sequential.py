"""The group-sequential boundary: its error over many looks, its shape, and that only harm can cross."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import ndtri

from calpolicy.watch.sequential import boundaries, first_crossing, smallest_boundary, spending

K = 96
T = np.arange(1, K + 1) / K


def brownian_crossings(info: np.ndarray, alpha: float, days: int, seed: int, drift: float = 0.0) -> float:
    """Share of simulated days whose z crosses the boundary at some look (score = Brownian motion in info)."""
    rng = np.random.default_rng(seed)
    steps = np.diff(np.concatenate([[0.0], info]))
    score = np.cumsum(rng.normal(size=(days, len(info))) * np.sqrt(steps) + drift * steps, axis=1)
    z = score / np.sqrt(info)
    return float((z >= boundaries(np.arange(1, len(info) + 1) / len(info), info, alpha)).any(axis=1).mean())


def test_one_look_is_the_fixed_sample_test() -> None:
    assert boundaries(np.array([1.0]), np.array([7.0]), 0.025)[0] == pytest.approx(float(ndtri(0.975)), abs=2e-3)


@pytest.mark.parametrize(
    ("info", "label"),
    [
        (np.arange(1, K + 1, dtype=float), "information growing with time"),
        (1 / (1 / 240 + 1 / (2.5 * np.arange(1, K + 1))), "a 240-trade baseline: information levels off"),
        (np.cumsum(np.random.default_rng(5).exponential(1.0, K)) + 1e-3, "uneven looks"),
    ],
)
def test_no_harm_crosses_at_any_of_96_looks_at_most_alpha_of_the_time(info: np.ndarray, label: str) -> None:
    """20,000 simulated no-harm days: the share crossing anywhere stays at alpha (and not far below it)."""
    rate = brownian_crossings(info, 0.05, 20_000, seed=1)
    assert 0.040 < rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 20_000), label


def test_the_96_looks_cost_little_power_against_one_look_at_the_end() -> None:
    info = np.arange(1, K + 1, dtype=float)
    effect = (ndtri(0.975) + ndtri(0.9)) / np.sqrt(info[-1])  # 90 % power for one test at the end
    assert brownian_crossings(info, 0.025, 20_000, seed=2, drift=effect) > 0.85


def test_spending_is_alpha_at_the_end_and_nothing_before_the_first_look() -> None:
    assert spending(0.0, 0.05) == 0.0
    assert spending(1.0, 0.05) == pytest.approx(0.05)
    assert spending(1 / 96, 0.05) < 0.001  # the first 15 minutes, 20 trades: almost nothing spent


@settings(max_examples=60, deadline=None)
@given(
    looks=st.integers(min_value=2, max_value=96),
    alpha=st.sampled_from([0.0025, 0.01, 0.025, 0.05]),
)
@example(looks=78, alpha=0.0025)
def test_the_boundary_is_monotone_in_looks_when_information_grows_with_time(looks: int, alpha: float) -> None:
    """Later looks, with more information, never need a larger z; and none is below z_{1−α}."""
    t = np.arange(1, looks + 1) / looks
    bound = boundaries(t, t * 50.0, alpha)
    finite = bound[np.isfinite(bound)]
    # The grid's cells are sized on the last look's spread (1/30 of its sd), so at an early look with little
    # information a cell is a third of that look's sd: its boundary is exact to about 0.01 on the z scale
    # (hypothesis found +0.0066 between looks 1 and 2 at 78 looks, alpha 0.0025). Kept as an example.
    assert np.all(np.diff(finite) <= 1e-2)
    assert np.all(finite >= smallest_boundary(alpha) - 1e-3)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(min_value=0.01, max_value=10.0), min_size=1, max_size=40),
    alpha=st.sampled_from([0.005, 0.025, 0.05]),
)
def test_no_boundary_is_below_the_one_look_critical_value(steps: list[float], alpha: float) -> None:
    """Why a z that never reached z_{1−α} needs no recursion: every look's boundary is at least that."""
    info = np.cumsum(steps)
    t = np.arange(1, len(info) + 1) / len(info)
    finite = boundaries(t, info, alpha)
    assert np.all(finite[np.isfinite(finite)] >= smallest_boundary(alpha) - 1e-3)


@settings(max_examples=80, deadline=None)
@given(
    z=st.lists(st.floats(min_value=-50.0, max_value=0.0), min_size=1, max_size=96),
    alpha=st.sampled_from([0.005, 0.05]),
)
def test_a_z_on_the_side_of_improvement_never_crosses(z: list[float], alpha: float) -> None:
    info = np.arange(1, len(z) + 1, dtype=float)
    t = info / len(z)
    assert first_crossing(t, info, np.array(z), alpha).first is None
    assert first_crossing(t, info, np.array(z), alpha, stop_early=True).first is None


@settings(max_examples=60, deadline=None)
@given(
    z=st.lists(st.floats(min_value=-5.0, max_value=8.0), min_size=1, max_size=96),
    shift=st.floats(min_value=0.0, max_value=5.0),
)
def test_lowering_every_z_never_creates_a_crossing_and_stopping_early_agrees(z: list[float], shift: float) -> None:
    info = np.arange(1, len(z) + 1, dtype=float)
    t = info / len(z)
    full = first_crossing(t, info, np.array(z), 0.025)
    assert first_crossing(t, info, np.array(z), 0.025, stop_early=True).first == full.first
    lower = first_crossing(t, info, np.array(z) - shift, 0.025)
    if full.first is None:
        assert lower.first is None
    else:
        assert lower.first is None or lower.first >= full.first


# --------------------------------------------------------------------------------------------- the signals


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    drop=st.floats(min_value=-1.0, max_value=0.5),
    lift=st.floats(min_value=0.0, max_value=3.0),
)
def test_improving_every_post_apply_outcome_never_raises_the_alarm(seed: int, drop: float, lift: float) -> None:
    """Lifting every post-apply PnL by the same amount (and so never losing a win) can only lower each look's
    z and raise its effect: a day that did not breach cannot breach after it, on P4.2.a or P4.2.b."""
    from datetime import UTC, datetime, timedelta

    from calpolicy.watch import looks_at, pnl_drift, win_rate_delta

    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    looks = looks_at(t0, t0 + timedelta(hours=24), 24.0, 96)
    rng = np.random.default_rng(seed)
    baseline = rng.normal(0.0, 1.0, 120)
    post = rng.normal(-drop, 1.0, 240)
    counts = np.sort(rng.integers(0, 241, 96))
    for signal in (pnl_drift, win_rate_delta):
        before = signal(baseline, post, counts, looks, 0.05, 0.0125, 50, 20)
        after = signal(baseline, post + lift, counts, looks, 0.05, 0.0125, 50, 20)
        if before.status != "breach":
            assert after.status != "breach", (signal.__name__, before.message, after.message)


# ---- first_crossing's bookkeeping, look by look (found by mutation testing)

LOOK_T = np.arange(1, 9) / 8.0
LOOK_INFO = np.arange(1, 9) * 0.5  # below 1 at first: information is any positive number


def test_the_default_computes_every_boundary_and_stopping_early_agrees_up_to_the_crossing() -> None:
    full = first_crossing(LOOK_T, LOOK_INFO, np.zeros(8), 0.025)
    assert full.first is None
    assert np.isfinite(full.boundaries).all()
    z = np.zeros(8)
    z[4] = full.boundaries[4]  # exactly on the boundary: a crossing
    crossed = first_crossing(LOOK_T, LOOK_INFO, z, 0.025)
    assert crossed.first == 4
    early = first_crossing(LOOK_T, LOOK_INFO, z, 0.025, stop_early=True)
    assert early.first == 4
    # the grid is scaled to the last look computed, so the two agree to the grid's 0.01 z, not bit for bit
    np.testing.assert_allclose(early.boundaries[:5], full.boundaries[:5], atol=0.01)
    assert np.isinf(early.boundaries[5:]).all()


def test_looks_without_a_z_or_new_information_are_not_tested() -> None:
    z = np.full(8, 9.0)
    z[:3] = np.nan
    got = first_crossing(LOOK_T, LOOK_INFO, z, 0.025)
    assert got.first == 3
    assert np.isinf(got.boundaries[:3]).all()
    info = LOOK_INFO.copy()
    info[4] = info[3]  # no trade since the last look
    info[0] = 0.0
    for stop_early in (False, True):
        same = first_crossing(LOOK_T, info, np.full(8, 0.1), 0.025, stop_early=stop_early)
        assert same.first is None
        assert np.isinf(same.boundaries[[0, 4]]).all()


def test_nothing_testable_gives_every_boundary_infinite() -> None:
    for z in (np.full(8, np.nan), np.zeros(8)):
        for stop_early in (False, True):
            got = first_crossing(LOOK_T, LOOK_INFO, z, 0.025, stop_early=stop_early)
            assert got.first is None
            assert got.boundaries.shape == (8,)
            if np.isnan(z).all() or stop_early:
                assert np.isinf(got.boundaries).all()


def test_a_look_that_fails_the_effect_size_does_not_count_as_the_crossing() -> None:
    z = np.full(8, 9.0)
    also = np.array([0, 0, 1, 1, 1, 1, 1, 1])
    for stop_early in (False, True):
        assert first_crossing(LOOK_T, LOOK_INFO, z, 0.025, also=also, stop_early=stop_early).first == 2


@pytest.mark.parametrize("alpha", [0.025, 0.05, 0.1])
@pytest.mark.parametrize("info", [0.3, 1.0, 40.0])
def test_a_single_look_has_the_fixed_sample_critical_value(alpha: float, info: float) -> None:
    """With one look, all alpha is spent there: the boundary is z_{1-α}, to well within a grid cell (1/30)."""
    got = boundaries(np.array([1.0]), np.array([info]), alpha)[0]
    assert abs(got - ndtri(1 - alpha)) < 0.002


def test_spending_outside_the_day_is_none_before_and_all_after() -> None:
    np.testing.assert_array_equal(spending(np.array([-0.5, 0.0, 1.0, 1.5]), 0.05), [0.0, 0.0, 0.05, 0.05])


def test_stopping_early_a_z_exactly_on_its_boundary_crosses() -> None:
    z = np.zeros(8)
    z[4] = 10.0
    bound = first_crossing(LOOK_T, LOOK_INFO, z, 0.025, stop_early=True).boundaries[4]
    z[4] = bound
    assert first_crossing(LOOK_T, LOOK_INFO, z, 0.025, stop_early=True).first == 4
