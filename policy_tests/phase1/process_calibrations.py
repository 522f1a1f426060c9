"""Calibrations that start a process first: sandbox tasks for ``unit_tests/test_run_nofork.py``.

Apart from ``process_attempts`` because they import the real calibration (scikit-learn and all) before
the sandbox's audit hook, as ``calpolicy.calibrate.task`` itself is imported; the other tasks need none of it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from calpolicy.calibrate.task import calibrate
from policy_tests.phase1.attempts import _fork_exec, _wait
from policy_tests.phase1.process_attempts import _MARK, _marker, _os_fork


def calibrate_after_a_hidden_start(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """First start a helper program the hook cannot see (``fork_exec`` raises no audit event), without
    catching the refusal: the run must not go on as if nothing happened."""
    _wait(_fork_exec([sys.executable, "-c", _MARK, _marker(workdir, "hidden")]))
    return calibrate(args, workdir)


def calibrate_after_a_fork(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Fork first (an audited ``os.fork``): the hook names it and the run stops."""
    _os_fork(_marker(workdir, "forked"))
    return calibrate(args, workdir)
