"""Each signal on a handful of trades or decisions, with every number the operator reads checked by hand.

Found by mutation testing (docs/mutation.md, issue 21 §5): the signals were tested through whole simulated
days, whose verdicts do not move when a standard error, a message or an evidence field is slightly wrong.
Here two looks of 12 h and a few values give numbers small enough to state: each expected value below was
worked out by hand from the formula in the signal's docstring (the working is in the comments), and the
boundary is the one ``sequential.boundaries`` gives for that look's information.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from calpolicy.watch.sequential import boundaries, smallest_boundary
from calpolicy.watch.signals import (
    Z_POWER,
    Looks,
    Outcome,
    Stream,
    _detectable,
    _percent,
    calibration,
    confidence_distribution,
    hold_rate,
    inconclusive,
    pnl_drift,
    run_stream,
    win_rate_delta,
)

TWO = Looks(np.arange(1, 3) / 2, 2, 12.0)  # both looks of a 24 h window: complete
HALF = Looks(np.arange(1, 3) / 4, 4, 6.0)  # 2 of 4 looks: not complete
BASE4 = np.array([-1.0, 1.0, -1.0, 1.0])  # mean 0, sd √(4/3) = 1.1547
POST4 = np.array([-1.0, -1.0, 1.0, -1.0])


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-6)


def two_sample_bound(n_base: int, counts: list[int], alpha: float) -> float:
    """The last look's boundary for the two-sample information 1 / (1/n_before + 1/n_after)."""
    info = 1.0 / (1.0 / n_base + 1.0 / np.array(counts, dtype=float))
    return float(boundaries(TWO.t, info, alpha)[-1])


# --------------------------------------------------------------------------------------------- helpers


def test_inconclusive_carries_no_value_and_says_why() -> None:
    signal = inconclusive("P4.2.x", "name", 0.5, 7, "too little", extra=1)
    assert (signal.id, signal.name, signal.status, signal.value, signal.threshold, signal.n) == (
        "P4.2.x",
        "name",
        "inconclusive",
        None,
        0.5,
        7,
    )
    assert signal.message == "INCONCLUSIVE: too little"
    assert signal.evidence == {"extra": 1}


def test_percent_says_from_none_for_a_rise_from_zero() -> None:
    assert _percent(math.inf) == "from none"
    assert _percent(0.25) == "+25%"
    assert _percent(-0.5) == "-50%"


def test_detectable_effects_are_listed_and_none_is_said() -> None:
    tests = {
        "a": {"detectable_effect": 0.123456},
        "b": {},
        "c": {"detectable_effect": None},
        "d": {"detectable_effect": 2.0},
    }
    assert _detectable(tests, None) == "a 0.123, d 2"
    assert _detectable(tests, lambda kind, e: f"{kind}={e}") == "a=0.123456, d=2.0"
    assert _detectable({"b": {}}, None) == "no effect of known size"


def stream(z: list[float], past: list[bool] | None = None, alpha: float = 0.025) -> Stream:
    z_arr = np.array(z, dtype=float)
    info = np.arange(1.0, len(z) + 1.0) * 10.0
    ok = np.array(past if past is not None else [True] * len(z))
    return Stream(z_arr, info, z_arr, ok, np.ones(len(z)), alpha)


def test_run_stream_finds_the_first_look_at_or_past_its_boundary() -> None:
    looks = Looks(np.arange(1, 4) / 3, 3, 8.0)
    out = run_stream(stream([0.5, 9.0, 9.5]), looks, detail=True)
    assert out.first == 1
    assert out.latest == 2
    assert out.z_max == 9.5
    assert out.boundaries is not None
    np.testing.assert_allclose(out.boundaries, boundaries(looks.t, np.array([10.0, 20.0, 30.0]), 0.025))
    assert out.boundary_now == approx(float(out.boundaries[2]))
    # the effect size not reached at look 2: the crossing is the next look
    assert run_stream(stream([0.5, 9.0, 9.5], [True, False, True]), looks, detail=True).first == 2


def test_run_stream_without_detail_skips_a_stream_that_never_reached_z_one_minus_alpha() -> None:
    looks = Looks(np.arange(1, 4) / 3, 3, 8.0)
    floor = smallest_boundary(0.025)
    below = run_stream(stream([0.5, floor - 1e-9, np.nan]), looks, detail=False)
    assert below == Outcome(None, None, 1, floor - 1e-9)
    assert below.boundary_now is None
    # reaching z_{1−α} is enough to be worked out, even if the boundary there is higher
    near = run_stream(stream([0.5, floor, np.nan]), looks, detail=False)
    assert near.boundaries is not None
    assert near.first is None
    # without detail the boundaries stop at the first crossing: the verdict needs no more
    early = run_stream(stream([0.5, 9.0, 9.5]), looks, detail=False)
    assert early.first == 1
    assert early.boundaries is not None
    assert early.boundaries[2] == math.inf
    assert early.boundary_now == approx(float(early.boundaries[1]))
    # past z_{1−α} but short of the effect size: not worked out either
    short = run_stream(stream([0.5, 9.0, np.nan], [True, False, True]), looks, detail=False)
    assert short.boundaries is None


def test_a_stream_never_testable_has_no_latest_look_and_no_z() -> None:
    out = run_stream(stream([np.nan, np.nan]), TWO, detail=True)
    assert (out.first, out.latest, out.z_max, out.boundary_now) == (None, None, -math.inf, None)


