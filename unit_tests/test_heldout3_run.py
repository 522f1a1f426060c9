"""Third held-out set of issue 21 for `run`: the calibration child may write ``proposal.json`` and nothing else.

Every other file of a job is the parent's, and the statement signs every file in the folder. A child that
left a page of its own (``APPROVED.html``), a name with a newline and an escape sequence, and 2,000 more
files had them all signed and published with a GO job (exit 0): vouched for, judged by no test. The run is
real: a local environment with systemd, the real preflight, the real sandbox (docs/heldout.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calpolicy.localenv.environment import LocalEnvironment
from unit_tests.task_runs import run_with_task

TASKS = "policy_tests.phase1.heldout3_tasks"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("heldout3run"), systemd=True, n_trades=1500) as environment:
        yield environment


def test_files_the_child_adds_to_the_job_are_a_stop_and_no_job(env: LocalEnvironment) -> None:
    """Was: exit 0, a job of 2,012 signed files. Now: a P1.1.c failure (exit 1) and no job published."""
    ran = run_with_task(env, f"{TASKS}:extra_files")
    shown = ran.shown
    assert ran.exit_code == 1, shown
    assert ran.job_id is None, shown
    left = [f for f in ran.findings if f.id == "P1.1.c" and f.status == "fail"]
    assert left, shown
    assert "left 2002 entries besides proposal.json" in left[0].message, left[0].message
    assert "'APPROVED.html'" in left[0].message
    assert ran.jobs_unchanged
    assert not ran.temp_left
