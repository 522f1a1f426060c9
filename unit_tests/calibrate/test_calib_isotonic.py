"""The band-clamped isotonic map: equal to scikit-learn when the band is open, inside the band always."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import isotonic_regression
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_blobs
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.naive_bayes import GaussianNB

from calpolicy.calibrate.isotonic import CalibrationMap, clamp_to_band, fit, pool_small_blocks, shippable
from calpolicy.calibrate.metrics import brier

GRID = np.linspace(0.0, 1.0, 20_001)

samples = st.integers(min_value=1, max_value=300).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
    )
)


def _sklearn(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> IsotonicRegression:
    return IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y, sample_weight=w)


@pytest.mark.parametrize("rounding", [None, 2])
def test_open_band_equals_scikit_learn(rounding: int | None) -> None:
    """With the band at 1.0 the clamp never binds, so our map is scikit-learn's fit (ties included)."""
    rng = np.random.default_rng(7)
    x = rng.uniform(0.2, 0.9, 5_000)
    if rounding is not None:
        x = np.round(x, rounding)  # many ties, as in real logs with 3-decimal confidences
    y = (rng.random(5_000) < 0.5 + 0.6 * (x - 0.5)).astype(float)
    w = rng.uniform(0.1, 2.0, 5_000)
    for weight in (None, w):
        ours = fit(x, y, band=1.0, weight=weight)
        theirs = _sklearn(x, y, weight)
        for at in (GRID, x):
            np.testing.assert_allclose(ours(at), theirs.predict(at), rtol=0, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(samples, st.sampled_from([0.01, 0.05, 0.15, 0.3]))
def test_map_monotone_in_band_and_in_unit_interval(sample: tuple[list[float], list[bool]], band: float) -> None:
    x = np.asarray(sample[0])
    y = np.asarray(sample[1], dtype=float)
    m = fit(x, y, band)
    assert m.x[0] == 0.0
    assert m.x[-1] == 1.0
    assert np.all(np.diff(m.x) > 0)
    for at in (GRID, x, m.x):
        values = m(at)
        assert np.all(np.diff(m(np.sort(at))) >= 0)
        assert np.all((values >= 0.0) & (values <= 1.0))
        assert np.max(np.abs(values - at)) <= band + 1e-12
    assert m.max_change <= band + 1e-12


@settings(max_examples=100, deadline=None)
@given(samples, st.sampled_from([0.05, 0.15]))
def test_clamp_is_exactly_the_clipped_curve(sample: tuple[list[float], list[bool]], band: float) -> None:
    """The stored knots reproduce clip(f(c), c − band, c + band) everywhere, not just at the data."""
    x = np.asarray(sample[0])
    y = np.asarray(sample[1], dtype=float)
    unclamped = fit(x, y, band=1.0)
    expected = np.clip(unclamped(GRID), GRID - band, GRID + band)
    np.testing.assert_allclose(fit(x, y, band)(GRID), expected, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(samples)
def test_identity_map_leaves_brier_unchanged(sample: tuple[list[float], list[bool]]) -> None:
    x = np.asarray(sample[0])
    y = np.asarray(sample[1], dtype=float)
    assert brier(CalibrationMap.identity()(x), y) == brier(x, y)


def test_clamp_inserts_crossing_knots() -> None:
    """A flat curve at 0.5 clipped to ±0.1 follows c+0.1 up to 0.4, stays at 0.5, then follows c−0.1."""
    m = clamp_to_band(np.array([0.0, 1.0]), np.array([0.5, 0.5]), 0.1)
    np.testing.assert_allclose(m.x, [0.0, 0.4, 0.6, 1.0])
    np.testing.assert_allclose(m.y, [0.1, 0.5, 0.5, 0.9])


def test_empty_input_is_the_identity() -> None:
    m = fit(np.empty(0), np.empty(0), 0.15)
    np.testing.assert_array_equal(m(GRID), GRID)


def test_scikit_learn_calibration_example_is_reproduced() -> None:
    """scikit-learn's "Probability calibration of classifiers" example reports Brier 0.104 (GaussianNB)
    and 0.084 (isotonic, cv=2). Rebuilt with our Brier function and our fit as the per-fold calibrator."""
    n_samples = 50_000
    centers = [(-5, -5), (0, 0), (5, 5)]
    features, target = make_blobs(n_samples=n_samples, centers=centers, shuffle=False, random_state=42)
    target[: n_samples // 2] = 0
    target[n_samples // 2 :] = 1
    weight = np.random.RandomState(42).rand(target.shape[0])
    x_train, x_test, y_train, y_test, w_train, w_test = train_test_split(
        features, target, weight, test_size=0.9, random_state=42
    )
    raw = GaussianNB().fit(x_train, y_train).predict_proba(x_test)[:, 1]
    assert round(brier(raw, y_test, w_test), 3) == 0.104

    calibrated = np.zeros(len(x_test))
    for train, held_out in StratifiedKFold(n_splits=2).split(x_train, y_train):
        clf = GaussianNB().fit(x_train[train], y_train[train], sample_weight=w_train[train])
        p_held_out = clf.predict_proba(x_train[held_out])[:, 1]
        cal_map = fit(p_held_out, y_train[held_out], band=1.0, weight=w_train[held_out])
        calibrated += cal_map(clf.predict_proba(x_test)[:, 1]) / 2
    assert round(brier(calibrated, y_test, w_test), 3) == 0.084

    reference = CalibratedClassifierCV(GaussianNB(), cv=2, method="isotonic")
    reference.fit(x_train, y_train, sample_weight=w_train)
    np.testing.assert_allclose(calibrated, reference.predict_proba(x_test)[:, 1], atol=1e-9)


# ---------------------------------------------------------------------- engine v2: what a shipped map needs


@settings(max_examples=100, deadline=None)
@given(samples, st.sampled_from([0.05, 0.15]), st.sampled_from([1, 5, 50]))
# issue 24: the last knot rounded outwards (0.9609375 → 0.960938), so the top win sat on a steep interior
# segment and the map was not back to the identity where the data ended plus its edge change
@example(([0.0] * 29 + [0.96, 0.9609375], [False] * 30 + [True]), 0.05, 1)
@example(([0.0, 0.99609375, 0.998046875], [False, False, True]), 0.05, 1)
def test_shipped_map_is_monotone_in_band_with_clean_knots(sample, band: float, min_block: int) -> None:
    """What ships: min block, identity outside the data, knots rounded — still monotone, in band, in [0, 1]."""
    x = np.asarray(sample[0])
    y = np.asarray(sample[1], dtype=float)
    m = shippable(fit(x, y, band, min_block=min_block, outside="identity"), band)
    assert m.x[0] == 0.0
    assert m.x[-1] == 1.0
    assert np.all(np.diff(m.x) > 0)
    assert np.all(np.round(m.x, 6) == m.x)
    assert all(float(repr(float(k))) == k and len(repr(float(k))) <= 8 for k in m.x)
    for at in (GRID, x, m.x):
        values = m(at)
        assert np.all(np.diff(m(np.sort(at))) >= 0)
        assert np.all((values >= 0.0) & (values <= 1.0))
        assert np.max(np.abs(values - at)) <= band + 1e-9
    # outside the fitted range the map returns to the identity within the size of its edge change
    lo, hi = x.min(), x.max()
    edge = max(abs(float(m(lo)) - lo), abs(float(m(hi)) - hi)) + 2e-6
    outside = GRID[(lo - edge > GRID) | (hi + edge < GRID)]
    np.testing.assert_allclose(m(outside), outside, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(samples, st.integers(min_value=2, max_value=60))
def test_every_step_rests_on_at_least_the_minimum_number_of_trades(sample, min_block: int) -> None:
    """After pooling, each run of equal fitted values covers ≥ min_block trades (unless all trades are fewer)."""
    x = np.sort(np.asarray(sample[0]))
    y = np.asarray(sample[1], dtype=float)
    starts = np.flatnonzero(np.concatenate(([True], x[1:] != x[:-1])))
    trades = np.diff(np.append(starts, len(x))).astype(float)
    means = np.add.reduceat(y, starts) / trades
    fitted = isotonic_regression(means, weights=trades).x
    pooled = pool_small_blocks(fitted, trades, trades, min_block)
    assert np.all(np.diff(pooled) >= -1e-12)
    runs = np.flatnonzero(np.concatenate(([True], np.abs(np.diff(pooled)) > 1e-12)))
    sizes = np.add.reduceat(trades, runs)
    assert sizes.min() >= min(min_block, len(x))
    assert np.isclose(np.sum(pooled * trades), np.sum(y))  # pooling keeps the total: still a least-squares fit


def test_support_at_three_confidences_leaves_the_rest_of_the_range_alone() -> None:
    """Confidences only at {0.6, 0.7, 0.8}: 0.2 maps to 0.2 and 0.99 to 0.99; the data points move."""
    rng = np.random.default_rng(0)
    x = rng.choice([0.6, 0.7, 0.8], 3_000)
    y = (rng.random(3_000) < 0.5 + 0.3 * (x - 0.5)).astype(float)
    m = shippable(fit(x, y, 0.15, min_block=50, outside="identity"), 0.15)
    assert float(m(0.2)) == 0.2
    assert float(m(0.99)) == 0.99
    assert float(m(0.8)) < 0.75


def test_no_spike_to_one_on_a_handful_of_top_wins() -> None:
    """Five trades at the top, all wins: v1 jumped to 1.0 there; pooled into a 50-trade step it cannot."""
    rng = np.random.default_rng(2)
    x = np.concatenate((rng.uniform(0.5, 0.94, 2_000), np.full(5, 0.948)))
    y = np.concatenate(((rng.random(2_000) < 0.5 + 0.3 * (x[:2_000] - 0.5)).astype(float), np.ones(5)))
    spiky = fit(x, y, 1.0)
    assert float(spiky(0.948)) == 1.0  # the unpooled isotonic fit does spike
    m = shippable(fit(x, y, 0.15, min_block=50, outside="identity"), 0.15)
    values = m(np.linspace(0.001, 0.999, 999))
    assert not np.any((values == 0.0) | (values == 1.0))
    assert float(m(0.948)) < 0.9
