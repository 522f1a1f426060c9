"""The Redis probe against a real redis-server: latency, backlog, halt keys, market state, failures."""

from __future__ import annotations

import threading

import pytest

from calpolicy.config import MarketConfig, RedisConfig
from calpolicy.localenv.redis_server import RedisServer
from calpolicy.probes import ProbeError
from calpolicy.probes.market import market_finding
from calpolicy.probes.redis_probe import connect, halt_state, measure_latency, stream_backlogs

HALT_KEYS = RedisConfig().halt_keys


def _config(server: RedisServer, **values: object) -> RedisConfig:
    return RedisConfig(url=server.url, **values)


def test_latency_of_a_healthy_server_is_low(fresh_redis: RedisServer) -> None:
    with connect(_config(fresh_redis)) as client:
        stats = measure_latency(client, samples=20, duration_s=0.1)
    assert stats.samples == 20
    assert 0 < stats.min_ms <= stats.p50_ms <= stats.p99_ms <= stats.max_ms < 50


def test_a_slowed_server_shows_in_the_maximum(fresh_redis: RedisServer) -> None:
    """DEBUG SLEEP from another connection blocks the server the way a stall on the live bus would."""
    sleeper = threading.Thread(
        target=lambda: fresh_redis.client().execute_command("DEBUG", "SLEEP", "0.2"), daemon=True
    )
    with connect(_config(fresh_redis)) as client:
        client.ping()
        threading.Timer(0.05, sleeper.start).start()
        stats = measure_latency(client, samples=30, duration_s=0.3)
    sleeper.join(5)
    assert stats.max_ms >= 100, stats


def test_a_server_slower_than_the_socket_timeout_cannot_be_checked(fresh_redis: RedisServer) -> None:
    blocker = fresh_redis.client()
    sleeper = threading.Thread(target=lambda: blocker.execute_command("DEBUG", "SLEEP", "1"), daemon=True)

    def scenario() -> None:
        with connect(_config(fresh_redis, timeout_s=0.2)) as client:
            client.ping()
            sleeper.start()
            threading.Event().wait(0.1)
            measure_latency(client, samples=5, duration_s=0.05)

    with pytest.raises(ProbeError, match=r"did not answer within 0\.2 s"):
        scenario()
    sleeper.join(5)


def test_connection_refused_is_a_probe_error() -> None:
    server = RedisServer().start()
    config = _config(server)
    server.stop()  # the bus goes away between configuration and the check
    with pytest.raises(ProbeError, match="cannot connect to Redis"), connect(config) as client:
        measure_latency(client, samples=3, duration_s=0.01)


def test_server_stopped_mid_run_is_a_probe_error() -> None:
    server = RedisServer().start()

    def scenario() -> None:
        with connect(_config(server)) as client:
            client.ping()
            server.stop()
            measure_latency(client, samples=5, duration_s=0.05)

    with pytest.raises(ProbeError, match="Redis"):
        scenario()


def test_auth_failure_is_a_probe_error(fresh_redis: RedisServer) -> None:
    admin = fresh_redis.client()
    admin.config_set("requirepass", "s3cret")
    try:
        config = RedisConfig(url=fresh_redis.url.replace("redis://", "redis://:wrong@"))
        with pytest.raises(ProbeError, match="credentials") as caught, connect(config) as client:
            client.ping()
        assert "wrong" not in str(caught.value)  # the password never reaches a message
    finally:
        admin.config_set("requirepass", "")


def test_backlog_of_a_consumer_group(fresh_redis: RedisServer) -> None:
    client = fresh_redis.client()
    client.xadd("s", {"a": 1})
    client.xgroup_create("s", "g", id="$")
    for i in range(5):
        client.xadd("s", {"n": i})
    client.xreadgroup("g", "c1", {"s": ">"}, count=2)  # 2 delivered, unacknowledged; 3 never read
    with connect(_config(fresh_redis)) as probe_client:
        (group,) = stream_backlogs(probe_client, ("s",))
    assert (group.group, group.pending, group.lag, group.backlog) == ("g", 2, 3, 3)


