"""Engine v2 honesty (issue 7), simulated with a known truth: drift, selection, the 5% rule as evidence,
interval coverage. Kept small for CI (about 300 runs of ``propose`` in all, most ensemble-only and
vectorised); the 200-run sweeps are ``benchmarks/sweep_calibrate.py``, reported in docs/calibration.md."""

from __future__ import annotations

import numpy as np

from calpolicy.calibrate import propose
from calpolicy.calibrate.bounds import check_bounds
from calpolicy.vocabulary.config import Config
from unit_tests.calibrate.synth import MODELS, drift_trades, frame_log, slope_trades, true_relative_gain, vote_trades

CONFIG = Config()


def test_a_log_that_was_overconfident_and_is_calibrated_now_is_stopped_and_the_drift_shown() -> None:
    """Over-confident for its first 2/3, calibrated since (n = 10,000). v1 said GO in 50/50 runs and shipped
    a map 6.6% worse on the present regime; the decision now rests on the latest trades."""
    for seed in range(8):
        proposal = propose(frame_log(drift_trades(10_000, seed), sha=f"drift-{seed}"), CONFIG)
        result = proposal.ensemble
        assert not check_bounds(proposal, CONFIG).go
        assert result.drift is not None
        assert result.drift["significant"], result.drift
        assert result.drift["earliest"]["win_rate"] < result.drift["latest"]["win_rate"]


def test_a_stationary_overconfident_log_is_go_and_shows_no_drift() -> None:
    go = flagged = 0
    for seed in range(8):
        trades = drift_trades(10_000, seed, overconfident_share=1.0)
        proposal = propose(frame_log(trades, sha=f"stationary-{seed}"), CONFIG)
        go += check_bounds(proposal, CONFIG).go
        flagged += proposal.ensemble.drift["significant"]
    assert go == 8
    assert flagged <= 2


def test_calibrated_models_under_a_vote_get_no_systematic_shift() -> None:
    """Models calibrated on all their own calls, trades following a weighted vote: v1 raised their
    confidence by +0.13 on average. Judged on their own calls vs the price move, each model's map shifts
    its confidences by at most 0.02 on average over runs, and a run that shifts more says STOP.
    Observed when written: mean shifts within ±0.001 over these runs (30-run sweep: ±0.0008)."""
    shifts: dict[str, list[float]] = {name: [] for name in MODELS}
    for seed in range(4):
        log = frame_log(vote_trades(5_000, seed), MODELS, sha=f"votes-{seed}")
        proposal = propose(log, CONFIG)
        go = check_bounds(proposal, CONFIG, log).go
        for name in MODELS:
            result = proposal.models[name]
            assert result.status == "ok"
            assert result.mean_shift is not None
            assert abs(result.mean_shift) <= 0.02 or not go, (name, result.mean_shift)
            shifts[name].append(result.mean_shift)
    for name, values in shifts.items():
        assert abs(float(np.mean(values))) <= 0.02, (name, values)


def test_a_gain_below_five_percent_is_not_go_at_any_n() -> None:
    """True rate 0.5 + 0.6·(c − 0.5), c ~ U(0.5, 0.95): the best map gains 4.6%, below the checklist's 5%.
    v1 said GO in 17/100 runs at n = 500 and 2,000 and 6/100 at 10,000. Now: ≤ 5% of runs (here 0–1 of 20)."""
    for n in (500, 2_000, 10_000):
        go = sum(
            check_bounds(propose(frame_log(slope_trades(n, seed, 0.6), sha=f"s06-{n}-{seed}"), CONFIG), CONFIG).go
            for seed in range(20)
        )
        assert go <= 1, (n, go)


def test_a_true_gain_near_nine_percent_is_go_in_most_runs_at_2000() -> None:
    """Slope 0.37: the shipped maps gain ~8.8% on fresh data; the lower-bound rule still says GO mostly."""
    go = sum(
        check_bounds(propose(frame_log(slope_trades(2_000, seed, 0.37), sha=f"s037-{seed}"), CONFIG), CONFIG).go
        for seed in range(20)
    )
    assert go >= 12


def test_interval_coverage_of_the_shipped_maps_gain_is_95_percent_at_500_held_out_trades() -> None:
    """v1's interval covered 90.5% at n = 500. Here the truth is the exact expected relative gain of the
    map that ships, on fresh data; 150 logs of 1,700 trades (510 held out, BCa bootstrap). Observed when
    written: 93.3% (two-sided 95% interval) and 95.3% (one-sided 95% lower bound) here; 95.7% and 95.8% in
    1,000 runs (benchmarks/sweep_calibrate.py). The bound allows for the binomial noise of 150 runs (sd 1.8%)."""
    runs = 150
    two_sided = one_sided = 0
    for seed in range(runs):
        proposal = propose(frame_log(slope_trades(1_700, seed, 0.6), sha=f"coverage-{seed}"), CONFIG)
        result = proposal.ensemble
        assert result.n_evaluated == 510
        truth = true_relative_gain(np.array(result.x), np.array(result.y), 0.6)
        two_sided += result.improvement_interval[0] <= truth <= result.improvement_interval[1]
        one_sided += result.improvement_lower <= truth
    assert two_sided / runs >= 0.91
    assert one_sided / runs >= 0.91
