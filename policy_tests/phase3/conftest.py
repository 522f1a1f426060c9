"""Fixtures for Phase 3: the job folder under review (``--job DIR``) and what it holds.

Phase 3 is about a job's actual files, so without ``--job`` there is nothing to check: that is "could not
check" (a STOP), never a pass. The bounds are recomputed from the job's proposal with the *current*
config (``bounds_verdict`` from phase 2's conftest is not visible here, so it is rebuilt the same way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calpolicy.files.strict_json import parse_json
from calpolicy.plugin import CouldNotCheck
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Verdict


@pytest.fixture(scope="session")
def job_dir(pytestconfig: pytest.Config) -> Path:
    raw = pytestconfig.getoption("--job")
    if not raw:
        raise CouldNotCheck("Phase 3 checks a job's files: run with --job DIR (as `calpolicy run` does)")
    path = Path(raw)
    if not path.is_dir():
        raise CouldNotCheck(f"--job {raw}: no such job folder")
    return path


def _read_json(path: Path) -> Any:
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CouldNotCheck(f"{path.name} is missing from the job folder {path.parent}") from None
    except (OSError, ValueError) as error:
        raise CouldNotCheck(f"{path} cannot be read as JSON: {error}") from None


def _read_object(job_dir: Path, name: str) -> dict[str, Any]:
    value = _read_json(job_dir / name)
    if not isinstance(value, dict):
        raise CouldNotCheck(f"{name} is not a JSON object")
    return value


@pytest.fixture(scope="session")
def job_manifest(job_dir: Path) -> dict[str, Any]:
    return _read_object(job_dir, "manifest.json")


@pytest.fixture(scope="session")
def report_json(job_dir: Path) -> dict[str, Any]:
    return _read_object(job_dir, "report.json")


@pytest.fixture(scope="session")
def report_md(job_dir: Path) -> str:
    path = job_dir / "report.md"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise CouldNotCheck(f"report.md cannot be read: {error.strerror}") from None


@pytest.fixture(scope="session")
def job_proposal(job_dir: Path) -> Any:
    from calpolicy.calibrate import Proposal, ProposalError

    try:
        return Proposal.from_json((job_dir / "proposal.json").read_text(encoding="utf-8"))
    except OSError as error:
        raise CouldNotCheck(f"proposal.json cannot be read: {error.strerror}") from None
    except ProposalError as error:
        raise CouldNotCheck(str(error)) from None


@pytest.fixture(scope="session")
def job_bounds(job_proposal: Any, calpolicy_config: Config) -> Verdict:
    from calpolicy.calibrate.bounds import check_bounds

    return check_bounds(job_proposal, calpolicy_config)
