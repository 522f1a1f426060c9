"""The hard safety bounds: honest on calibrated data, GO on real miscalibration, and able to catch tampering."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from calpolicy.calibrate import Proposal, propose
from calpolicy.calibrate.bounds import check_bounds
from calpolicy.clm.reader import parse_clm_bytes
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.controls import BOUNDS, registered
from unit_tests.calibrate.synth import MODELS, draw, frame_log

CONFIG = Config()
WAIVER = {"by": "test", "why": "a research comparison", "until": "2100-01-01T00:00:00Z"}
SEEDS = 40


def _go_count(n: int, config: Config) -> int:
    go = 0
    for seed in range(SEEDS):
        log = frame_log(draw(n, seed, "calibrated"), sha=f"calibrated-{n}-{seed}")
        go += check_bounds(propose(log, config), config).go
    return go


@pytest.mark.parametrize("n", [50, 200, 1_000, 5_000])
def test_honesty_perfectly_calibrated_model_is_stopped(n: int) -> None:
    """y ~ Bernoulli(c): nothing to fix, so GO in at most 5% of runs (here ≤ 2 of 40 seeds; the 200-seed
    sweep in benchmarks/sweep_calibrate.py is in docs/calibration.md)."""
    assert _go_count(n, CONFIG) <= 2


def test_honesty_holds_even_without_the_minimum_size_rule() -> None:
    """With the 200-trade rule switched off, the held-out statistics alone still stop n = 200: the
    minimum-size rule is a second line of defence, not the only one."""
    assert (
        _go_count(
            200,
            CONFIG.with_overrides(
                {"calibration.min_trades_for_decision": 1, "waivers": {"calibration.min_trades_for_decision": WAIVER}},
                "test",
            ),
        )
        <= 2
    )


def test_strongly_overconfident_model_with_much_data_is_go() -> None:
    """True win rate 0.5 + 0.3·(c − 0.5) at n = 20,000: a real, large miscalibration — GO unless the time
    stability test (one-sided 5 %, so about 1 stationary log in 20) raises a false alarm. Seeds 0–9 are
    fixed; one of them (seed 1) is such an alarm, and a STOP there must name the decline, nothing else."""
    logs = [frame_log(draw(20_000, seed, "overconfident")) for seed in range(10)]
    verdicts = [check_bounds(propose(log, CONFIG), CONFIG) for log in logs]
    assert sum(v.go for v in verdicts) >= 9, [v.to_json() for v in verdicts if not v.go]
    for verdict in verdicts:
        if not verdict.go:
            assert [f.id for f in verdict.failures] == ["P2.2.c"]
            assert "the gain declines across the holdout" in verdict.failures[0].message


@pytest.fixture(scope="module")
def good() -> tuple[Proposal, object]:
    log = frame_log(draw(5_000, 11, "overconfident", MODELS), MODELS)
    proposal = propose(log, CONFIG)
    assert check_bounds(proposal, CONFIG, log).go, check_bounds(proposal, CONFIG, log).to_json()
    return proposal, log


def _with_model(proposal: Proposal, name: str, **changes: object) -> Proposal:
    models = dict(proposal.models)
    models[name] = dataclasses.replace(models[name], **changes)
    return dataclasses.replace(proposal, models=models)


def _status(verdict, control: str, model: str | None = None) -> set[str]:
    return {f.status for f in verdict.by_id(control) if model is None or f.evidence.get("model") == model}


def test_every_bound_reports_per_item(good) -> None:
    proposal, log = good
    verdict = check_bounds(proposal, CONFIG, log)
    assert {f.id for f in verdict.findings} == set(registered(producer=BOUNDS))
    assert len(verdict.by_id("P2.2.a")) == len(verdict.by_id("P2.2.c")) == 1 + len(MODELS)
    assert all(f.evidence["data_points"] > 0 for f in verdict.by_id("P2.2.a"))


def test_a_map_outside_the_band_fails_p22a(good) -> None:
    proposal, _ = good
    result = proposal.models["xgb"]
    y = list(result.y)
    middle = len(y) // 2
    y[middle] = min(1.0, result.x[middle] + 0.2)
    tampered = _with_model(proposal, "xgb", y=tuple(np.maximum.accumulate(y)))
    verdict = check_bounds(tampered, CONFIG)
    assert _status(verdict, "P2.2.a", "xgb") == {"fail"}
    assert _status(verdict, "P2.2.a", "lgbm") == {"pass"}


def test_a_tighter_band_in_the_config_is_enforced_against_an_older_proposal(good) -> None:
    proposal, _ = good
    tight = CONFIG.with_overrides({"calibration.max_confidence_change": 0.05}, "test")
    assert _status(check_bounds(proposal, tight), "P2.2.a") == {"fail"}


@pytest.mark.parametrize(
    ("x", "y", "problem"),
    [
        ((0.0, 0.5), (0.0, 0.5), "not the whole of"),
        ((0.0, 0.6, 0.5, 1.0), (0.0, 0.6, 0.5, 1.0), "not strictly increasing"),
        ((0.0, 0.5, 1.0), (0.1, 0.05, 0.9), "not non-decreasing"),
        ((0.0, 1.0), (0.0, float("nan")), "finite"),
    ],
)
def test_malformed_maps_fail_p22a(good, x, y, problem) -> None:
    proposal, _ = good
    verdict = check_bounds(_with_model(proposal, "nhits", x=x, y=y), CONFIG)
    (finding,) = [f for f in verdict.by_id("P2.2.a") if f.evidence["model"] == "nhits"]
    assert finding.status == "fail"
    assert problem in finding.message


def test_p22b_decides_on_the_lower_bound_and_names_the_rule(good) -> None:
    proposal, _ = good
    verdict = check_bounds(proposal, CONFIG)
    (finding,) = verdict.by_id("P2.2.b")
    assert finding.status == "pass"
    assert finding.evidence["rule"] == "lower_bound"
    assert "rule lower_bound" in finding.message
    # a large point estimate does not help when the lower bound is short of 5%
    weak = _with_model(proposal, "ensemble", improvement=0.2, improvement_lower=0.049)
    assert _status(check_bounds(weak, CONFIG), "P2.2.b") == {"fail"}


def test_the_v1_reading_is_an_explicit_choice_and_says_so(good) -> None:
    proposal, _ = good
    v1 = CONFIG.with_overrides(
        {
            "calibration.improvement_rule": "point_estimate_and_positive_interval",
            "waivers": {"calibration.improvement_rule": WAIVER},
        },
        "test",
    )
    weak_bound = _with_model(proposal, "ensemble", improvement_lower=0.01)
    (finding,) = check_bounds(weak_bound, v1).by_id("P2.2.b")
    assert finding.status == "waived"
    assert "passed only under a waiver" in finding.message
    assert finding.evidence["rule"] == "point_estimate_and_positive_interval"
    assert "engine v1" in finding.message
    weak = _with_model(proposal, "ensemble", improvement=0.049)
    assert _status(check_bounds(weak, v1), "P2.2.b") == {"fail"}
    noisy = _with_model(proposal, "ensemble", interval=(-0.0001, 0.02))
    assert "may be noise" in check_bounds(noisy, v1).by_id("P2.2.b")[0].message


def test_a_model_getting_worse_fails_p22c(good) -> None:
    """P2.2.c judges a shipped map on its lower bound (non-inferiority), not on its point estimate."""
    proposal, _ = good
    assert proposal.models["patchtst"].decision == "fitted"
    worse = _with_model(proposal, "patchtst", improvement_lower=-1e-9)
    verdict = check_bounds(worse, CONFIG)
    assert _status(verdict, "P2.2.c", "patchtst") == {"fail"}
    assert _status(verdict, "P2.2.c", "xgb") == {"pass"}
    assert not verdict.go


def test_a_hidden_subset_or_an_extra_model_fails_p22d(good) -> None:
    proposal, log = good
    models = dict(proposal.models)
    del models["lgbm"]
    subset = dataclasses.replace(proposal, models=models)
    assert "no map for lgbm" in check_bounds(subset, CONFIG).by_id("P2.2.d")[0].message
    extra = dict(proposal.models)
    extra["secret"] = dataclasses.replace(proposal.models["xgb"], name="secret")
    assert _status(check_bounds(dataclasses.replace(proposal, models=extra), CONFIG), "P2.2.d") == {"fail"}
    # a proposal that forgets the data had models is caught when the log is at hand
    forgetful = dataclasses.replace(subset, data_models=("xgb", "nhits", "patchtst"))
    assert _status(check_bounds(forgetful, CONFIG), "P2.2.d") == {"pass"}
    assert _status(check_bounds(forgetful, CONFIG, log), "P2.2.d") == {"fail"}


def test_a_proposal_from_other_bytes_fails_p22d(good) -> None:
    proposal, log = good
    other = dataclasses.replace(proposal, inputs={**proposal.inputs, "sha256": "0" * 64})
    assert "sha256 differs" in check_bounds(other, CONFIG, log).by_id("P2.2.d")[0].message


def test_round_tripped_proposal_gets_the_same_verdict(good) -> None:
    proposal, _ = good
    again = Proposal.from_json(proposal.to_json())
    assert json.loads(check_bounds(again, CONFIG).to_json()) == json.loads(check_bounds(proposal, CONFIG).to_json())


def test_p22b_at_exactly_its_thresholds(good) -> None:
    """Default rule: a lower bound of exactly ``min_improvement`` is enough and a hair below is not. The v1
    reading (waived): an improvement of exactly ``min_improvement`` is enough; an interval whose lower
    bound is exactly 0 is not."""
    proposal, _ = good
    least = CONFIG.calibration.min_improvement
    at = _with_model(proposal, "ensemble", improvement_lower=least)
    assert _status(check_bounds(at, CONFIG), "P2.2.b") == {"pass"}
    (below,) = check_bounds(_with_model(proposal, "ensemble", improvement_lower=least - 1e-9), CONFIG).by_id("P2.2.b")
    assert (below.status, below.message.endswith(": not shown")) == ("fail", True)
    v1 = CONFIG.with_overrides(
        {
            "calibration.improvement_rule": "point_estimate_and_positive_interval",
            "waivers": {"calibration.improvement_rule": WAIVER},
        },
        "test",
    )
    lo, hi = proposal.models["ensemble"].interval
    assert lo > 0
    exactly = _with_model(proposal, "ensemble", improvement=least)
    assert _status(check_bounds(exactly, v1), "P2.2.b") == {"waived"}
    touching = _with_model(proposal, "ensemble", interval=(0.0, hi))
    (finding,) = check_bounds(touching, v1).by_id("P2.2.b")
    assert (finding.status, finding.message.endswith("the interval reaches zero, it may be noise")) == ("fail", True)
    assert _status(check_bounds(_with_model(proposal, "ensemble", interval=(1e-9, hi)), v1), "P2.2.b") == {"waived"}


def test_p22c_a_lower_bound_of_exactly_zero_is_not_worse(good) -> None:
    proposal, _ = good
    assert _status(check_bounds(_with_model(proposal, "xgb", improvement_lower=0.0), CONFIG), "P2.2.c", "xgb") == {
        "pass"
    }


def test_p22_too_little_evidence_stops_b_and_c(good) -> None:
    proposal, _ = good
    small = _with_model(proposal, "ensemble", n_evaluated=CONFIG.calibration.min_trades_for_decision - 1)
    verdict = check_bounds(small, CONFIG)
    assert _status(verdict, "P2.2.b") == {"fail"}
    assert "insufficient evidence" in verdict.by_id("P2.2.b")[0].message
    assert _status(verdict, "P2.2.c", "ensemble") == {"fail"}
    enough = _with_model(proposal, "ensemble", n_evaluated=CONFIG.calibration.min_trades_for_decision)
    assert _status(check_bounds(enough, CONFIG), "P2.2.b") == {"pass"}


def test_p22a_a_move_of_exactly_the_band_passes(good) -> None:
    proposal, _ = good
    band = CONFIG.calibration.max_confidence_change
    shifted = _with_model(proposal, "xgb", x=(0.0, 0.5, 1.0), y=(band, 0.5, 1.0))
    (finding,) = [f for f in check_bounds(shifted, CONFIG).by_id("P2.2.a") if f.evidence["model"] == "xgb"]
    assert (finding.status, finding.evidence["max_change"]) == ("pass", band)
    beyond = _with_model(proposal, "xgb", x=(0.0, 0.5, 1.0), y=(band + 1e-6, 0.5, 1.0))
    assert _status(check_bounds(beyond, CONFIG), "P2.2.a", "xgb") == {"fail"}


@pytest.mark.parametrize(
    ("x", "y", "problem"),
    [
        ((0.0, 1.0), (0.0, 1.2), "the map leaves [0, 1]"),
        ((0.0, 1.0), (-0.1, 1.0), "the map leaves [0, 1]"),
        ((0.0, 0.5, 0.5, 1.0), (0.0, 0.5, 0.5, 1.0), "map knots x are not strictly increasing"),
        ((0.1, 0.5, 0.9), (0.1, 0.5, 0.9), "map covers [0.1, 0.9], not the whole of [0, 1]"),
        ((0.0, 0.5, 1.0), (0.2, 0.1, 1.0), "the map is not non-decreasing (a higher confidence would map lower)"),
        ((0.0,), (0.0,), "the map is not a finite list of at least two (x, y) knots"),
        ((0.0, 0.5, 1.0), (0.0, 1.0), "the map is not a finite list of at least two (x, y) knots"),
        ((0.0, None, 1.0), (0.0, 0.5, 1.0), "the map is not a finite list of at least two (x, y) knots"),
        ((0.0, 0.5, 1.0), (0.0, None, 1.0), "the map is not a finite list of at least two (x, y) knots"),
    ],
)
def test_each_malformed_map_is_named_exactly(good, x, y, problem) -> None:
    proposal, _ = good
    verdict = check_bounds(_with_model(proposal, "xgb", x=x, y=y), CONFIG)
    (finding,) = [f for f in verdict.by_id("P2.2.a") if f.evidence["model"] == "xgb"]
    assert (finding.status, finding.message) == ("fail", f"xgb: {problem}")
    assert finding.evidence == {"model": "xgb", "band": 0.15, "knots": len(x)}


def test_a_log_whose_data_points_cannot_be_read_is_could_not_check_for_p22a(good) -> None:
    proposal, _ = good
    broken = parse_clm_bytes(b"not json\n", "broken.jsonl")
    errors = [f for f in check_bounds(proposal, CONFIG, broken).by_id("P2.2.a") if f.status == "error"]
    assert [(f.message, f.evidence) for f in errors] == [(
        "could not read the data points to check the band at: "
        "the CLM log has 1 unparseable line(s); run the data gate", {},
    )]  # fmt: skip


def test_the_reviewer_sees_each_bounds_number_under_its_own_name(good) -> None:
    """The evidence of P2.2.b–d carries the figures the decision used, named as the report names them."""
    proposal, log = good
    verdict = check_bounds(proposal, CONFIG, log)
    ens = proposal.models["ensemble"]
    (b,) = verdict.by_id("P2.2.b")
    assert {k: b.evidence[k] for k in ("model", "n_evaluated", "brier_before", "brier_after", "improvement",
                                       "improvement_lower", "rule", "min_improvement")} == {
        "model": "ensemble", "n_evaluated": ens.n_evaluated, "brier_before": ens.brier_before,
        "brier_after": ens.brier_after, "improvement": ens.improvement, "improvement_lower": ens.improvement_lower,
        "rule": "lower_bound", "min_improvement": 0.05,
    }  # fmt: skip
    assert b.message.startswith(
        f"held-out Brier {ens.brier_before:.4f} → {ens.brier_after:.4f} on the latest {ens.n_evaluated} trades "
        f"({ens.improvement:+.1%}, one-sided 95% lower bound {ens.improvement_lower:+.1%})"
    )
    c = next(f for f in verdict.by_id("P2.2.c") if f.evidence["model"] == "xgb")
    xgb = proposal.models["xgb"]
    assert c.evidence == {
        "model": "xgb", "decision": "fitted", "n_evaluated": xgb.n_evaluated, "brier_before": xgb.brier_before,
        "brier_after": xgb.brier_after, "improvement_lower": xgb.improvement_lower, "max_degradation": 0.0,
        "symbols": [],
    }  # fmt: skip
    assert c.message == (
        f"xgb: held-out Brier {xgb.brier_before:.4f} → {xgb.brier_after:.4f}, one-sided lower bound of the gain "
        f"{xgb.improvement_lower:+.1%}: not worse, at the present (no decline across the holdout, newest block "
        "not worse)"
    )
    (d,) = verdict.by_id("P2.2.d")
    names = sorted(proposal.models)
    assert (d.message, d.evidence) == (
        f"all {len(names)} models covered: {', '.join(names)}",
        {"expected": names, "proposed": names, "identity": []},
    )  # fmt: skip


def test_failing_bounds_say_why_in_full(good) -> None:
    proposal, log = good
    weak = check_bounds(_with_model(proposal, "ensemble", improvement_lower=0.01), CONFIG).by_id("P2.2.b")[0]
    assert weak.message.endswith(": not shown")
    assert weak.evidence["improvement_lower"] == 0.01
    unknown = _with_model(proposal, "ensemble", status="insufficient", reason=None)
    assert check_bounds(unknown, CONFIG).by_id("P2.2.b")[0].message == (
        "insufficient evidence — STOP: the evidence could not be computed"
    )
    no_brier = _with_model(proposal, "ensemble", brier_after=None)
    assert check_bounds(no_brier, CONFIG).by_id("P2.2.b")[0].message == (
        "insufficient evidence — STOP: the held-out Brier scores could not be computed"
    )
    models = {k: v for k, v in proposal.models.items() if k != "ensemble"}
    alone = check_bounds(dataclasses.replace(proposal, models=models), CONFIG).by_id("P2.2.b")[0]
    assert (alone.status, alone.message) == ("fail", "the proposal has no ensemble result to judge")
    extra = {**proposal.models, "a": proposal.models["xgb"], "b": proposal.models["xgb"]}
    other = dataclasses.replace(proposal, models=extra, inputs={**proposal.inputs, "sha256": "0" * 64})
    d = check_bounds(other, CONFIG, log).by_id("P2.2.d")[0]
    assert d.message == (
        "maps for models not in the data: a, b; the proposal was not made from this CLM file (sha256 differs)"
        " — all models or none"
    )
    assert d.evidence["sha256"] == {"proposal": "0" * 64, "log": log.sha256}


def _p22b(proposal: Proposal, config: Config = CONFIG):
    (finding,) = check_bounds(proposal, config).by_id("P2.2.b")
    return finding


def test_p22b_says_every_figure_and_the_rule_word_for_word(good) -> None:
    """The sentence and the evidence the reviewer signs off, on each of P2.2.b's paths."""
    proposal, _ = good
    ens = proposal.models["ensemble"]
    head = (
        f"held-out Brier {ens.brier_before:.4f} → {ens.brier_after:.4f} on the latest {ens.n_evaluated} trades "
        f"({ens.improvement:+.1%}"
    )
    rule = "rule lower_bound: the one-sided 95% lower bound of the improvement must reach 5%"
    passed = _p22b(proposal)
    assert passed.message == f"{head}, one-sided 95% lower bound {ens.improvement_lower:+.1%}); {rule}"
    assert passed.evidence == {
        "model": "ensemble", "rule": "lower_bound", "confidence_level": 0.95, "n_evaluated": ens.n_evaluated,
        "brier_before": ens.brier_before, "brier_after": ens.brier_after, "improvement": ens.improvement,
        "improvement_lower": ens.improvement_lower, "improvement_interval": list(ens.improvement_interval),
        "interval": list(ens.interval), "min_improvement": 0.05,
    }  # fmt: skip
    short = _with_model(proposal, "ensemble", status="insufficient", reason="only 12 held-out trades")
    insufficient = _p22b(short)
    assert insufficient.message == "insufficient evidence — STOP: only 12 held-out trades"
    assert insufficient.evidence["n_evaluated"] == ens.n_evaluated
    v1 = CONFIG.with_overrides(
        {"calibration.improvement_rule": "point_estimate_and_positive_interval",
         "waivers": {"calibration.improvement_rule": WAIVER}}, "test",
    )  # fmt: skip
    v1_rule = (
        "rule point_estimate_and_positive_interval (engine v1, chosen in the config): the point estimate must "
        "reach 5% and the 95% interval of the per-trade gain must lie above 0"
    )
    lo, hi = ens.interval
    below = _p22b(_with_model(proposal, "ensemble", improvement=0.049), v1)
    assert below.message == (
        f"held-out Brier {ens.brier_before:.4f} → {ens.brier_after:.4f} on the latest {ens.n_evaluated} trades "
        f"(+4.9%; 95% interval of the per-trade gain {lo:+.5f} … {hi:+.5f}); {v1_rule}: below the required 5%"
    )
    assert below.evidence["rule"] == "point_estimate_and_positive_interval"
    noisy = _p22b(_with_model(proposal, "ensemble", interval=(0.0, 0.02)), v1)
    assert noisy.message == (
        f"{head}; 95% interval of the per-trade gain +0.00000 … +0.02000); {v1_rule}: the interval reaches zero, "
        "it may be noise"
    )
    assert noisy.evidence["interval"] == [0.0, 0.02]


