"""Published figures for the decision metrics, and the interval/reliability helpers' basic honesty."""

from __future__ import annotations

import numpy as np
import pytest

from calpolicy.calibrate.folds import kfold, walk_forward
from calpolicy.calibrate.metrics import brier, mean_interval, reliability_table, spiegelhalter_z, wilson


@pytest.mark.parametrize(
    ("p", "y", "expected_brier", "expected_z"),
    [((0.2, 0.2), (1, 0), 0.34, 1.06), ((0.4, 0.5), (1, 0), 0.305, 1.22)],
)
def test_spiegelhalter_published_examples(
    p: tuple[float, float], y: tuple[int, int], expected_brier: float, expected_z: float
) -> None:
    """Published: (0.2, 0.2) → Brier 0.34, Z 1.06; (0.4, 0.5) → Brier 0.30 (0.305), Z 1.22."""
    assert brier(np.array(p), np.array(y)) == pytest.approx(expected_brier)
    assert spiegelhalter_z(np.array(p), np.array(y)) == pytest.approx(expected_z, abs=0.005)


def test_spiegelhalter_undefined_when_no_variance() -> None:
    assert spiegelhalter_z(np.array([0.5, 1.0, 0.0]), np.array([1, 1, 0])) is None


def test_wilson_known_values() -> None:
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("n", "method"), [(300, "bootstrap"), (20_000, "normal")])
def test_mean_interval_covers_the_true_mean(n: int, method: str) -> None:
    """Across 200 samples the 95% interval covers the true mean roughly 95% of the time."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        diff = rng.exponential(1.0, n) - 1.0  # skewed, true mean 0
        lo, hi, how = mean_interval(diff, rng, bootstrap_below=5000, resamples=400)
        assert how == method
        hits += lo <= 0.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_reliability_table_equal_count_bins() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(10_000)
    y = (rng.random(10_000) < p).astype(float)
    table = reliability_table(p, y, 10)
    assert len(table) == 10
    assert sum(row["n"] for row in table) == 10_000
    assert all(row["n"] == 1000 for row in table)
    for row in table:
        assert row["confidence_lo"] <= row["mean_confidence"] <= row["confidence_hi"]
        assert row["wilson_lo"] <= row["win_rate"] <= row["wilson_hi"]
    assert table[0]["confidence_hi"] <= table[1]["confidence_lo"]


def test_reliability_table_keeps_ties_together() -> None:
    p = np.array([0.6] * 90 + [0.7] * 10)
    table = reliability_table(p, np.ones(100), 10)
    assert [row["n"] for row in table] == [90, 10]


def test_kfold_is_seeded_balanced_and_covers_everything() -> None:
    a, b, c = kfold(103, 5, 0), kfold(103, 5, 0), kfold(103, 5, 1)
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.array_equal(a.label, c.label)
    assert sorted(np.bincount(a.label)) == [20, 20, 21, 21, 21]
    tested = np.zeros(103, dtype=int)
    for train, test in a.splits():
        assert not (train & test).any()
        assert (train | test).all()
        tested += test
    assert (tested == 1).all()


def test_walk_forward_never_trains_on_the_future() -> None:
    rng = np.random.default_rng(3)
    times = rng.permutation(600)  # row i happened at times[i]
    folds = walk_forward(np.argsort(times), 5)
    seen = 0
    for train, test in folds.splits():
        assert times[train].max() < times[test].min()
        seen += test.sum()
    assert seen == 500  # the first block (100 trades) only ever trains