def test_the_boundary_now_is_the_last_look_that_was_tested() -> None:
    assert Outcome(None, np.array([2.5, np.inf, 2.1, np.inf]), 3, 1.0).boundary_now == 2.1
    assert Outcome(None, np.array([2.5, np.inf, 2.1, 1.9]), 1, 1.0).boundary_now == 2.5
    assert Outcome(None, np.array([np.inf, np.inf]), 1, 1.0).boundary_now is None
    assert Outcome(None, None, 1, 1.0).boundary_now is None
    assert Outcome(None, np.array([2.5]), None, 1.0).boundary_now is None


# --------------------------------------------------------------------------------------------- P4.2.a


def test_pnl_drift_ok_with_every_number_by_hand() -> None:
    """Baseline ±1 (sd 1.1547); post −1, −1 | +1, −1: mean −0.5, drift −0.433 sd, z 0.655 (Welch)."""
    signal = pnl_drift(BASE4, POST4, np.array([2, 4]), TWO, 0.1, 0.0125, 4, 2)
    bound = two_sample_bound(4, [2, 4], 0.0125)
    se_sd = math.sqrt(1 / 3 + 1 / 4) / math.sqrt(4 / 3)  # √(s²_b/4 + s²_post/4) / sd_b, s²_post = 1
    assert (signal.id, signal.name, signal.status, signal.n, signal.threshold) == ("P4.2.a", "PnL drift", "ok", 4, 0.1)
    assert signal.value == approx(-0.5 / math.sqrt(4 / 3))
    assert signal.evidence == {
        "mean_baseline": 0.0,
        "sd_baseline": approx(math.sqrt(4 / 3)),
        "n_baseline": 4,
        "mean_post": -0.5,
        "standard_error_sd": approx(se_sd),
        "look": 2,
        "looks": 2,
        "tests": {
            "drop": {
                "alpha": 0.0125,
                "z_max": approx(1 / math.sqrt(1 / 3)),  # look 1: two losses, no spread of their own
                "z_now": approx(0.5 / math.sqrt(1 / 3 + 1 / 4)),
                "boundary_now": approx(bound),
                "detectable_effect": approx((bound + Z_POWER) * se_sd),
            }
        },
    }
    assert signal.message == (
        "OK: no harm at any of the 2 looks (mean PnL -0.500 vs +0.000 before, a drift of -0.433 sd over 4 trades "
        "(threshold −0.1 sd)); this window would have detected a mean PnL drop of "
        f"{(bound + Z_POWER) * se_sd:.2f} baseline sd with 80 % power — smaller harm is not excluded"
    )


def test_pnl_drift_breach_names_the_look_the_drift_z_and_boundary() -> None:
    """Baseline ±1 ×20 (sd √(40/39)); four trades of −2 by look 1: z = 2 / √(s²_b/40) = 12.49."""
    base = np.array([-1.0, 1.0] * 20)
    signal = pnl_drift(base, np.full(8, -2.0), np.array([4, 8]), TWO, 0.1, 0.0125, 4, 2)
    first = float(boundaries(TWO.t, 1.0 / (1 / 40 + 1 / np.array([4.0, 8.0])), 0.0125)[0])
    sd = math.sqrt(40 / 39)
    assert (signal.id, signal.name, signal.status, signal.threshold, signal.n) == (
        "P4.2.a",
        "PnL drift",
        "breach",
        0.1,
        8,
    )
    assert signal.value == approx(-2.0 / sd)
    assert signal.evidence["tests"]["drop"]["crossed_at_look"] == 1
    assert signal.message == (
        f"BREACH at look 1 of 2 (12.00 h after approval): mean PnL -2.000 vs +0.000 before, a drift of "
        f"{-2 / sd:+.3f} sd over 4 trades (threshold −0.1 sd); z {2 / math.sqrt(sd**2 / 40):.2f} reached the "
        f"boundary {first:.2f} that keeps a no-harm day's chance of any false alarm over the 2 looks at 1.25%"
    )


def test_pnl_drift_short_of_the_threshold_is_no_breach_however_significant() -> None:
    """A drop of 0.0999 sd with z in the hundreds is not the checklist's 0.1 sd; exactly 0.1 sd is."""
    base = np.array([-1.0, 1.0] * 5000)
    sd = float(np.std(base, ddof=1))
    for drop, status in ((0.0999, "ok"), (0.1, "breach")):
        post = np.full(2000, -drop * sd)
        post[::2] -= 1e-3
        post[1::2] += 1e-3  # some spread, the same mean
        assert pnl_drift(base, post, np.array([1000, 2000]), TWO, 0.1, 0.0125, 4, 2).status == status, drop


def test_pnl_drift_so_far_and_too_little_data_messages() -> None:
    so_far = pnl_drift(BASE4, POST4, np.array([2, 4]), HALF, 0.1, 0.0125, 4, 2)
    assert (so_far.id, so_far.name, so_far.status, so_far.threshold, so_far.n) == (
        "P4.2.a",
        "PnL drift",
        "inconclusive",
        0.1,
        4,
    )
    assert so_far.value == approx(-0.5 / math.sqrt(4 / 3))
    assert so_far.message == (
        "INCONCLUSIVE: no harm so far at look 2 of 4 (mean PnL -0.500 vs +0.000 before, a drift of -0.433 sd over "
        "4 trades (threshold −0.1 sd)); OK is said only when the 4 looks are complete"
    )
    short = pnl_drift(BASE4, POST4, np.array([2, 2]), HALF, 0.1, 0.0125, 4, 3)
    assert (short.id, short.name, short.status, short.threshold, short.n) == (
        "P4.2.a",
        "PnL drift",
        "inconclusive",
        0.1,
        2,
    )
    assert short.message == "INCONCLUSIVE: 2 post-apply trades, need 3"
    assert short.evidence["tests"] == {"drop": {"alpha": 0.0125, "z_max": None}}
    assert short.evidence["standard_error_sd"] == approx(0.5)  # √(1/3 + 0/2) / √(4/3)


