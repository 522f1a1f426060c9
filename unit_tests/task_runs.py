"""Run a real `calpolicy run` with a calibration task of the tests' own, in a local environment.

The held-out `run` cases (a malformed proposal, files the child leaves) each replace the calibration task
and look at what `run` made of it: the findings, the exit code and whether a job was published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calpolicy.jobs import JobStore
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.run.job import run_job
from calpolicy.vocabulary.verdict import Finding

WAIVER = {"by": "unit tests", "why": "a loaded CI machine", "until": "2100-01-01T00:00:00+00:00"}


@dataclass(frozen=True)
class TaskRun:
    exit_code: int
    job_id: str | None
    findings: list[Finding]
    shown: str  # the findings as JSON, for an assertion's message
    jobs_unchanged: bool
    temp_left: list[Path]


def run_with_task(env: LocalEnvironment, task: str) -> TaskRun:
    """`run` as ana with ``task`` (``module:function``) as the calibration; the latency bound waived."""
    config = env.write_config(overrides={"redis.max_latency_ms": 500.0, "waivers.redis.max_latency_ms": WAIVER})
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
    jobs_before = JobStore(env.jobs_dir).ids()
    outcome = run_job(config, operator="ana", on_call_until=until, task=task)
    findings = list(outcome.verdict.findings)
    return TaskRun(
        exit_code=outcome.verdict.exit_code,
        job_id=outcome.job_id,
        findings=findings,
        shown=json.dumps([f.__dict__ for f in findings], default=str)[:3000],
        jobs_unchanged=JobStore(env.jobs_dir).ids() == jobs_before,
        temp_left=list(Path(env.jobs_dir).glob(".cal_*.tmp")),
    )
