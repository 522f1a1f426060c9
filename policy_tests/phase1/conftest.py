"""Fixtures for Phase 1: attempts inside the real sandbox, and the protected-path digests of a real run.

The write attempts aim at decoys — files shaped like model weights, ensemble weights, the calibration
config and Meta-Agent parameters, made by the test outside the job folder — rather than at the live
system's own files, so that a broken guard shows up as a failed test and never as a damaged host.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calpolicy.files.strict_json import parse_json
from calpolicy.lockdown.sandbox import SandboxError, SandboxResult, run_sandboxed
from calpolicy.plugin import CouldNotCheck, job_dir
from calpolicy.vocabulary.config import Config

ATTEMPTS = "policy_tests.phase1.attempts"
DECOY_CONTENT = b'{"weights": [0.3, 0.3, 0.2, 0.2], "untouched": true}\n'


@pytest.fixture
def decoys(tmp_path: Path) -> dict[str, Path]:
    """Live-system look-alikes outside the job folder: each must be exactly as it was after an attempt."""
    live = tmp_path / "live"
    files = {
        "model_weights": live / "models" / "xgb" / "model.bin",
        "ensemble_weights": live / "config" / "ensemble_weights.json",
        "calibration_config": live / "config" / "calibration.json",
        "meta_agent": live / "meta_agent" / "policy_params.json",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(DECOY_CONTENT)
    return files


@pytest.fixture
def attempt(tmp_path: Path, calpolicy_config: Config) -> Callable[..., SandboxResult]:
    """Run one task of ``attempts.py`` in the real sandbox (CLM log readable, a fresh job folder writable)."""

    def _run(task: str, **args: Any) -> SandboxResult:
        workdir = tmp_path / f"job_{task}"
        workdir.mkdir(exist_ok=True)
        try:
            return run_sandboxed(f"{ATTEMPTS}:{task}", workdir, [calpolicy_config.paths.clm_file], args, timeout_s=60)
        except SandboxError as error:
            raise CouldNotCheck(f"the sandbox could not run the attempt {task}: {error}") from None

    return _run


def assert_refused(result: SandboxResult, operation: str, target: str | None = None) -> None:
    """The sandbox stopped the task at the attempt, naming the operation (and path or address)."""
    __tracebackhide__ = True
    if result.result is not None and result.result.get("went_through"):
        pytest.fail(f"LOCKDOWN BROKEN: {operation} went through inside the sandbox ({result.os_guard})")
    if result.violation is None:
        raise CouldNotCheck(f"the attempt neither went through nor was refused: {result.error or result.stderr_tail}")
    assert result.violation["operation"] == operation, result.violation
    if target is not None:
        assert os.path.realpath(result.violation["target"]) == os.path.realpath(target) or (
            result.violation["target"] == target
        ), result.violation


@pytest.fixture(scope="session")
def job_manifest(pytestconfig: pytest.Config) -> dict[str, Any] | None:
    job = job_dir(pytestconfig)
    if job is None:
        return None
    path = job / "manifest.json"
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CouldNotCheck(f"cannot read the job's manifest {path}: {error}") from None