def test_pnl_drift_at_the_last_look_needs_the_last_look_testable() -> None:
    """Enough trades at look 1, too few by the last look's rule: not OK, even with the window complete."""
    signal = pnl_drift(BASE4, POST4, np.array([3, 3]), TWO, 0.1, 0.0125, 4, 3)
    assert signal.status == "ok"  # look 2 has no new trade but is testable
    one = pnl_drift(BASE4, POST4[:1], np.array([1, 1]), TWO, 0.1, 0.0125, 4, 1)
    assert one.status == "inconclusive"  # one trade has no spread: never testable, even if min_post is 1
    assert one.message == "INCONCLUSIVE: 1 post-apply trades, need 1"
    assert one.evidence["standard_error_sd"] is None
    assert one.evidence["mean_post"] == -1.0


def test_pnl_drift_refuses_a_thin_or_flat_baseline() -> None:
    thin = pnl_drift(BASE4[:3], POST4, np.array([2, 4]), TWO, 0.1, 0.0125, 4, 2)
    assert (thin.id, thin.name, thin.status, thin.threshold, thin.n, thin.value) == (
        "P4.2.a",
        "PnL drift",
        "inconclusive",
        0.1,
        4,
        None,
    )
    assert thin.message == "INCONCLUSIVE: 3 baseline trades, need 4"
    assert pnl_drift(BASE4, POST4, np.array([2, 4]), TWO, 0.1, 0.0125, 4, 2).status == "ok"  # exactly enough
    flat = pnl_drift(np.ones(4), POST4, np.array([2, 4]), TWO, 0.1, 0.0125, 4, 2)
    assert flat.message == "INCONCLUSIVE: the baseline PnL has no spread to measure drift in"
    assert (flat.id, flat.name, flat.status, flat.threshold, flat.n, flat.value) == (
        "P4.2.a",
        "PnL drift",
        "inconclusive",
        0.1,
        4,
        None,
    )
    nan = pnl_drift(np.array([1.0, np.nan, 2.0, 3.0]), POST4, np.array([2, 4]), TWO, 0.1, 0.0125, 4, 2)
    assert nan.message == "INCONCLUSIVE: the baseline PnL has no spread to measure drift in"
    empty = pnl_drift(BASE4[:1], POST4, np.array([], dtype=np.int64), Looks(np.array([]), 2, 12.0), 0.1, 0.0125, 4, 2)
    assert empty.n == 0


def test_pnl_drift_before_any_trade_has_no_value() -> None:
    signal = pnl_drift(BASE4, POST4, np.array([0, 0]), TWO, 0.1, 0.0125, 4, 2)
    assert (signal.status, signal.value, signal.n) == ("inconclusive", None, 0)
    assert signal.evidence["mean_post"] is None
    assert signal.evidence["standard_error_sd"] is None


# --------------------------------------------------------------------------------------------- P4.2.b


def test_win_rate_ok_with_every_number_by_hand() -> None:
    """Baseline 6 wins of 10 (p = 6.5/11 shrunk); post 4 of 8: −10 points, se √(p(1−p)(1/10 + 1/8))."""
    base = np.array([1.0] * 6 + [-1.0] * 4)
    post = np.array([1.0, -1, 1, -1, 1, -1, -1, 1])
    signal = win_rate_delta(base, post, np.array([4, 8]), TWO, 0.05, 0.0125, 10, 4, recent=3)
    p = 6.5 / 11
    se = math.sqrt(p * (1 - p) * (1 / 10 + 1 / 8))
    bound = two_sample_bound(10, [4, 8], 0.0125)
    assert (signal.id, signal.name, signal.status, signal.n, signal.threshold) == (
        "P4.2.b",
        "win-rate delta",
        "ok",
        8,
        0.05,
    )
    assert signal.value == approx(-0.1)
    assert signal.evidence == {
        "baseline_win_rate": 0.6,
        "n_baseline": 10,
        "post_win_rate": 0.5,
        "standard_error": approx(se),
        "last_3_win_rate": approx(1 / 3),  # −1, −1, +1
        "look": 2,
        "looks": 2,
        "tests": {
            "drop": {
                "alpha": 0.0125,
                "z_max": approx(0.1 / se),  # look 1: 2 of 4 is also 50 %, with a larger error
                "z_now": approx(0.1 / se),
                "boundary_now": approx(bound),
                "detectable_effect": approx((bound + Z_POWER) * se),
            }
        },
    }
    assert signal.message == (
        "OK: no harm at any of the 2 looks (win rate 50% of 8 trades vs 60% before, -10.0 points (threshold −5)); "
        f"this window would have detected a win-rate drop of {(bound + Z_POWER) * se * 100:.0f} points with 80 % "
        "power — smaller harm is not excluded"
    )


def test_win_rate_breach_message_and_a_zero_pnl_is_not_a_win() -> None:
    base = np.array([1.0] * 40)
    signal = win_rate_delta(base, np.array([0.0, -1.0, 0.0, -1.0]), np.array([2, 4]), TWO, 0.05, 0.0125, 10, 2)
    p = 40.5 / 41
    z1 = 1.0 / math.sqrt(p * (1 - p) * (1 / 40 + 1 / 2))
    first = float(boundaries(TWO.t, 1.0 / (1 / 40 + 1 / np.array([2.0, 4.0])), 0.0125)[0])
    assert signal.status == "breach"
    assert signal.value == -1.0
    assert signal.message == (
        "BREACH at look 1 of 2 (12.00 h after approval): win rate 0% of 2 trades vs 100% before, -100.0 points "
        f"(threshold −5); z {z1:.2f} reached the boundary {first:.2f} that keeps a no-harm day's chance of any "
        "false alarm over the 2 looks at 1.25%"
    )
    assert signal.evidence["last_20_win_rate"] == 0.0


