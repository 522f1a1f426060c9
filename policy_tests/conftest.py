"""Live-probe fixtures for the policy suite: each target is asked once per run, and never skipped.

A probe that cannot answer raises ``CouldNotCheck`` from the fixture, so every test that depends on it
is reported as "could not check" (a STOP) with the probe's own message, instead of silently vanishing.
Live checks judge against the wall clock, not ``--calpolicy-now``: a journal window or an on-call
period is about the real present, whatever instant the data checks are told to assume.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from types import FrameType

import pytest

from calpolicy.plugin import CouldNotCheck, item_controls
from calpolicy.preflight.probes.readiness import ReadinessResponse, fetch_readiness
from calpolicy.preflight.probes.redis.latency import LatencySampler
from calpolicy.preflight.probes.systemd import UnitState, query_units
from calpolicy.vocabulary.config import Config, ConfigError, load_config
from policy_tests.live import probe

LATENCY_TEST = "test_redis_latency"
_SAMPLER_KEY = pytest.StashKey[LatencySampler]()
# Set by ``calpolicy.preflight.run_preflight``: the most one test's setup or call may take. A probe that
# overruns it costs its own items ("could not check", named) and the run goes on; without it a single
# hung probe ends the whole suite at the parent's timeout and every finding is lost.
TEST_TIMEOUT_ENV = "CALPOLICY_TEST_TIMEOUT_S"


def _test_timeout() -> float:
    try:
        value = float(os.environ.get(TEST_TIMEOUT_ENV, "0"))
    except ValueError:
        return 0.0
    return value if 0 < value < 86_400 else 0.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _Deadline(item, "setting up"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _Deadline(item, "running"):
        yield


class _Deadline:
    """SIGALRM after the per-test timeout raises ``CouldNotCheck`` naming the test's items."""

    def __init__(self, item: pytest.Item, what: str) -> None:
        self.seconds = _test_timeout() if hasattr(signal, "SIGALRM") else 0.0
        self.item = item
        self.what = what

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        ids = ", ".join(item_controls(self.item)) or "(no control ID)"
        raise CouldNotCheck(
            f"{ids}: the check did not finish {self.what} ({self.item.name}) within the per-test timeout of "
            f"{self.seconds:g} s and was stopped; the other items are unaffected"
        )

    def __enter__(self) -> None:
        if self.seconds:
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


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
