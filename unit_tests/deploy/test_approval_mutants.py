"""approve's preconditions, each refusal exactly as the approver reads it (issue 21 §5: approval.py under
mutation testing).

Fast and in-process on real parts: a job folder in tmp_path with a real proposal, a real CLM log, real
Ed25519 signatures where the signature matters, real FIFOs. The preflight is passed in as a finished run
(``PreflightRun``), the same seam the other approve tests use, since a real one boots nothing here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from calpolicy.calibrate import Proposal
from calpolicy.calibrate.models import ENSEMBLE
from calpolicy.jobs import JobStore, read_job_files
from calpolicy.preflight import PreflightRun
from calpolicy.review.approval import (
    approval_preconditions,
    clm_problems,
    map_problems,
    preflight_problems,
    proposal_problems,
    results_problems,
    signature_problems,
    state_problems,
)
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Finding, Verdict
from unit_tests.deploy.site import Site, make_site, sign

JOB = "cal_20261101_120000"


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    site = make_site(tmp_path)
    clm = tmp_path / "clm_trades.jsonl"
    clm.write_bytes(b'{"a": 1}\n{"a": 2}\n')
    site.add_job(JOB, proposal_json, clm=clm)
    return site


def run_of(*findings: Finding) -> PreflightRun:
    return PreflightRun(Verdict(tuple(findings)), [], 0, 0.1, "")


def write_results(site: Site, text: str) -> Path:
    path = site.jobs / JOB / "policy_results.jsonl"
    path.write_text(text)
    return path


# ============================================================================== signature


def test_no_trusted_keys_folder_is_a_refusal(site: Site) -> None:
    config = site.config.model_copy(
        update={"signing": site.config.signing.model_copy(update={"trusted_keys_dir": None})}
    )
    assert signature_problems(site.jobs / JOB, config) == [
        "signature verification unavailable: no signing.trusted_keys_dir is configured"
    ]


def test_an_unsigned_job_is_refused_naming_why(site: Site) -> None:
    config = site.config.model_copy(
        update={"signing": site.config.signing.model_copy(update={"trusted_keys_dir": site.root})}
    )
    assert signature_problems(site.jobs / JOB, config) == [
        "signature: statement.sig is missing: the job was never signed"
    ]


def test_a_verification_that_cannot_run_is_a_refusal(site: Site) -> None:
    config = sign(site, JOB)
    problems = signature_problems(site.jobs / JOB, config, files="not the job's files")  # type: ignore[arg-type]
    assert len(problems) == 1
    assert problems[0].startswith("signature verification failed to run: ")


def test_a_signed_job_passes_on_the_files_given(site: Site) -> None:
    config = sign(site, JOB)
    files = read_job_files(site.jobs / JOB)
    (site.jobs / JOB / "proposal.json").write_text("replaced after the read")
    assert signature_problems(site.jobs / JOB, config, files) == []  # judged on the bytes approve applies
    problems = signature_problems(site.jobs / JOB, config)
    assert problems
    assert all(p.startswith("signature: ") for p in problems)


# ============================================================================== state


@pytest.mark.parametrize("state", ["proposed", "approved"])
def test_proposed_or_approved_may_be_approved(state: str) -> None:
    assert state_problems({"state": state}, JOB) == []


@pytest.mark.parametrize("state", ["aborted", "applied", "rolled_back", None])
def test_any_other_state_is_refused_quoting_it(state: str | None) -> None:
    assert state_problems({"state": state}, JOB) == [f"job {JOB} is {state!r}; only a proposed job can be approved"]


def test_an_unfinished_apply_may_be_resumed(site: Site) -> None:
    from calpolicy.apply.deploy.approve import approve_job

    approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)
    manifest = site.manifest(JOB)
    manifest["state"] = "approved"  # as a command killed before its own record was finished leaves it
    store = JobStore(site.jobs, site.paths.history)
    assert store.state(JOB, manifest) == "applied"
    assert state_problems(manifest, JOB, store) == []
    assert state_problems({**manifest, "state": "applied"}, JOB, store) == [
        f"job {JOB} is 'applied'; only a proposed job can be approved"
    ]


def test_a_state_that_cannot_be_told_is_a_refusal(site: Site) -> None:
    store = JobStore(site.jobs, site.paths.history)
    problems = state_problems({"state": "weird"}, JOB, store)
    assert problems == [f"cannot tell job {JOB}'s state: job {JOB} records an unknown state 'weird'"]


# ============================================================================== policy results


def test_results_every_line_must_be_a_pass(site: Site) -> None:
    path = write_results(
        site,
        "\n".join(
            [
                json.dumps({"nodeid": "t::a", "outcome": "pass"}),
                "   ",
                json.dumps({"nodeid": "t::b", "status": "pass"}),
                json.dumps({"nodeid": "t::c", "status": "fail", "message": "first\nsecond"}),
                "{oops",
                json.dumps(["pass"]),
                json.dumps({"outcome": "fail"}),
                json.dumps({"nodeid": "t::d", "outcome": "pass", "status": "fail"}),
                "",
            ]
        ),
    )
    assert results_problems(path.parent) == [
        "policy test t::c did not pass (fail): first\nsecond",
        "policy_results.jsonl line 4 is not JSON",
        "policy test line 5 did not pass (None)",
        "policy test line 6 did not pass (fail)",
    ]


def test_results_that_are_missing_odd_or_empty_are_refusals(site: Site) -> None:
    path = site.jobs / JOB / "policy_results.jsonl"
    path.unlink()
    assert results_problems(path.parent) == [f"cannot read the job's policy results {path}: it is missing"]
    os.mkfifo(path)
    assert results_problems(path.parent) == [f"cannot read the job's policy results {path}: it is a FIFO (named pipe)"]
    path.unlink()
    path.write_text("\n  \n")
    assert results_problems(path.parent) == [f"{path} records no policy test: nothing proves the proposal passed"]
    path.write_bytes(b'{"nodeid": "t::\xff", "outcome": "pass"}\n')  # not UTF-8: read, never raised on
    assert results_problems(path.parent) == []


def test_results_of_a_job_that_cannot_be_read_say_why(site: Site, tmp_path: Path) -> None:
    gone = site.jobs / "cal_20261101_130000"
    problems = results_problems(gone)
    assert len(problems) == 1
    assert str(gone) in problems[0]


def test_results_are_judged_on_the_files_given(site: Site) -> None:
    files = read_job_files(site.jobs / JOB)
    write_results(site, json.dumps({"nodeid": "t::x", "outcome": "fail"}) + "\n")
    assert results_problems(site.jobs / JOB, files) == []
    assert results_problems(site.jobs / JOB) == ["policy test t::x did not pass (fail)"]


# ============================================================================== CLM log


def test_clm_the_analysed_bytes_must_still_be_the_logs_start(tmp_path: Path) -> None:
    log = tmp_path / "clm.jsonl"
    log.write_bytes(b"0123456789")
    digest = hashlib.sha256(b"01234").hexdigest()
    record = {"path": str(log), "bytes": 5, "sha256": digest}
    assert clm_problems({"clm": record}) == []
    assert clm_problems({"clm": {**record, "bytes": 10, "sha256": hashlib.sha256(b"0123456789").hexdigest()}}) == []
    assert clm_problems({"clm": {**record, "bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()}}) == []
    assert clm_problems({"clm": {**record, "bytes": 11}}) == [
        f"the CLM log {log} is now 10 bytes, shorter than the 11 analysed: it was truncated or replaced, so the "
        "proposal no longer describes it"
    ]
    other = hashlib.sha256(b"x").hexdigest()
    assert clm_problems({"clm": {**record, "sha256": other}}) == [
        f"the first 5 bytes of the CLM log {log} changed since the analysis (sha256 {digest[:12]}… ≠ "
        f"{other[:12]}…): it is not an append-only extension"
    ]


@pytest.mark.parametrize("value", [True, False, -1, 1.0, "5", None])
def test_clm_a_byte_count_that_is_not_a_whole_number_is_refused(tmp_path: Path, value: Any) -> None:
    record = {"path": str(tmp_path / "clm.jsonl"), "bytes": value, "sha256": "0" * 64}
    assert clm_problems({"clm": record}) == [
        f"the job's manifest records a CLM byte count that is not a whole number: {value!r}"
    ]


@pytest.mark.parametrize("drop", ["path", "bytes", "sha256", "all"])
def test_clm_an_incomplete_record_is_refused(tmp_path: Path, drop: str) -> None:
    record = {"path": str(tmp_path), "bytes": 0, "sha256": "0" * 64}
    clm: Any = [record] if drop == "all" else {k: v for k, v in record.items() if k != drop}
    assert clm_problems({"clm": clm}) == [
        "the job's manifest does not record the analysed CLM bytes (clm.path, clm.bytes, clm.sha256)"
    ]
    assert clm_problems({}) == clm_problems({"clm": clm})


def test_clm_a_log_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "clm.jsonl"
    folder.mkdir()
    problems = clm_problems({"clm": {"path": str(folder), "bytes": 1, "sha256": "0" * 64}})
    assert problems == [f"cannot read the CLM log {folder}: {folder} is not a regular file"]
    absent = tmp_path / "absent.jsonl"
    assert clm_problems({"clm": {"path": str(absent), "bytes": 1, "sha256": "0" * 64}}) == [
        f"cannot read the CLM log {absent}: No such file or directory"
    ]


# ============================================================================== the maps


def with_map(proposal_json: str, x: list[float], y: list[float], model: str = ENSEMBLE) -> Proposal:
    proposal = Proposal.from_json(proposal_json)
    result = dataclasses.replace(proposal.models[model], x=tuple(x), y=tuple(y))
    return dataclasses.replace(proposal, models={**proposal.models, model: result})


def test_a_valid_map_has_no_problem(proposal_json: str) -> None:
    assert map_problems(Proposal.from_json(proposal_json)) == []
    assert map_problems(with_map(proposal_json, [0.0, 1.0], [0.0, 1.0])) == []
    assert map_problems(with_map(proposal_json, [0.0, 0.5, 1.0], [0.0, 0.0, 1.0])) == []  # flat is monotone


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([0.0], [0.0], ["the proposal's ensemble map needs at least two knots with as many x as y"]),
        ([0.0, 1.0], [0.0], ["the proposal's ensemble map needs at least two knots with as many x as y"]),
        ([0.0, 1.0], [0.0, 0.5, 1.0], ["the proposal's ensemble map needs at least two knots with as many x as y"]),
        ([0.0, float("nan")], [0.0, 1.0], ["the proposal's ensemble map has a knot that is not a finite number"]),
        ([0.0, 1.0], [0.0, float("inf")], ["the proposal's ensemble map has a knot that is not a finite number"]),
        ([0.0, 0.5, 0.5, 1.0], [0.0, 0.2, 0.3, 1.0], ["the proposal's ensemble map: x is not strictly increasing"]),
        ([0.0, 0.6, 0.5, 1.0], [0.0, 0.2, 0.3, 1.0], ["the proposal's ensemble map: x is not strictly increasing"]),
        ([0.1, 1.0], [0.0, 1.0], ["the proposal's ensemble map: its knots do not span [0, 1] (from 0.1 to 1.0)"]),
        ([0.0, 0.9], [0.0, 1.0], ["the proposal's ensemble map: its knots do not span [0, 1] (from 0.0 to 0.9)"]),
        ([0.0, 1.0], [-0.1, 1.0], ["the proposal's ensemble map: a value lies outside [0, 1]"]),
        ([0.0, 1.0], [0.0, 1.1], ["the proposal's ensemble map: a value lies outside [0, 1]"]),
        (
            [0.0, 0.5, 1.0],
            [0.0, 0.6, 0.5],
            ["the proposal's ensemble map is not monotone: a higher confidence would map lower"],
        ),
        (
            [0.0, 0.5, 0.4, 0.9],
            [0.5, 0.4, 1.2, 1.0],
            [
                "the proposal's ensemble map: x is not strictly increasing",
                "the proposal's ensemble map: its knots do not span [0, 1] (from 0.0 to 0.9)",
                "the proposal's ensemble map: a value lies outside [0, 1]",
                "the proposal's ensemble map is not monotone: a higher confidence would map lower",
            ],
        ),
    ],
)
def test_each_broken_invariant_is_named(
    proposal_json: str, x: list[float], y: list[float], expected: list[str]
) -> None:
    assert map_problems(with_map(proposal_json, x, y)) == expected


def test_every_models_map_is_checked_not_only_the_first(proposal_json: str) -> None:
    proposal = with_map(proposal_json, [0.0, 1.0], [1.0, 0.0], model="xgb")
    proposal = with_map(proposal.to_json(), [0.0], [0.0], model="patchtst")
    assert map_problems(proposal) == [
        "the proposal's patchtst map needs at least two knots with as many x as y",
        "the proposal's xgb map is not monotone: a higher confidence would map lower",
    ]


# ============================================================================== the proposal


def test_proposal_problems_cover_absent_unreadable_broken_and_out_of_bounds(proposal_json: str) -> None:
    config = Config()
    assert proposal_problems(None, config) == ["the job has no readable proposal.json"]
    problems = proposal_problems(b"{oops", config)
    assert len(problems) == 1
    assert problems[0].startswith("cannot read the job's proposal: ")
    assert proposal_problems(b"[" * 100_000, config)[0].startswith("cannot read the job's proposal: ")
    broken = with_map(proposal_json, [0.0, 1.0], [0.5, 0.4]).to_json().encode()
    assert proposal_problems(broken, config) == [
        "the proposal's ensemble map is not monotone: a higher confidence would map lower"
    ]
    assert proposal_problems(proposal_json.encode(), config) == []
    strict = config.with_overrides({"calibration.min_improvement": 1.0}, "test")
    problems = proposal_problems(proposal_json.encode(), strict)
    from calpolicy.calibrate.bounds import check_bounds

    (failed,) = [f for f in check_bounds(Proposal.from_json(proposal_json), strict).findings if f.status == "fail"]
    assert failed.id == "P2.2.b"
    # the approver reads the finding's first line as text (it was shown as a Python list: "['held-out …']")
    assert problems == [f"P2.2 re-checked on the proposal is not GO: P2.2.b fail: {failed.message.splitlines()[0]}"]


def test_a_non_finite_map_does_not_stop_the_other_models_checks(proposal_json: str) -> None:
    proposal = with_map(proposal_json, [0.0, 1.0], [1.0, 0.0], model="xgb")
    broken = with_map(proposal_json, [0.0, float("nan")], [0.0, 1.0], model="lgbm").models["lgbm"]
    proposal = dataclasses.replace(proposal, models={**proposal.models, "lgbm": broken})
    assert map_problems(proposal) == [
        "the proposal's lgbm map has a knot that is not a finite number",
        "the proposal's xgb map is not monotone: a higher confidence would map lower",
    ]


# ============================================================================== preflight and the whole


def test_preflight_go_is_no_problem_and_each_failure_is_named_on_one_line() -> None:
    assert preflight_problems(lambda: run_of(Finding("P0.1.a", "pass", "ok"), Finding("S.x", "waived", "w"))) == []
    problems = preflight_problems(
        lambda: run_of(
            Finding("P0.1.a", "pass", "ok"),
            Finding("S.e", "fail", "HALT is set\nsecond line"),
            Finding("P0.2", "error", ""),
        )
    )
    assert problems == ["fresh preflight is STOP: S.e fail: HALT is set", "fresh preflight is STOP: P0.2 error: "]


def test_a_preflight_that_judged_nothing_is_a_stop() -> None:
    """Fail closed: a fresh preflight whose verdict holds no finding is not GO, and approve must not go on."""
    assert preflight_problems(lambda: run_of()) == ["fresh preflight is STOP: its verdict holds no finding"]


def test_preconditions_stop_before_the_preflight_when_the_job_fails(site: Site) -> None:
    ran: list[bool] = []

    def preflight() -> PreflightRun:
        ran.append(True)
        return run_of(Finding("P0.1.a", "pass", "ok"))

    problems = approval_preconditions(site.jobs / JOB, site.config, preflight=preflight)
    assert problems == ["signature: statement.sig is missing: the job was never signed"]
    assert ran == []
    config = sign(site, JOB)
    assert approval_preconditions(site.jobs / JOB, config, preflight=preflight) == []
    assert ran == [True]


def test_preconditions_list_every_problem_in_order(site: Site) -> None:
    config = sign(site, JOB)
    manifest = site.manifest(JOB)
    manifest["state"] = "aborted"
    manifest["clm"] = None
    (site.jobs / JOB / "manifest.json").write_text(json.dumps(manifest))
    write_results(site, json.dumps({"nodeid": "t::a", "outcome": "error"}) + "\n")
    (site.jobs / JOB / "proposal.json").write_text("{oops")
    problems = approval_preconditions(site.jobs / JOB, config, preflight=lambda: run_of())
    assert problems[0].startswith("signature: ")
    rest = [p for p in problems if not p.startswith("signature: ")]
    assert rest[:3] == [
        f"job {JOB} is 'aborted'; only a proposed job can be approved",
        "policy test t::a did not pass (error)",
        "the job's manifest does not record the analysed CLM bytes (clm.path, clm.bytes, clm.sha256)",
    ]
    assert rest[3].startswith("cannot read the job's proposal: ")
    assert len(rest) == 4


def test_the_state_is_read_from_this_hosts_records(site: Site) -> None:
    """The apply history beside the live config says a job is applied, whatever its manifest claims."""
    from calpolicy.apply.deploy.approve import approve_job

    approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)
    config = sign(site, JOB)
    manifest = site.manifest(JOB)
    manifest["state"] = "proposed"
    (site.jobs / JOB / "manifest.json").write_text(json.dumps(manifest))
    decisions = site.jobs / ".decisions.jsonl"  # killed before its 'applied' decision: only the history knows
    decisions.write_bytes(b"".join(decisions.read_bytes().splitlines(keepends=True)[:-1]))
    assert JobStore(site.jobs).state(JOB, manifest) == "approved"
    problems = approval_preconditions(site.jobs / JOB, config, preflight=lambda: run_of())
    assert f"job {JOB} is 'applied'; only a proposed job can be approved" in problems


@pytest.mark.parametrize("content", ["[1, 2]", "{oops", None])
def test_a_manifest_that_is_not_an_object_is_refused(site: Site, content: str | None) -> None:
    path = site.jobs / JOB / "manifest.json"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    problems = approval_preconditions(site.jobs / JOB, site.config, preflight=lambda: run_of())
    assert len(problems) == 1
    assert problems[0].startswith(f"cannot read the job's manifest in {site.jobs / JOB}: ")
    if content == "[1, 2]":
        assert problems == [f"cannot read the job's manifest in {site.jobs / JOB}: not a JSON object"]


def test_a_job_folder_that_cannot_be_read_is_one_problem(site: Site) -> None:
    gone = site.jobs / "cal_20261101_130000"
    problems = approval_preconditions(gone, site.config, preflight=lambda: run_of())
    assert len(problems) == 1
    assert str(gone) in problems[0]


def test_the_preconditions_judge_the_files_given(site: Site) -> None:
    config = sign(site, JOB)
    files = read_job_files(site.jobs / JOB)
    write_results(site, json.dumps({"nodeid": "t::x", "outcome": "fail"}) + "\n")
    (site.jobs / JOB / "manifest.json").write_text("[]")
    ok = run_of(Finding("P0.1.a", "pass", "ok"))
    assert approval_preconditions(site.jobs / JOB, config, preflight=lambda: ok, files=files) == []


def test_the_default_preflight_is_the_real_one_with_this_operators_window(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``preflight`` the real ``run_preflight`` is called with the config file, the operator, the
    on-call window and the configured deadline (the child run itself is tested in test_preflight*)."""
    config = sign(site, JOB)
    seen: list[dict[str, Any]] = []

    def recording(**kwargs: Any) -> PreflightRun:
        seen.append(kwargs)
        return run_of(Finding("S.e", "fail", "HALT"))

    monkeypatch.setattr("calpolicy.preflight.run_preflight", recording)
    problems = approval_preconditions(
        site.jobs / JOB, config, operator="alice", on_call_until="U", config_path=str(site.root / "c.toml")
    )
    assert problems == ["fresh preflight is STOP: S.e fail: HALT"]
    assert seen == [
        {
            "config_path": site.root / "c.toml",
            "operator": "alice",
            "on_call_until": "U",
            "timeout_s": config.deploy.preflight_timeout_s,
        }
    ]
    seen.clear()
    approval_preconditions(site.jobs / JOB, config)
    assert seen[0]["config_path"] is None
    assert seen[0]["operator"] is None