def test_win_rate_drop_of_exactly_the_threshold_breaches_and_less_does_not() -> None:
    """50 % before; 45 % of 40,000 after is exactly −5 points (z ≈ 8.9); one more win is 4.9975 points."""
    base = np.array([1.0] * 5000 + [-1.0] * 5000)
    exactly = np.array([1.0] * 18000 + [-1.0] * 22000)
    less = exactly.copy()
    less[-1] = 1.0
    counts = np.array([40000, 40000])
    signal = win_rate_delta(base, exactly, counts, TWO, 0.05, 0.0125, 10, 2)
    assert signal.evidence["post_win_rate"] == 0.45
    assert signal.status == "breach"
    assert win_rate_delta(base, less, counts, TWO, 0.05, 0.0125, 10, 2).status == "ok"


def test_win_rate_needs_its_minimum_of_trades_at_the_look() -> None:
    base = np.array([1.0] * 6 + [-1.0] * 4)
    post = np.array([-1.0] * 8)
    short = win_rate_delta(base, post, np.array([3, 3]), TWO, 0.05, 0.0125, 10, 4)
    assert short.message == "INCONCLUSIVE: 3 post-apply trades, need 4"
    assert short.value == approx(-0.6)
    thin = win_rate_delta(base[:9], post, np.array([3, 3]), TWO, 0.05, 0.0125, 10, 4)
    assert (thin.id, thin.name, thin.status, thin.threshold, thin.value, thin.n) == (
        "P4.2.b",
        "win-rate delta",
        "inconclusive",
        0.05,
        None,
        3,
    )
    assert thin.message == "INCONCLUSIVE: 9 baseline trades, need 10"
    none = win_rate_delta(base, post, np.array([0, 0]), TWO, 0.05, 0.0125, 10, 4)
    assert none.value is None
    assert none.evidence["post_win_rate"] is None
    assert none.evidence["standard_error"] is None
    assert none.evidence["last_20_win_rate"] is None


# --------------------------------------------------------------------------------------------- P4.2.c


def test_hold_rate_ok_with_every_number_by_hand() -> None:
    """4 HOLDs of 20 decisions in 10 h before; 12 of 30 over the day after: +25 % per hour, +100 % share."""
    signal = hold_rate(4, 20, 10.0, np.array([3, 12]), np.array([10, 30]), TWO, 0.5, 0.02, 5, 1.0)
    pooled_rate = 16.5 / 34
    se_rate = math.sqrt(pooled_rate * (1 / 10 + 1 / 24))
    pooled = 16.5 / 51
    se_share = math.sqrt(pooled * (1 - pooled) * (1 / 20 + 1 / 30))
    b_rate = float(boundaries(TWO.t, 1 / (1 / 10 + 1 / np.array([12.0, 24.0])), 0.01)[-1])
    b_share = float(boundaries(TWO.t, 1 / (1 / 20 + 1 / np.array([10.0, 30.0])), 0.01)[-1])
    z1_share = (0.3 - 0.2) / math.sqrt(7.5 / 31 * (1 - 7.5 / 31) * (1 / 20 + 1 / 10))
    assert (signal.id, signal.name, signal.status, signal.n, signal.value, signal.threshold) == (
        "P4.2.c",
        "HOLD rate",
        "ok",
        30,
        1.0,
        0.5,
    )
    assert signal.evidence == {
        "baseline_holds": 4,
        "baseline_decisions": 20,
        "baseline_hours": 10.0,
        "post_holds": 12,
        "post_decisions": 30,
        "post_hours": 24.0,
        "increase_per_hour": approx(0.25),
        "increase_share": approx(1.0),
        "look": 2,
        "looks": 2,
        "tests": {
            "per_hour": {
                "alpha": 0.01,
                "z_max": approx(0.1 / se_rate),  # look 1: 3 in 12 h is 0.25/h, below the 0.4/h before
                "z_now": approx(0.1 / se_rate),
                "boundary_now": approx(b_rate),
                "detectable_effect": approx((b_rate + Z_POWER) * se_rate / 0.4),
            },
            "share": {
                "alpha": 0.01,
                "z_max": approx(max(0.2 / se_share, z1_share)),
                "z_now": approx(0.2 / se_share),
                "boundary_now": approx(b_share),
                "detectable_effect": approx((b_share + Z_POWER) * se_share / 0.2),
            },
        },
    }
    assert signal.message == (
        "OK: no harm at any of the 2 looks (HOLD 0.50/h vs 0.40/h before (+25%), share 40% vs 20% (+100%); breach "
        f"above +50%); this window would have detected HOLDs per hour up {(b_rate + Z_POWER) * se_rate / 0.4:.0%}, "
        f"HOLDs as a share up {(b_share + Z_POWER) * se_share / 0.2:.0%} with 80 % power — smaller harm is not "
        "excluded"
    )


def test_holds_from_none_before_breach_and_say_so() -> None:
    signal = hold_rate(0, 20, 10.0, np.array([3, 12]), np.array([10, 30]), TWO, 0.5, 0.02, 5, 1.0)
    pooled = 12.5 / 51
    z_share = 0.4 / math.sqrt(pooled * (1 - pooled) * (1 / 20 + 1 / 30))
    b_share = float(boundaries(TWO.t, 1 / (1 / 20 + 1 / np.array([10.0, 30.0])), 0.01)[-1])
    assert (signal.status, signal.value) == ("breach", None)
    assert signal.evidence["increase_per_hour"] is None
    assert signal.evidence["increase_share"] is None
    assert signal.evidence["tests"]["share"]["crossed_at_look"] == 2
    assert "crossed_at_look" not in signal.evidence["tests"]["per_hour"]
    assert signal.message == (
        "BREACH at look 2 of 2 (24.00 h after approval): HOLD 0.50/h vs 0.00/h before (from none), share 40% vs "
        f"0% (from none); breach above +50%; z {z_share:.2f} reached the boundary {b_share:.2f} that keeps a no-harm "
        "day's chance of any false alarm over the 2 looks at 1.00%"
    )


