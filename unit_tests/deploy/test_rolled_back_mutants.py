"""``rollback VERSION`` of a rolled-back job's version (apply/deploy/rollback._refuse_rolled_back), in-process.

Why: test_heldout3.py checks these refusals through the CLI in a child process, where a mutant is invisible.
A rolled-back job's version goes live again only through a new job and approve's checks, whether the job's
records are whole, damaged (a STOP: its state cannot be told) or gone (the apply history alone decides).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calpolicy.apply.deploy import DeployError, approve_job, rollback
from unit_tests.deploy.site import Site, site_with_one_job
from unit_tests.deploy.test_trust import JOB, quiet

ROLLED_BACK = (
    f"version {JOB} is job {JOB}'s, which was rolled back; it goes live again only through a new job and "
    "`calpolicy approve` (fresh preflight, on-call); the live config was not changed"
)


def _rolled_back_site(tmp_path: Path, proposal_json: str) -> Site:
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    rollback(site.config, "previous", "bob", wait=False, say=quiet)
    return site


def test_a_rolled_back_jobs_version_is_refused_by_name(tmp_path: Path, proposal_json: str) -> None:
    site = _rolled_back_site(tmp_path, proposal_json)
    before = site.live_bytes()
    with pytest.raises(DeployError) as refused:
        rollback(site.config, JOB, "bob", wait=False, say=quiet)
    assert str(refused.value) == ROLLED_BACK
    assert site.live_bytes() == before


def test_with_the_job_folder_removed_the_apply_history_alone_refuses(tmp_path: Path, proposal_json: str) -> None:
    site = _rolled_back_site(tmp_path, proposal_json)
    shutil.rmtree(site.jobs / JOB)
    before = site.live_bytes()
    with pytest.raises(DeployError) as refused:
        rollback(site.config, JOB, "bob", wait=False, say=quiet)
    assert str(refused.value) == ROLLED_BACK
    assert site.live_bytes() == before


def test_a_damaged_decisions_log_is_a_stop_that_says_the_state_cannot_be_told(
    tmp_path: Path, proposal_json: str
) -> None:
    site = _rolled_back_site(tmp_path, proposal_json)
    log = site.jobs / ".decisions.jsonl"
    log.write_bytes(log.read_bytes().replace(b'"by": "alice"', b'"by": "mallory"', 1))
    before = site.live_bytes()
    with pytest.raises(DeployError) as refused:
        rollback(site.config, JOB, "bob", wait=False, say=quiet)
    message = str(refused.value)
    assert message.startswith(f"cannot tell whether job {JOB} was rolled back (the decisions log ")
    assert message.endswith("); it is not restored by rollback, the live config was not changed")
    assert "was altered at line 1" in message
    assert site.live_bytes() == before


def test_a_job_left_by_a_later_apply_without_its_folder_is_restored(tmp_path: Path, proposal_json: str) -> None:
    """Only a rollback the history records refuses: job A replaced by a later job B (not rolled back), A's
    folder gone, `rollback A` restores A's archived config."""
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    later = "cal_20261101_130000"
    site.add_job(later, proposal_json)
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    live_a = site.live_bytes()
    approve_job(site.config, later, "alice", wait=False, say=quiet)
    shutil.rmtree(site.jobs / JOB)
    rollback(site.config, JOB, "bob", wait=False, say=quiet)
    assert site.live_bytes() == live_a
