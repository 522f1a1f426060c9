"""Checklist 3.2 — what the decision rests on, checked on the job: a complete report to review, all
safety bounds OK, and someone on call for the 24 h watch. All models or nothing: no partial approval.

At ``run`` time these show whether the job *can* be approved; once approved, they also hold the
recorded approval to the checklist (the approver's statements are in the manifest).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.plugin import CouldNotCheck, enforce
from calpolicy.review.report import DO_NOT_APPLY, SECTION_TITLES
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Verdict

pytestmark = pytest.mark.report

DECIDED = ("approved", "applied", "rolled_back")


def _instant(raw: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise CouldNotCheck(f"{what} is not an ISO-8601 instant: {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.control("P3.2.a")
def test_report_there_to_review(job_dir: Path, report_md: str, job_manifest: dict) -> None:
    """A review needs the whole report; an approval must record that the report was reviewed."""
    for name in ("report.md", "report.json", "reliability.png", "proposal.json"):
        assert (job_dir / name).is_file(), f"{name} is missing: no review possible (missing report = no decision)"
    for title in SECTION_TITLES.values():
        assert f"## {title}" in report_md, f"report.md lacks the '{title}' section"
    if job_manifest.get("state") in DECIDED:
        approval = job_manifest.get("approval") or {}
        assert approval.get("reviewed_report") is True, "the approval does not record that the report was reviewed"


@pytest.mark.control("P3.2.b")
def test_all_safety_bounds_ok(job_bounds: Verdict, report_md: str, report_json: dict) -> None:
    """Every P2.2 bound passes on the job's proposal (re-checked with today's config), and the report agrees."""
    for control in ("P2.2.a", "P2.2.b", "P2.2.c", "P2.2.d"):
        enforce(job_bounds, control)
    assert report_json["verdict"] != DO_NOT_APPLY, f"the report says DO NOT APPLY: {report_md.splitlines()[0]}"
    bad = [b for b in report_json["summary"]["bounds"] if b["status"] != "pass"]
    assert not bad, f"the report shows failed bounds: {bad}"


@pytest.mark.control("P3.2.c")
def test_decider_on_call_for_24h(job_manifest: dict, calpolicy_config: Config) -> None:
    """The operator is named and on call for min_on_call_hours (24) from the job's start (or from approval).

    The job's ``created_at`` is when the operator attested, so a run that takes a minute does not turn an
    exact "24 h from now" into a failure; an approval is measured from its own time.
    """
    operator = str(job_manifest.get("operator") or "").strip()
    assert operator, "the job names no operator"
    until = _instant(job_manifest.get("on_call_until"), "on_call_until")
    hours = calpolicy_config.operator.min_on_call_hours
    approval = job_manifest.get("approval") or {}
    if job_manifest.get("state") in DECIDED:
        start = _instant(approval.get("at"), "approval.at")
        assert approval.get("on_call_24h") is True, "the approver did not state they are on call for 24 h"
    else:
        start = _instant(job_manifest.get("created_at"), "created_at")
    assert until >= start + timedelta(hours=hours), (
        f"{operator} is on call until {until.isoformat()}, less than {hours:g} h after {start.isoformat()}"
    )


@pytest.mark.control("P3.2.a", "P3.2.b")
def test_no_partial_decision(job_manifest: dict, job_proposal: Any) -> None:
    """One job, all models, or nothing: an approval never names a subset of the proposal's models."""
    approval = job_manifest.get("approval") or {}
    chosen = approval.get("models")
    if chosen is not None:
        assert sorted(chosen) == sorted(job_proposal.models), f"partial approval of {chosen}"
    assert job_manifest.get("state") in ("proposed", "aborted", *DECIDED), (
        f"unknown state {job_manifest.get('state')!r}"
    )
