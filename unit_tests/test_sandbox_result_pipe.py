"""The result pipe is drained while the task runs (found by the JSON-reader work, issue 21 §4's class).

The parent used to read the result pipe only once the task had ended; a pipe holds 64 KiB, so a task that
wrote more than that blocked in ``write`` until the run's timeout (600 s by default) and the run ended
"did not finish". Now the pipe is drained in a thread as stderr is, keeping a bounded tail whose last line
is the result.
"""

from __future__ import annotations

import os
from pathlib import Path

from calpolicy.lockdown.sandbox import RESULT_KEEP_BYTES, run_sandboxed

TASK = "policy_tests.phase1.heldout_attempts:result_pipe_flood"


def test_a_task_writing_past_a_pipes_capacity_still_ends_with_its_result(tmp_path: Path) -> None:
    """1 MiB before the result line: on the old parent this hit the (here 60 s) timeout."""
    result = run_sandboxed(TASK, tmp_path, [], {"mib": 1}, timeout_s=60)
    assert result.error is None, result.error
    assert result.result == {"went_through": False, "written_mib": 1}


def test_a_flood_larger_than_what_is_kept_still_ends_with_its_result(tmp_path: Path) -> None:
    """More than the kept tail: the result line is last, so it is still read whole."""
    mib = RESULT_KEEP_BYTES // (1 << 20) * 4
    result = run_sandboxed(TASK, tmp_path, [], {"mib": mib}, timeout_s=120)
    assert result.error is None, result.error
    assert result.result == {"went_through": False, "written_mib": mib}


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def test_the_parent_keeps_no_descriptor_of_a_finished_run(tmp_path: Path) -> None:
    """calpolicy's parent may run for a long time (a daemon, a test session): every pipe of a finished run
    is closed, so nothing leaks run after run."""
    (tmp_path / "warm").mkdir()
    run_sandboxed(TASK, tmp_path / "warm", [], {"mib": 0}, timeout_s=60)  # the first run's imports and caches
    before = _open_fds()
    for n in range(3):
        job = tmp_path / f"job{n}"
        job.mkdir()
        result = run_sandboxed(TASK, job, [], {"mib": 1}, timeout_s=60)
        assert result.result == {"went_through": False, "written_mib": 1}
    assert _open_fds() == before