def test_no_holds_before_or_after_is_no_rise() -> None:
    signal = hold_rate(0, 20, 10.0, np.array([0, 0]), np.array([10, 30]), TWO, 0.5, 0.02, 5, 1.0)
    assert signal.status == "ok"
    assert signal.value == 0.0
    assert (signal.evidence["increase_per_hour"], signal.evidence["increase_share"]) == (0.0, 0.0)
    assert "before (+0%), share 0% vs 0% (+0%);" in signal.message


def test_a_rise_of_exactly_the_threshold_is_not_harm() -> None:
    """The checklist says "more than 50 %": +50 % exactly is not a breach, a little more is."""
    for holds, status in ((600, "ok"), (601, "breach")):
        signal = hold_rate(
            400, 4000, 10.0, np.array([holds, holds * 2]), np.array([4000, 8000]), TWO, 0.5, 0.02, 5, 1.0
        )
        # per hour: 400 in 10 h = 40/h; 600 in 12 h = 50/h (+25 %); share 600/4000 = 15 % vs 10 % (+50 %)
        assert signal.status == status, holds


def test_hold_rate_needs_decisions_time_and_a_baseline() -> None:
    thin = hold_rate(1, 4, 10.0, np.array([3, 12]), np.array([10, 30]), TWO, 0.5, 0.02, 5, 1.0)
    assert (thin.id, thin.name, thin.status, thin.threshold, thin.n, thin.value) == (
        "P4.2.c",
        "HOLD rate",
        "inconclusive",
        0.5,
        30,
        None,
    )
    assert thin.message == "INCONCLUSIVE: 4 baseline decisions, need 5"
    assert hold_rate(1, 5, 10.0, np.array([3, 12]), np.array([10, 30]), TWO, 0.5, 0.02, 5, 1.0).status == "ok"
    no_time = hold_rate(1, 5, 0.0, np.array([3, 12]), np.array([10, 30]), TWO, 0.5, 0.02, 5, 1.0)
    assert no_time.message == "INCONCLUSIVE: the journal read holds no time before approval"
    assert (no_time.id, no_time.name, no_time.status, no_time.threshold, no_time.n, no_time.value) == (
        "P4.2.c",
        "HOLD rate",
        "inconclusive",
        0.5,
        30,
        None,
    )
    # half an hour of journal before approval is little, but it is time: judged
    assert hold_rate(1, 5, 0.5, np.array([3, 12]), np.array([10, 30]), TWO, 0.5, 0.02, 5, 1.0).status == "ok"
    few = hold_rate(4, 20, 10.0, np.array([3, 3]), np.array([4, 4]), TWO, 0.5, 0.02, 5, 1.0)
    assert few.message == "INCONCLUSIVE: 4 post-apply decisions over 24.00 h, need 5 over 1 h"
    assert few.evidence["post_holds"] == 3
    # exactly the minimum time after approval is enough; a look before it is not tested
    quick = Looks(np.array([1 / 24]), 24, 1.0)
    assert (
        hold_rate(4, 20, 10.0, np.array([3]), np.array([10]), quick, 0.5, 0.02, 5, 1.0)
        .evidence["tests"]["share"]
        .get("z_now")
        is not None
    )
    late = hold_rate(4, 20, 10.0, np.array([3]), np.array([10]), quick, 0.5, 0.02, 5, 1.5)
    assert late.message == "INCONCLUSIVE: 10 post-apply decisions over 1.00 h, need 5 over 1.5 h"
    empty = hold_rate(
        4,
        20,
        10.0,
        np.array([], dtype=np.int64),
        np.array([], dtype=np.int64),
        Looks(np.array([]), 2, 12.0),
        0.5,
        0.02,
        5,
        1.0,
    )
    assert (empty.n, empty.value) == (0, None)
    assert empty.evidence["post_hours"] == 0.0
    assert empty.evidence["post_holds"] == 0
    assert empty.message == "INCONCLUSIVE: 0 post-apply decisions over 0.00 h, need 5 over 1 h"


# --------------------------------------------------------------------------------------------- P4.2.d

CONF = np.array([0.6, 0.7, 0.96, 0.4, 0.8, 0.9, 0.55, 0.6])