def test_p22a_names_the_worst_move_and_where_it_is(good) -> None:
    proposal, log = good
    xgb = proposal.models["xgb"]
    (passed,) = [f for f in check_bounds(proposal, CONFIG, log).by_id("P2.2.a") if f.evidence["model"] == "xgb"]
    change = passed.evidence["max_change"]
    assert passed.message == f"xgb: every confidence in [0, 1] moves by at most {change:.4f} (±0.15)"
    assert set(passed.evidence) == {"model", "band", "knots", "data_points", "max_change", "at_confidence"}
    assert passed.evidence["knots"] == len(xgb.x)
    assert 0.0 <= passed.evidence["at_confidence"] <= 1.0
    lifted = _with_model(proposal, "xgb", x=[0.0, 0.5, 1.0], y=[0.0, 0.75, 1.0])
    (failed,) = [f for f in check_bounds(lifted, CONFIG).by_id("P2.2.a") if f.evidence["model"] == "xgb"]
    assert failed.message == "xgb: the map moves confidence 0.5000 by 0.2500, more than ±0.15"
    assert (failed.evidence["max_change"], failed.evidence["at_confidence"]) == (0.25, 0.5)
    both = _with_model(proposal, "xgb", x=[0.0, 0.6, 0.5], y=[0.0, 0.7, 0.6])
    (broken,) = [f for f in check_bounds(both, CONFIG).by_id("P2.2.a") if f.evidence["model"] == "xgb"]
    assert broken.message == (
        "xgb: map knots x are not strictly increasing; map covers [0.0, 0.5], not the whole of [0, 1]; "
        "the map is not non-decreasing (a higher confidence would map lower)"
    )


