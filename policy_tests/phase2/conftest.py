"""Fixtures for Phase 2: the proposal under review and the bounds verdict on it.

With ``--job DIR`` the proposal is the job's ``proposal.json`` (what the reviewer will approve); without
it, the proposal is computed here from the configured CLM log, so the suite also works as a dry run.
Anything that keeps the proposal from being produced or read is "could not check" — a STOP.
"""

from __future__ import annotations

from typing import Any

import pytest

from calpolicy.files.strict_json import parse_json
from calpolicy.plugin import CouldNotCheck, job_dir
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Verdict


@pytest.fixture(scope="session")
def proposal_json(pytestconfig: pytest.Config, calpolicy_config: Config, request: pytest.FixtureRequest) -> str:
    """The proposal's JSON text, exactly as it would sit in the job folder."""
    from calpolicy.calibrate import ProposalError, propose

    job = job_dir(pytestconfig)
    if job:
        path = job / "proposal.json"
        try:
            return path.read_text(encoding="utf-8")
        except OSError as error:
            raise CouldNotCheck(f"cannot read the job's proposal {path}: {error.strerror}") from None
    log = request.getfixturevalue("clm_log")
    try:
        return propose(log, calpolicy_config, seed=0).to_json()
    except ProposalError as error:
        raise CouldNotCheck(f"no proposal could be made from {log.path}: {error}") from None


@pytest.fixture(scope="session")
def proposal_raw(proposal_json: str) -> dict[str, Any]:
    try:
        raw = parse_json(proposal_json)
    except ValueError as error:
        raise CouldNotCheck(f"proposal.json is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise CouldNotCheck("proposal.json is not a JSON object")
    return raw


@pytest.fixture(scope="session")
def proposal(proposal_json: str) -> Any:
    from calpolicy.calibrate import Proposal, ProposalError

    try:
        return Proposal.from_json(proposal_json)
    except ProposalError as error:
        raise CouldNotCheck(str(error)) from None


@pytest.fixture(scope="session")
def bounds_verdict(
    proposal: Any, calpolicy_config: Config, pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> Verdict:
    """P2.2.a–d. Without a job the analysed log is at hand, so the band is checked at every data point too."""
    from calpolicy.calibrate.bounds import check_bounds

    log = None if pytestconfig.getoption("--job") else request.getfixturevalue("clm_log")
    return check_bounds(proposal, calpolicy_config, log)