def test_confidence_distribution_ok_with_every_number_by_hand() -> None:
    """1 of 8 above 0.95 and 1 below 0.5: 12.5 % each against 5 %, se √(0.05·0.95/8)."""
    signal = confidence_distribution(CONF, np.array([4, 8]), TWO, 0.5, 0.95, 0.005, 4)
    se = math.sqrt(0.05 * 0.95 / 8)
    bound = float(boundaries(TWO.t, np.array([4.0, 8.0]) / 0.0475, 0.0025)[-1])
    z1 = 0.20 / math.sqrt(0.0475 / 4)  # look 1: 1 of 4 above, 1 of 4 below
    detect = 0.05 + (bound + Z_POWER) * se
    assert (signal.id, signal.name, signal.status, signal.n, signal.threshold) == (
        "P4.2.d",
        "confidence distribution",
        "ok",
        8,
        0.95,
    )
    assert signal.value == approx(CONF.mean())
    assert signal.evidence == {
        "low": 0.5,
        "high": 0.95,
        "share_above": 0.125,
        "share_below": 0.125,
        "mean": approx(CONF.mean()),
        "p5": approx(0.4525),  # 0.4 + 0.35 × (0.55 − 0.4)
        "p95": approx(0.939),  # 0.9 + 0.65 × (0.96 − 0.9)
        "min": 0.4,
        "max": 0.96,
        "look": 2,
        "looks": 2,
        "tests": {
            kind: {
                "alpha": 0.0025,
                "z_max": approx(z1),
                "z_now": approx(0.075 / se),
                "boundary_now": approx(bound),
                "detectable_effect": approx(detect),
            }
            for kind in ("above", "below")
        },
    }
    assert signal.message == (
        "OK: no harm at any of the 2 looks (12.5% of 8 acted-on confidences above 0.95, 12.5% below 0.5 (at most 5% "
        f"each)); this window would have detected {detect:.0%} of confidences above the range, {detect:.0%} of "
        "confidences below the range with 80 % power — smaller harm is not excluded"
    )


def test_confidences_at_the_range_ends_are_inside_it() -> None:
    ends = np.array([0.5, 0.95] * 20)
    signal = confidence_distribution(ends, np.array([20, 40]), TWO, 0.5, 0.95, 0.005, 4)
    assert (signal.evidence["share_above"], signal.evidence["share_below"]) == (0.0, 0.0)
    assert signal.status == "ok"


def test_every_confidence_above_the_range_breaches_at_the_first_look() -> None:
    signal = confidence_distribution(np.full(40, 0.97), np.array([20, 40]), TWO, 0.5, 0.95, 0.005, 4)
    z1 = 0.95 / math.sqrt(0.0475 / 20)
    b1 = float(boundaries(TWO.t, np.array([20.0, 40.0]) / 0.0475, 0.0025)[0])
    assert signal.status == "breach"
    assert signal.evidence["tests"]["above"]["crossed_at_look"] == 1
    assert "crossed_at_look" not in signal.evidence["tests"]["below"]
    assert signal.message == (
        "BREACH at look 1 of 2 (12.00 h after approval): 100.0% of 20 acted-on confidences above 0.95, 0.0% below "
        f"0.5 (at most 5% each); z {z1:.2f} reached the boundary {b1:.2f} that keeps a no-harm day's chance of any "
        "false alarm over the 2 looks at 0.25%"
    )
    below = confidence_distribution(np.full(40, 0.3), np.array([20, 40]), TWO, 0.5, 0.95, 0.005, 4)
    assert below.evidence["tests"]["below"]["crossed_at_look"] == 1


def test_a_share_of_exactly_five_percent_beyond_is_allowed() -> None:
    """ "p95 within the range": 5 % beyond an end is allowed, however many confidences there are."""
    at_five = np.array([0.97] * 100 + [0.7] * 1900)
    assert (
        confidence_distribution(at_five, np.array([1000, 2000]), TWO, 0.5, 0.95, 0.2, 4).evidence["tests"]["above"][
            "z_now"
        ]
        == 0.0
    )
    assert confidence_distribution(at_five, np.array([2000, 2000]), TWO, 0.5, 0.95, 0.2, 4).status == "ok"


def test_confidence_distribution_needs_its_minimum() -> None:
    short = confidence_distribution(CONF, np.array([3, 3]), TWO, 0.5, 0.95, 0.005, 4)
    assert short.message == "INCONCLUSIVE: 3 post-apply confidences, need 4"
    assert short.value == approx(CONF[:3].mean())
    assert short.evidence["max"] == 0.96
    none = confidence_distribution(CONF, np.array([0, 0]), TWO, 0.5, 0.95, 0.005, 4)
    assert none.value is None
    assert [none.evidence[k] for k in ("share_above", "share_below", "mean", "p5", "p95", "min", "max")] == [None] * 7


# --------------------------------------------------------------------------------------------- calibration

PRED = np.array([0.6, 0.5, 0.8, 0.7])
WINS = np.array([1.0, 0.0, 1.0, 0.0])


def test_calibration_ok_with_every_number_by_hand() -> None:
    """Predicted 0.6, 0.5, 0.8, 0.7; won, lost, won, lost: Σ(win − p) = −0.6, Σp(1−p) = 0.86."""
    signal = calibration(PRED, WINS, np.array([2, 4]), TWO, 0.05, 0.01, 2, 0.21)
    bound = float(boundaries(TWO.t, np.array([0.49, 0.86]), 0.01)[-1])
    se = math.sqrt(0.86) / 4
    assert (signal.id, signal.name, signal.status, signal.n, signal.threshold) == (
        "P4.2.cal",
        "calibration vs proposal",
        "ok",
        4,
        0.05,
    )
    assert signal.value == approx(-0.15)
    assert signal.evidence == {
        "mean_predicted": approx(0.65),
        "win_rate": 0.5,
        "gap": approx(-0.15),
        "brier_post": approx(0.235),  # (0.16 + 0.25 + 0.04 + 0.49) / 4
        "brier_predicted": 0.21,
        "look": 2,
        "looks": 2,
        "tests": {
            "overstates": {
                "alpha": 0.01,
                "z_max": approx(0.6 / math.sqrt(0.86)),  # look 1: 0.1 / √0.49
                "z_now": approx(0.6 / math.sqrt(0.86)),
                "boundary_now": approx(bound),
                "detectable_effect": approx((bound + Z_POWER) * se),
            }
        },
    }
    assert signal.message == (
        "OK: no harm at any of the 2 looks (trades won -15.0 points vs the map's prediction over 4 trades "
        f"(threshold −5)); this window would have detected a map overstating its trades by "
        f"{(bound + Z_POWER) * se * 100:.0f} points with 80 % power — smaller harm is not excluded"
    )


