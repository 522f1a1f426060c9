"""Real targets for the probe tests: a redis-server, a readiness HTTP server and a booted systemd.

They come from ``calpolicy.localenv`` — the same code the demo uses — and are shared per module to keep
the run short. A systemd that cannot boot is a test failure, not a skip: CI runs as root, and the unit
checks are exactly what must not go untested.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calpolicy.localenv.readiness_server import ReadinessServer
from calpolicy.localenv.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> RedisServer:
    redis_server.client().flushall()
    return redis_server


@pytest.fixture(scope="module")
def readiness_server() -> Iterator[ReadinessServer]:
    with ReadinessServer() as server:
        yield server
