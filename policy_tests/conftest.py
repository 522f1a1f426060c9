"""Live-probe fixtures for the policy suite: each target is asked once per run, and never skipped.

A probe that cannot answer raises ``CouldNotCheck`` from the fixture, so every test that depends on it
is reported as "could not check" (a STOP) with the probe's own message, instead of silently vanishing.
Live checks judge against the wall clock, not ``--calpolicy-now``: a journal window or an on-call
period is about the real present, whatever instant the data checks are told to assume.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calpolicy.config import Config
from calpolicy.probes.readiness import ReadinessResponse, fetch_readiness
from calpolicy.probes.systemd import UnitState, query_units
from policy_tests.live import probe


@pytest.fixture(scope="session")
def wall_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="session")
def unit_states(calpolicy_config: Config) -> dict[str, UnitState]:
    units = calpolicy_config.systemd.units
    return probe("the systemd units", lambda: query_units(units, calpolicy_config.systemd))


@pytest.fixture(scope="session")
def readiness_response(calpolicy_config: Config) -> ReadinessResponse:
    return probe("the learning cadence API", lambda: fetch_readiness(calpolicy_config.readiness))
