"""Live-probe fixtures for the policy suite: each target is asked once per run, and never skipped.

A probe that cannot answer raises ``CouldNotCheck`` from the fixture, so every test that depends on it
is reported as "could not check" (a STOP) with the probe's own message, instead of silently vanishing.
Live checks judge against the wall clock, not ``--calpolicy-now``: a journal window or an on-call
period is about the real present, whatever instant the data checks are told to assume.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from calpolicy.config import Config, ConfigError, load_config
from calpolicy.probes.readiness import ReadinessResponse, fetch_readiness
from calpolicy.probes.redis_probe import LatencySampler
from calpolicy.probes.systemd import UnitState, query_units
from policy_tests.live import probe

LATENCY_TEST = "test_redis_latency"
_SAMPLER_KEY = pytest.StashKey[LatencySampler]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the Redis latency sampling now, in a child, so its second overlaps the other checks.

    Only when the latency test was selected and the config loads; otherwise the test measures inline
    (and a broken config is reported by ``calpolicy_config`` as usual).
    """
    if not any(item.name == LATENCY_TEST for item in session.items) or not hasattr(os, "fork"):
        return
    try:
        config = load_config(session.config.getoption("--calpolicy-config"))
    except ConfigError:
        return
    session.config.stash[_SAMPLER_KEY] = LatencySampler(config.redis)


@pytest.fixture(scope="session")
def latency_sampler(pytestconfig: pytest.Config) -> LatencySampler | None:
    return pytestconfig.stash.get(_SAMPLER_KEY, None)


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
