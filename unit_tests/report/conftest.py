"""Real job folders, built once per session: a GO job (signed) and a STOP job, each with the real
pytest-html report of a real child pytest run. Tests that tamper with a job work on a copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from calpolicy.review.signing import default_policy_test_files, generate_keypair, sign_job
from unit_tests.report.jobfolder import Job, config_json, make_job, run_policy_suite


def _built(root: Path, truth: str) -> tuple[Job, str]:
    job = make_job(root, truth=truth)
    done = run_policy_suite(job)
    return job, done.stdout + done.stderr


@pytest.fixture(scope="session")
def go_job(tmp_path_factory: pytest.TempPathFactory) -> Job:
    job, output = _built(tmp_path_factory.mktemp("go"), "overconfident")
    assert (job.dir / "policy_report.html").is_file(), output
    generate_keypair(job.root / "keys" / "signing.key", job.root / "trusted")
    sign_job(
        job.dir,
        job.root / "keys" / "signing.key",
        clm_path=job.clm,
        config_json=config_json(job.config),
        policy_test_files=default_policy_test_files(),
    )
    return job


@pytest.fixture(scope="session")
def stop_job(tmp_path_factory: pytest.TempPathFactory) -> Job:
    job, output = _built(tmp_path_factory.mktemp("stop"), "calibrated")
    assert (job.dir / "policy_report.html").is_file(), output
    return job


@pytest.fixture
def job_copy(tmp_path: Path) -> Callable[[Job], Path]:
    """A copy of a job's folder to tamper with (the CLM file and keys stay shared and untouched)."""

    def _copy(job: Job) -> Path:
        target = tmp_path / job.dir.name
        shutil.copytree(job.dir, target)
        return target

    return _copy
