"""Third held-out set of issue 21 for `run`: the calibration child may write ``proposal.json`` and nothing else.

Every other file of a job is the parent's, and the statement signs every file in the folder. A child that
left a page of its own (``APPROVED.html``), a name with a newline and an escape sequence, and 2,000 more
files had them all signed and published with a GO job (exit 0): vouched for, judged by no test. The run is
real: a local environment with systemd, the real preflight, the real sandbox (docs/heldout.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.jobs import JobStore
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.run.job import run_job

TASKS = "policy_tests.phase1.heldout3_tasks"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("heldout3run"), systemd=True, n_trades=1500) as environment:
        yield environment


def test_files_the_child_adds_to_the_job_are_a_stop_and_no_job(env: LocalEnvironment) -> None:
    """Was: exit 0, a job of 2,012 signed files. Now: a P1.1.c failure (exit 1) and no job published."""
    waiver = {"by": "unit tests", "why": "a loaded CI machine", "until": "2100-01-01T00:00:00+00:00"}
    config = env.write_config(overrides={"redis.max_latency_ms": 500.0, "waivers.redis.max_latency_ms": waiver})
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
    jobs_before = JobStore(env.jobs_dir).ids()
    outcome = run_job(config, operator="ana", on_call_until=until, task=f"{TASKS}:extra_files")
    shown = json.dumps([f.__dict__ for f in outcome.verdict.findings], default=str)[:3000]
    assert outcome.verdict.exit_code == 1, shown
    assert outcome.job_id is None, shown
    left = [f for f in outcome.verdict.findings if f.id == "P1.1.c" and f.status == "fail"]
    assert left, shown
    assert "left 2002 entries besides proposal.json" in left[0].message, left[0].message
    assert "'APPROVED.html'" in left[0].message
    assert JobStore(env.jobs_dir).ids() == jobs_before
    assert not list(Path(env.jobs_dir).glob(".cal_*.tmp"))