def test_a_map_that_overstates_breaches_and_says_by_how_much() -> None:
    pred = np.full(40, 0.9)
    wins = np.zeros(40)
    signal = calibration(pred, wins, np.array([20, 40]), TWO, 0.05, 0.01, 2, None)
    z1 = 18.0 / math.sqrt(20 * 0.09)
    b1 = float(boundaries(TWO.t, np.array([1.8, 3.6]), 0.01)[0])
    assert signal.status == "breach"
    assert signal.value == approx(-0.9)
    assert signal.evidence["brier_predicted"] is None
    assert signal.message == (
        "BREACH at look 1 of 2 (12.00 h after approval): trades won -90.0 points vs the map's prediction over 20 "
        f"trades (threshold −5); z {z1:.2f} reached the boundary {b1:.2f} that keeps a no-harm day's chance of any "
        "false alarm over the 2 looks at 1.00%"
    )


def test_a_map_that_understates_never_breaches() -> None:
    signal = calibration(np.full(40, 0.1), np.ones(40), np.array([20, 40]), TWO, 0.05, 0.01, 2, None)
    assert signal.status == "ok"
    assert signal.value == approx(0.9)


def test_calibration_needs_trades_and_spread_in_the_prediction() -> None:
    short = calibration(PRED, WINS, np.array([1, 1]), TWO, 0.05, 0.01, 2, None)
    assert short.message == "INCONCLUSIVE: 1 post-apply trades with a confidence, need 2"
    assert short.value == approx(0.4)  # the first trade: predicted 0.6, won
    certain = calibration(np.ones(4), np.zeros(4), np.array([2, 4]), TWO, 0.05, 0.01, 2, None)
    assert certain.status == "inconclusive"  # p = 1 has no variance: z is not defined, whatever happened
    none = calibration(PRED, WINS, np.array([0, 0]), TWO, 0.05, 0.01, 2, None)
    assert none.value is None
    assert [none.evidence[k] for k in ("mean_predicted", "win_rate", "gap", "brier_post")] == [None] * 4


def test_a_rise_per_hour_of_exactly_the_threshold_is_not_harm() -> None:
    """40 HOLDs an hour before; exactly 60 an hour after is +50 %, not more; 721 in 12 h is."""
    for holds, status in ((720, "ok"), (721, "breach")):
        signal = hold_rate(
            400, 4000, 10.0, np.array([holds, holds * 2]), np.array([14400, 28800]), TWO, 0.5, 0.02, 5, 1.0
        )
        assert signal.evidence["tests"]["share"]["z_now"] < 0  # the share fell: only the rate is judged here
        assert signal.status == status, holds
        assert signal.evidence["increase_per_hour"] == approx(holds / 12 / 40 - 1)


def test_exactly_the_minimum_of_decisions_is_enough() -> None:
    signal = hold_rate(4, 20, 10.0, np.array([2, 2]), np.array([5, 5]), TWO, 0.5, 0.02, 5, 1.0)
    assert signal.evidence["tests"]["share"]["z_now"] is not None
    assert signal.status == "ok"


def test_a_detectable_effect_is_never_quoted_below_the_checklists_threshold() -> None:
    """So much data that the test could see +5 %: the evidence still says +50 %, the smallest harm judged."""
    signal = hold_rate(
        40_000, 400_000, 10.0, np.array([48_000, 96_000]), np.array([480_000, 960_000]), TWO, 0.5, 0.02, 5, 1.0
    )
    assert signal.status == "ok"
    assert signal.evidence["tests"]["per_hour"]["detectable_effect"] == 0.5
    assert signal.evidence["tests"]["share"]["detectable_effect"] == 0.5
    base = np.array([-1.0, 1.0] * 5000)
    drift = pnl_drift(base, np.array([-1.0, 1.0] * 5000), np.array([5000, 10000]), TWO, 0.1, 0.0125, 4, 2)
    assert drift.evidence["tests"]["drop"]["detectable_effect"] == 0.1
    rate = win_rate_delta(base, np.array([-1.0, 1.0] * 50000), np.array([50000, 100000]), TWO, 0.05, 0.0125, 4, 2)
    assert rate.evidence["tests"]["drop"]["detectable_effect"] == 0.05
    cal = calibration(
        np.full(100000, 0.5), np.array([0.0, 1.0] * 50000), np.array([50000, 100000]), TWO, 0.05, 0.01, 2, None
    )
    assert cal.evidence["tests"]["overstates"]["detectable_effect"] == 0.05