def test_p22c_and_p22d_failures_name_the_model(good) -> None:
    proposal, _ = good
    xgb = proposal.models["xgb"]
    after = xgb.brier_before + 0.01
    worse = _with_model(proposal, "xgb", brier_after=after, improvement_lower=-0.02)
    (c,) = [f for f in check_bounds(worse, CONFIG).by_id("P2.2.c") if f.evidence["model"] == "xgb"]
    assert c.message == (
        f"xgb: held-out Brier {xgb.brier_before:.4f} → {after:.4f}, one-sided lower bound of the gain -2.0%: "
        "not shown no worse (must reach 0%)"
    )
    short = _with_model(proposal, "xgb", status="insufficient", reason="only 12 held-out trades")
    (c,) = [f for f in check_bounds(short, CONFIG).by_id("P2.2.c") if f.evidence["model"] == "xgb"]
    assert c.message == "xgb: insufficient evidence — STOP: only 12 held-out trades"
    models = {k: v for k, v in proposal.models.items() if k not in ("lgbm", "nhits")}
    (d,) = check_bounds(dataclasses.replace(proposal, models=models), CONFIG).by_id("P2.2.d")
    assert d.message.startswith("no map for lgbm, nhits"), d.message


def test_a_stricter_confidence_level_in_the_config_is_the_one_p22b_names(good) -> None:
    """Tightening calibration.improvement_confidence needs no waiver, and the finding states the level used."""
    proposal, _ = good
    strict = CONFIG.with_overrides({"calibration.improvement_confidence": 0.99}, "test")
    finding = _p22b(proposal, strict)
    assert finding.evidence["confidence_level"] == 0.99
    assert "the one-sided 99% lower bound of the improvement must reach 5%" in finding.message
