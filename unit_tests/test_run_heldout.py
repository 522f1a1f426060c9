"""A held-out case of issue 21 for `run`: the calibration child's ``proposal.json`` is untrusted input.

`run` parsed it with ``Proposal.from_json`` on a plain read and let a ``ProposalError`` (or a
RecursionError) escape: a child that writes a malformed proposal made `run` end in a traceback. Now it
is read bounded, parsed strictly, and an unusable one is a STOP (exit 3, P2.1.a) with no job made. The
run is real: a local environment with systemd, the real preflight, the real sandbox.
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

TASKS = "policy_tests.phase1.heldout_proposal"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("heldoutrun"), systemd=True, n_trades=1500) as environment:
        yield environment


@pytest.mark.parametrize("task", ["wrong_shape", "nested_deep"])
def test_a_malformed_proposal_from_the_child_is_a_stop_and_no_job(env: LocalEnvironment, task: str) -> None:
    waiver = {"by": "unit tests", "why": "a loaded CI machine", "until": "2100-01-01T00:00:00+00:00"}
    config = env.write_config(overrides={"redis.max_latency_ms": 500.0, "waivers.redis.max_latency_ms": waiver})
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
    jobs_before = JobStore(env.jobs_dir).ids()
    outcome = run_job(config, operator="ana", on_call_until=until, task=f"{TASKS}:{task}")
    shown = json.dumps([f.__dict__ for f in outcome.verdict.findings], default=str)[:3000]
    assert outcome.verdict.exit_code == 3, shown
    assert outcome.job_id is None, shown
    assert any(f.id == "P2.1.a" and "proposal.json cannot be used" in f.message for f in outcome.verdict.findings)
    assert JobStore(env.jobs_dir).ids() == jobs_before
    assert not list(Path(env.jobs_dir).glob(".cal_*.tmp"))
