"""A held-out case of issue 21 for `run`: the calibration child's ``proposal.json`` is untrusted input.

`run` parsed it with ``Proposal.from_json`` on a plain read and let a ``ProposalError`` (or a
RecursionError) escape: a child that writes a malformed proposal made `run` end in a traceback. Now it
is read bounded, parsed strictly, and an unusable one is a STOP (exit 3, P2.1.a) with no job made. The
run is real: a local environment with systemd, the real preflight, the real sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calpolicy.localenv.environment import LocalEnvironment
from unit_tests.task_runs import run_with_task

TASKS = "policy_tests.phase1.heldout_proposal"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("heldoutrun"), systemd=True, n_trades=1500) as environment:
        yield environment


@pytest.mark.parametrize("task", ["wrong_shape", "nested_deep"])
def test_a_malformed_proposal_from_the_child_is_a_stop_and_no_job(env: LocalEnvironment, task: str) -> None:
    ran = run_with_task(env, f"{TASKS}:{task}")
    shown = ran.shown
    assert ran.exit_code == 3, shown
    assert ran.job_id is None, shown
    assert any(f.id == "P2.1.a" and "proposal.json cannot be used" in f.message for f in ran.findings)
    assert ran.jobs_unchanged
    assert not ran.temp_left
