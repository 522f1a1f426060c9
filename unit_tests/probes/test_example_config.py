"""docs/calpolicy.example.toml against servers that answer like the real host (issue 20: GO with the example
config and no waiver on a healthy host; STOP on the host's own danger signals).

Only the addresses are pointed at the loopback stand-ins; every other probe setting is the example's own.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from calpolicy.localenv.readiness_server import ReadinessServer, Reply
from calpolicy.localenv.redis_server import HALT_KEYS_CLEAR, RedisServer, publish_market_state
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.market import market_finding
from calpolicy.preflight.probes.readiness import fetch_readiness, readiness_findings
from calpolicy.preflight.probes.redis.connection import connect
from calpolicy.preflight.probes.redis.halt import halt_state
from calpolicy.vocabulary.config import Config, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "calpolicy.example.toml"


def _example(redis_server: RedisServer, readiness_server: ReadinessServer) -> Config:
    config = load_config(EXAMPLE, environ={})
    assert not config.waivers  # GO must need no waiver
    real_route = config.readiness.url.replace("127.0.0.1:8003", f"127.0.0.1:{readiness_server.port}")
    return config.with_overrides({"redis.url": redis_server.url, "readiness.url": real_route}, "test")


def _halt(config: Config) -> object:
    with connect(config.redis) as client:
        return halt_state(client, config.redis.halt_keys, config.redis.halt_true_values, config.redis.halt_false_values)


def test_the_example_points_at_the_real_learning_api_route() -> None:
    assert load_config(EXAMPLE, environ={}).readiness.url == "http://127.0.0.1:8003/readiness/simple"


def test_the_example_is_go_on_the_hosts_healthy_answers(
    fresh_redis: RedisServer, readiness_server: ReadinessServer
) -> None:
    config = _example(fresh_redis, readiness_server)
    client = fresh_redis.client()
    publish_market_state(client, ("BTCUSDT", "ETHUSDT"), time.time())
    client.mset(HALT_KEYS_CLEAR)
    readiness_server.reply = Reply()  # {"ready": true, "actions": ["calibration", "shadow"]}
    findings = readiness_findings(fetch_readiness(config.readiness), config.readiness)
    assert {f.status for f in findings} == {"pass"}, findings
    with connect(config.redis) as probe:
        assert market_finding(probe, config.market).status == "pass"
    assert not _halt(config).halted  # type: ignore[attr-defined]


@pytest.mark.parametrize(("value", "halted"), [("true", True), ("TRUE", True), ("yes", True), ("false", False)])
def test_the_example_reads_the_kill_switch_as_the_host_writes_it(
    fresh_redis: RedisServer, readiness_server: ReadinessServer, value: str, halted: bool
) -> None:
    config = _example(fresh_redis, readiness_server)
    fresh_redis.client().mset({**HALT_KEYS_CLEAR, "quantum:global:kill_switch": value})
    assert _halt(config).halted is halted  # type: ignore[attr-defined]


def test_the_example_does_not_read_learning_frozen_0_as_a_halt_nor_garbage_as_calm(
    fresh_redis: RedisServer, readiness_server: ReadinessServer
) -> None:
    config = _example(fresh_redis, readiness_server)
    fresh_redis.client().mset({**HALT_KEYS_CLEAR, "quantum:learning:frozen": "0"})
    assert not _halt(config).halted  # type: ignore[attr-defined]
    fresh_redis.client().set("quantum:learning:frozen", "garbage")
    with pytest.raises(ProbeError, match=r"quantum:learning:frozen = 'garbage'"):
        _halt(config)