def test_backlog_of_a_missing_stream_or_a_wrong_type_is_a_probe_error(fresh_redis: RedisServer) -> None:
    fresh_redis.client().set("not-a-stream", "x")
    with pytest.raises(ProbeError, match="does not exist"), connect(_config(fresh_redis)) as client:
        stream_backlogs(client, ("absent",))
    with pytest.raises(ProbeError, match="is a Redis string"), connect(_config(fresh_redis)) as client:
        stream_backlogs(client, ("not-a-stream",))


@pytest.mark.parametrize(
    ("key", "value", "halted"),
    [
        ("quantum:global:kill_switch", "1", True),
        ("quantum:global:kill_switch", "0", False),
        ("quantum:system:mode", "LOCKDOWN", True),
        ("quantum:system:mode", "NORMAL", False),
        ("quantum:governor:halt", "anything", True),
        ("quantum:safety:safe_mode", "", True),
    ],
)
def test_halt_keys(fresh_redis: RedisServer, key: str, value: str, halted: bool) -> None:
    fresh_redis.client().set(key, value)
    with connect(_config(fresh_redis)) as client:
        state = halt_state(client, HALT_KEYS)
    assert state.halted is halted
    assert (key in state.tripped) is halted


def test_no_halt_key_set_is_not_halted(fresh_redis: RedisServer) -> None:
    with connect(_config(fresh_redis)) as client:
        assert not halt_state(client, HALT_KEYS).halted


def test_halt_key_of_the_wrong_type_is_a_probe_error(fresh_redis: RedisServer) -> None:
    fresh_redis.client().hset("quantum:system:mode", "x", "1")
    with pytest.raises(ProbeError, match="is a Redis hash"), connect(_config(fresh_redis)) as client:
        halt_state(client, HALT_KEYS)


def _market(server: RedisServer, **fields: str) -> str:
    server.client().hset("quantum:marketstate:BTCUSDT", mapping=fields)
    with connect(_config(server)) as client:
        finding = market_finding(client, MarketConfig(symbols=("BTCUSDT",)))
    return f"{finding.status}: {finding.message}"


def test_market_calm_spike_and_halt(fresh_redis: RedisServer) -> None:
    assert _market(fresh_redis, volume_ratio="1.5", halt="0").startswith("pass")
    assert _market(fresh_redis, volume_ratio="3.5").startswith("fail: market extreme: BTCUSDT volume is 3.5×")
    assert "BTCUSDT is halted" in _market(fresh_redis, volume_ratio="1.0", halt="1")


def test_market_without_source_or_data_cannot_be_checked(fresh_redis: RedisServer) -> None:
    with connect(_config(fresh_redis)) as client:
        with pytest.raises(ProbeError, match=r"set market\.symbols"):
            market_finding(client, MarketConfig())
        with pytest.raises(ProbeError, match="no market data for ETHUSDT"):
            market_finding(client, MarketConfig(symbols=("ETHUSDT",)))
        client.hset("quantum:marketstate:ETHUSDT", "halt", "0")
        with pytest.raises(ProbeError, match="no field 'volume_ratio'"):
            market_finding(client, MarketConfig(symbols=("ETHUSDT",)))


def test_a_redis_error_inside_connect_is_a_probe_error_naming_the_server(fresh_redis: RedisServer) -> None:
    """Whatever a probe asks inside ``connect``, a Redis error reply comes out as ``ProbeError``."""
    expected = r"^Redis at redis://127\.0\.0\.1:\d+/0 answered with an error: "
    with pytest.raises(ProbeError, match=expected), connect(_config(fresh_redis)) as client:
        client.xinfo_groups("absent")


def test_a_password_in_the_url_never_reaches_a_message() -> None:
    server = RedisServer().start()
    url = server.url.replace("redis://", "redis://user:hunter2@")
    server.stop()
    with pytest.raises(ProbeError) as caught, connect(RedisConfig(url=url)) as client:
        client.ping()
    assert "hunter2" not in str(caught.value)
    assert "redis://***@127.0.0.1:" in str(caught.value)
