"""Published figures for the decision metrics, and the interval/reliability helpers' basic honesty."""

from __future__ import annotations

import numpy as np
import pytest

from calpolicy.calibrate.metrics import (
    brier,
    calibration_drift,
    improvement_evidence,
    reliability_table,
    spiegelhalter_z,
    wilson,
)
from calpolicy.calibrate.split import forward_split
from unit_tests.calibrate.synth import draw, frame_log


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


@pytest.mark.parametrize(("n", "method"), [(500, "bca_bootstrap"), (20_000, "normal")])
def test_improvement_intervals_cover_the_true_ratio(n: int, method: str) -> None:
    """Skewed per-trade squared errors with a known true relative gain (0.1): the two-sided 95% interval
    and the one-sided 95% lower bound each cover it in ≥ ~95% of 200 samples (binomial noise allowed)."""
    rng = np.random.default_rng(1)
    two_sided = one_sided = 0
    for _ in range(200):
        before = rng.exponential(0.25, n)
        after = before * rng.uniform(0.7, 1.1, n)  # E[after] = 0.9 E[before]: true gain 0.1
        result = improvement_evidence(before, after, rng, 0.95, bootstrap_below=5000, resamples=400)
        assert result.method == method
        two_sided += result.relative_interval[0] <= 0.1 <= result.relative_interval[1]
        one_sided += result.lower_bound <= 0.1
        assert result.interval[0] <= result.mean_difference <= result.interval[1]
    assert two_sided / 200 >= 0.92
    assert one_sided / 200 >= 0.92


def test_improvement_of_an_identity_map_is_exactly_zero() -> None:
    sq = np.random.default_rng(0).random(300)
    result = improvement_evidence(sq, sq, np.random.default_rng(0), 0.95, 5000, 400)
    assert result.relative == result.lower_bound == 0.0
    assert result.relative_interval == (0.0, 0.0)


def test_drift_is_flagged_only_when_calibration_changes() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(0.5, 0.95, 4000)
    calibrated = (rng.random(4000) < p).astype(float)
    over = (rng.random(4000) < 0.5 + 0.3 * (p - 0.5)).astype(float)
    same = calibration_drift(p[:2000], calibrated[:2000], p[2000:], calibrated[2000:], 0.05)
    changed = calibration_drift(p[:2000], over[:2000], p[2000:], calibrated[2000:], 0.05)
    assert same is not None
    assert changed is not None
    assert not same["significant"]
    assert changed["significant"]
    assert changed["p_value"] < 1e-6
    assert changed["earliest"]["win_rate"] < changed["latest"]["win_rate"]
    assert calibration_drift(p[:1], calibrated[:1], p, calibrated, 0.05) is None


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


def test_forward_split_holds_out_the_latest_trades_in_time_not_in_file_order() -> None:
    log = frame_log(draw(100, 0, "calibrated"))
    shuffled = np.random.default_rng(3).permutation(100)
    log.frame["timestamp"] = log.frame["timestamp"].to_numpy()[shuffled]  # file order is not time order
    split = forward_split(log, 0.3)
    assert split.n_holdout == 30
    assert int(split.earliest.sum()) == 30
    times = log.frame["timestamp"]
    assert times[split.train].max() < times[split.holdout].min()
    assert times[split.earliest].max() < times[~split.earliest].min()
    assert not (split.train & split.holdout).any()
    assert (split.train | split.holdout).all()
