"""What approve's refusal of an aborted job says (review/approval.state_problems and its abort evidence),
asserted in-process on real jobs folders and a real apply history.

Why: after a cut of the jobs folder the only record of an abort is the apply history's line; the operator
told "STOP, job X is 'aborted'" must also be told who aborted it, when, and that the jobs folder's own
records no longer show it (they were cut), or which other jobs folder spent the ID.
"""

from __future__ import annotations

import json
from pathlib import Path

from calpolicy.apply.deploy.abort import abort_job
from calpolicy.jobs import DECISIONS_FILE, JobStore
from calpolicy.jobs import history as apply_history
from calpolicy.review.approval import state_problems
from unit_tests.deploy.site import Site, site_with_one_job
from unit_tests.deploy.test_trust import JOB


def _site(tmp_path: Path, proposal_json: str) -> Site:
    return site_with_one_job(tmp_path, proposal_json, JOB)


def _store(site: Site) -> JobStore:
    return JobStore(site.jobs, site.paths.history)


def _line(site: Site) -> dict:
    line = apply_history.aborted(apply_history.read(site.paths.history), JOB)
    assert line is not None
    return line


def test_a_proposed_job_has_no_state_problem(tmp_path: Path, proposal_json: str) -> None:
    site = _site(tmp_path, proposal_json)
    assert state_problems(site.manifest(JOB), JOB, _store(site)) == []
    assert state_problems({"state": "proposed"}, JOB) == []
    assert state_problems({"state": "approved"}, JOB) == []


def test_an_aborted_job_is_refused_with_who_and_when(tmp_path: Path, proposal_json: str) -> None:
    site = _site(tmp_path, proposal_json)
    abort_job(site.config, JOB, "bob", "wrong data")
    line = _line(site)
    said = f"the apply history {site.paths.history} records that bob aborted it at {line['at']}"
    assert state_problems(site.manifest(JOB), JOB, _store(site)) == [
        f"job {JOB} is 'aborted'; only a proposed job can be approved",
        said,
    ]


def test_a_cut_jobs_folder_is_named_as_cut(tmp_path: Path, proposal_json: str) -> None:
    site = _site(tmp_path, proposal_json)
    signed = (site.jobs / JOB / "manifest.json").read_bytes()
    abort_job(site.config, JOB, "bob")
    (site.jobs / DECISIONS_FILE).write_bytes(b"")
    (site.jobs / JOB / "manifest.json").write_bytes(signed)
    line = _line(site)
    assert state_problems(json.loads(signed), JOB, _store(site)) == [
        f"job {JOB} is 'aborted'; only a proposed job can be approved",
        f"the apply history {site.paths.history} records that bob aborted it at {line['at']}; the jobs folder's "
        "own records say 'proposed': they were cut or rewritten after the abort",
    ]


def test_an_abort_in_another_jobs_folder_names_that_folder(tmp_path: Path, proposal_json: str) -> None:
    first = _site(tmp_path, proposal_json)
    second_jobs = tmp_path / "jobs_elsewhere"
    second = Site(tmp_path, first.config.with_overrides({"paths.jobs_dir": str(second_jobs)}, "test"))
    second.add_job(JOB, proposal_json)
    abort_job(first.config, JOB, "bob")
    line = _line(first)
    problems = state_problems(second.manifest(JOB), JOB, JobStore(second_jobs, second.paths.history))
    assert problems == [
        f"job {JOB} is 'aborted'; only a proposed job can be approved",
        f"the apply history {first.paths.history} records that bob aborted it at {line['at']}, as a job of the "
        f"jobs folder {first.jobs}; this live config never takes a job of that ID",
    ]


def test_an_abort_the_history_does_not_hold_has_no_evidence_line(tmp_path: Path, proposal_json: str) -> None:
    site = _site(tmp_path, proposal_json)
    JobStore(site.jobs).transition(JOB, "aborted", "bob")  # the jobs folder alone (an old abort)
    assert state_problems(site.manifest(JOB), JOB, _store(site)) == [
        f"job {JOB} is 'aborted'; only a proposed job can be approved"
    ]
    # without a store (or a store without a history), the manifest alone speaks
    assert state_problems({"state": "aborted"}, JOB) == [f"job {JOB} is 'aborted'; only a proposed job can be approved"]
    assert state_problems(site.manifest(JOB), JOB, JobStore(site.jobs)) == [
        f"job {JOB} is 'aborted'; only a proposed job can be approved"
    ]


def test_an_applied_job_has_no_abort_evidence_even_with_an_abort_line(tmp_path: Path, proposal_json: str) -> None:
    site = _site(tmp_path, proposal_json)
    site.paths.archive_dir.mkdir(exist_ok=True)
    for entry in (
        {"id": "p", "phase": "begin", "event": "approve", "to": JOB, "from": "none"},
        {"id": "p", "phase": "done"},
        {"id": "a", "phase": "abort", "event": "abort", "job_id": JOB, "by": "mallory", "at": "t"},
    ):
        apply_history.append(site.paths.history, entry)
    assert state_problems(site.manifest(JOB), JOB, _store(site)) == [
        f"job {JOB} is 'applied'; only a proposed job can be approved"
    ]


def test_an_unreadable_jobs_folder_record_is_a_state_problem_not_a_crash(tmp_path: Path, proposal_json: str) -> None:
    site = _site(tmp_path, proposal_json)
    (site.jobs / DECISIONS_FILE).write_bytes(b'{"not": "chained"}\n')
    (problem,) = state_problems(site.manifest(JOB), JOB, _store(site))
    assert problem.startswith(f"cannot tell job {JOB}'s state: the decisions log ")
    assert "was altered at line 1" in problem