def test_no_signal_prints_a_numpy_warning_on_empty_looks() -> None:
    """Looks with no trade or decision divide 0 by 0; that is NaN by design, never a warning on the console."""
    import warnings

    zero = np.array([0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pnl_drift(BASE4, POST4, zero, TWO, 0.1, 0.0125, 4, 2)
        pnl_drift(BASE4, POST4, np.array([1, 1]), TWO, 0.1, 0.0125, 4, 2)
        win_rate_delta(BASE4, POST4, zero, TWO, 0.05, 0.0125, 4, 2)
        hold_rate(4, 20, 10.0, zero, zero, TWO, 0.5, 0.02, 5, 1.0)
        hold_rate(0, 20, 10.0, np.array([0, 3]), np.array([0, 6]), TWO, 0.5, 0.02, 5, 1.0)
        confidence_distribution(CONF, zero, TWO, 0.5, 0.95, 0.005, 4)
        calibration(PRED, WINS, zero, TWO, 0.05, 0.01, 2, None)
        calibration(np.ones(4), np.zeros(4), np.array([2, 4]), TWO, 0.05, 0.01, 2, None)  # −2 / √0


def test_one_decision_is_one_decision_of_information() -> None:
    """With ``min_decisions`` 1 a look of one decision is tested; its information is 1 / (1/20 + 1/1)."""
    signal = hold_rate(4, 20, 10.0, np.array([1, 5]), np.array([1, 10]), TWO, 0.5, 0.02, 1, 1.0)
    info = 1.0 / (1.0 / 20 + 1.0 / np.array([1.0, 10.0]))
    assert signal.evidence["tests"]["share"]["boundary_now"] == approx(float(boundaries(TWO.t, info, 0.01)[-1]))


def test_before_the_first_look_every_signal_has_seen_nothing() -> None:
    """``judge`` run in the first 15 minutes: no look yet, so no count at all (not a count of zero)."""
    none = np.array([], dtype=np.int64)
    looks = Looks(np.array([]), 2, 12.0)
    signals = [
        pnl_drift(BASE4, POST4, none, looks, 0.1, 0.0125, 4, 2),
        win_rate_delta(BASE4, POST4, none, looks, 0.05, 0.0125, 4, 2),
        hold_rate(4, 20, 10.0, none, none, looks, 0.5, 0.02, 5, 1.0),
        confidence_distribution(CONF, none, looks, 0.5, 0.95, 0.005, 4),
        calibration(PRED, WINS, none, looks, 0.05, 0.01, 2, None),
    ]
    for signal in signals:
        assert (signal.status, signal.n, signal.value) == ("inconclusive", 0, None), signal.id
        assert signal.evidence["look"] == 0


def test_a_map_overstating_by_exactly_the_threshold_is_harm_and_by_less_is_not() -> None:
    """Predicted 0.55, won half of 40,000: −5 points (z ≈ 20); predicted 0.5499: −4.99 points."""
    wins = np.array([0.0, 1.0] * 20000)
    counts = np.array([20000, 40000])
    exactly = calibration(np.full(40000, 0.55), wins, counts, TWO, 0.05, 0.01, 2, None)
    assert exactly.value == approx(-0.05)
    assert exactly.status == "breach"
    less = calibration(np.full(40000, 0.5499), wins, counts, TWO, 0.05, 0.01, 2, None)
    assert less.evidence["tests"]["overstates"]["z_now"] > 15
    assert less.status == "ok"


def test_calibration_describes_only_the_trades_the_looks_reached() -> None:
    signal = calibration(PRED, WINS, np.array([1, 2]), HALF, 0.05, 0.01, 2, None)
    assert signal.evidence["mean_predicted"] == approx(0.55)
    assert signal.evidence["win_rate"] == 0.5
    assert signal.evidence["brier_post"] == approx((0.16 + 0.25) / 2)


def test_pnl_drift_is_measured_from_the_baselines_own_mean() -> None:
    """The same day shifted up by 1 % everywhere: the same drift, z and verdict."""
    shifted = pnl_drift(BASE4 + 1.0, POST4 + 1.0, np.array([2, 4]), TWO, 0.1, 0.0125, 4, 2)
    assert shifted.value == approx(-0.5 / math.sqrt(4 / 3))
    assert shifted.evidence["mean_baseline"] == 1.0
    assert shifted.evidence["mean_post"] == 0.5
    assert shifted.evidence["tests"]["drop"]["z_now"] == approx(0.5 / math.sqrt(1 / 3 + 1 / 4))
    assert "mean PnL +0.500 vs +1.000 before, a drift of -0.433 sd over 4 trades" in shifted.message


def test_one_confidence_is_one_confidence_of_information() -> None:
    """With a minimum of 1 a look of one acted-on confidence is tested; its information is 1 / (0.05 · 0.95)."""
    signal = confidence_distribution(CONF, np.array([1, 8]), TWO, 0.5, 0.95, 0.005, 1)
    info = np.array([1.0, 8.0]) / 0.0475
    assert signal.evidence["tests"]["above"]["boundary_now"] == approx(float(boundaries(TWO.t, info, 0.0025)[-1]))


def test_a_baseline_trade_that_broke_even_is_not_a_win() -> None:
    signal = win_rate_delta(np.array([0.0, 1.0, -1.0, 1.0]), POST4, np.array([2, 4]), TWO, 0.05, 0.0125, 4, 2)
    assert signal.evidence["baseline_win_rate"] == 0.5
    assert signal.value == approx(-0.25)


def test_one_trade_is_one_trade_of_information() -> None:
    """Called with a minimum of 1 (the config's floor is 2), a look of one trade has information 1/(1/10 + 1)."""
    base = np.array([1.0] * 6 + [-1.0] * 4)
    signal = win_rate_delta(base, np.array([-1.0] * 8), np.array([1, 8]), TWO, 0.05, 0.0125, 10, 1)
    info = 1.0 / (1.0 / 10 + 1.0 / np.array([1.0, 8.0]))
    assert signal.evidence["tests"]["drop"]["boundary_now"] == approx(float(boundaries(TWO.t, info, 0.0125)[-1]))


def test_without_detail_the_detectable_effect_is_quoted_at_the_smallest_boundary() -> None:
    """No boundary worked out (nothing came near): the effect is quoted at z_{1−α}, the least any look needs."""
    signal = pnl_drift(BASE4, POST4, np.array([2, 4]), TWO, 0.1, 0.0125, 4, 2, detail=False)
    se_sd = math.sqrt(1 / 3 + 1 / 4) / math.sqrt(4 / 3)
    drop = signal.evidence["tests"]["drop"]
    assert drop["boundary_now"] is None
    assert drop["detectable_effect"] == approx((smallest_boundary(0.0125) + Z_POWER) * se_sd)
    assert signal.status == "ok"
