"""S.b against a real redis-server seeded as the real host publishes (issue 20 point 3).

The host's ``market_state_publisher`` writes ``quantum:marketstate:{SYMBOL}`` (sigma, mu, ts = trend
strength, dp, vr, spike_proxy, ts_timestamp, ...) and the stream ``quantum:stream:marketstate``; it has no
volume field. These tests seed exactly those names and formats (``calpolicy.localenv.redis_server``).
"""

from __future__ import annotations

import time

import pytest

from calpolicy.localenv.redis_server import MARKET_STREAM, RedisServer, market_fields, publish_market_state
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.market import market_finding
from calpolicy.preflight.probes.redis.connection import connect
from calpolicy.vocabulary.config import MarketConfig, RedisConfig
from calpolicy.vocabulary.verdict import Finding

SYMBOLS = ("BTCUSDT", "ETHUSDT")
NOW = float(int(time.time()))  # whole seconds, as the publisher writes ts_timestamp: ages come out exact


def _seeded(server: RedisServer, **kw: object) -> RedisServer:
    publish_market_state(server.client(), SYMBOLS, NOW, **kw)  # type: ignore[arg-type]
    return server


def _finding(server: RedisServer, config: MarketConfig | None = None, now: float = NOW) -> Finding:
    with connect(RedisConfig(url=server.url)) as client:
        return market_finding(client, config or MarketConfig(symbols=SYMBOLS), now=now)


def _error(server: RedisServer, config: MarketConfig | None = None, now: float = NOW) -> str:
    with pytest.raises(ProbeError) as caught:
        _finding(server, config, now)
    return str(caught.value)


def test_a_calm_market_as_the_host_publishes_it_passes_and_says_what_stood_in_for_volume(
    fresh_redis: RedisServer,
) -> None:
    finding = _finding(_seeded(fresh_redis))
    assert finding.status == "pass", finding
    assert finding.message.startswith("no market extreme (market.symbols): BTCUSDT sigma 1.00× its median over 60")
    assert finding.evidence["volume_stand_in"].startswith(
        "no 'volume_ratio' field for BTCUSDT, ETHUSDT: volatility stands in for volume — sigma against its 24 h "
        "median from quantum:stream:marketstate, and the recent-move ratio 1/spike_proxy"
    )
    btc = finding.evidence["symbols"]["BTCUSDT"]
    assert (btc["key"], btc["baseline_points"], btc["spike_proxy"]) == ("quantum:marketstate:BTCUSDT", 60, 0.95)


def test_a_volatility_spike_is_a_market_extreme(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis).client().hset("quantum:marketstate:ETHUSDT", "sigma", f"{0.0021 * 3.5:.8f}")
    finding = _finding(fresh_redis)
    assert finding.status == "fail"
    assert finding.message.startswith(
        "market extreme: ETHUSDT volatility sigma 0.00735 is 3.50× its 24 h median 0.0021 over 60 entries "
        "(> 3×, market.max_volatility_ratio)"
    ), finding.message


def test_exactly_three_times_normal_is_not_yet_extreme(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis).client().hset("quantum:marketstate:ETHUSDT", "sigma", f"{0.0021 * 3:.8f}")
    assert _finding(fresh_redis).status == "pass"  # the checklist says "> 300 %"


@pytest.mark.parametrize(("proxy", "extreme"), [("0.2", True), ("0", True), ("0.34", False), ("4.1", False)])
def test_a_price_move_spike_is_a_market_extreme(fresh_redis: RedisServer, proxy: str, extreme: bool) -> None:
    _seeded(fresh_redis).client().hset("quantum:marketstate:BTCUSDT", "spike_proxy", proxy)
    finding = _finding(fresh_redis)
    assert (finding.status == "fail") is extreme, finding.message
    if extreme:
        assert "BTCUSDT price-move spike: recent volatility is" in finding.message


def test_a_stale_market_state_cannot_be_checked(fresh_redis: RedisServer) -> None:
    client = _seeded(fresh_redis).client()
    client.hset("quantum:marketstate:BTCUSDT", "ts_timestamp", str(int(NOW - 301)))
    assert _error(fresh_redis) == (
        "market state of quantum:marketstate:BTCUSDT is stale: written 301 s ago, more than market.max_age_s = "
        "300 s (the publisher has stopped or lags)"
    )


def test_a_missing_hash_cannot_be_checked(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis).client().delete("quantum:marketstate:ETHUSDT")
    assert _error(fresh_redis).startswith(
        "no market data for ETHUSDT: Redis key quantum:marketstate:ETHUSDT does not exist"
    )


def _without_spike_proxy(server: RedisServer) -> None:
    for symbol in SYMBOLS:
        server.client().hdel(f"quantum:marketstate:{symbol}", "spike_proxy")


def test_too_little_history_and_no_spike_proxy_cannot_be_checked(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis, history_points=4)
    _without_spike_proxy(fresh_redis)
    assert _error(fresh_redis).startswith(
        "only 4 entries for BTCUSDT in quantum:stream:marketstate over the last 24 h, fewer than "
        "market.min_baseline_points = 5"
    )


def test_no_history_stream_and_no_spike_proxy_cannot_be_checked(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis).client().delete(MARKET_STREAM)
    _without_spike_proxy(fresh_redis)
    assert _error(fresh_redis).startswith("no market history: stream quantum:stream:marketstate does not exist")


def test_a_publisher_just_started_is_judged_on_its_spike_proxy_alone_and_says_so(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis).client().delete(MARKET_STREAM)
    finding = _finding(fresh_redis)
    assert finding.status == "pass", finding
    assert "sigma baseline not yet known" in finding.message
    assert finding.evidence["symbols"]["BTCUSDT"]["sigma_baseline"].startswith(
        "unknown, judged on spike_proxy alone: no market history"
    )


def test_a_spike_with_no_stream_history_is_still_a_market_extreme(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis, history_points=2).client().hset("quantum:marketstate:ETHUSDT", "spike_proxy", "0.25")
    finding = _finding(fresh_redis)
    assert finding.status == "fail"
    assert "ETHUSDT price-move spike" in finding.message


def test_history_older_than_the_baseline_window_is_not_the_normal(fresh_redis: RedisServer) -> None:
    _seeded(fresh_redis, history_points=60, interval_s=6 * 3600)  # 360 h of entries: 4 inside the last 24 h
    _without_spike_proxy(fresh_redis)
    assert "only 4 entries for BTCUSDT" in _error(fresh_redis)


@pytest.mark.parametrize("value", ["abc", "nan", "inf"])
def test_a_sigma_that_is_not_a_finite_number_cannot_be_checked(fresh_redis: RedisServer, value: str) -> None:
    _seeded(fresh_redis).client().hset("quantum:marketstate:BTCUSDT", "sigma", value)
    assert _error(fresh_redis) == f"quantum:marketstate:BTCUSDT sigma={value!r} is not a finite number"


def test_a_host_with_a_volume_field_is_judged_on_it(fresh_redis: RedisServer) -> None:
    client = _seeded(fresh_redis).client()
    client.hset("quantum:marketstate:BTCUSDT", "volume_ratio", "1.5")
    client.hset("quantum:marketstate:ETHUSDT", "volume_ratio", "1.1")
    calm = _finding(fresh_redis)
    assert calm.status == "pass"
    assert "volume_stand_in" not in calm.evidence
    client.hset("quantum:marketstate:BTCUSDT", "volume_ratio", "3.5")
    assert _finding(fresh_redis).message.startswith("market extreme: BTCUSDT volume is 3.5× normal (> 3×")


def test_a_halt_field_when_a_host_has_one(fresh_redis: RedisServer) -> None:
    client = _seeded(fresh_redis).client()
    client.hset("quantum:marketstate:BTCUSDT", "halt", "true")
    assert "BTCUSDT is halted (quantum:marketstate:BTCUSDT halt=true)" in _finding(fresh_redis).message
    client.hset("quantum:marketstate:BTCUSDT", "halt", "0")
    assert _finding(fresh_redis).status == "pass"
    client.hset("quantum:marketstate:BTCUSDT", "halt", "perhaps")
    assert "neither a halt nor a clear value" in _error(fresh_redis)


def test_symbols_are_discovered_when_none_is_configured(fresh_redis: RedisServer) -> None:
    finding = _finding(_seeded(fresh_redis), MarketConfig())
    assert finding.status == "pass"
    assert finding.evidence["symbols_from"] == "discovered by SCAN quantum:marketstate:*"
    assert sorted(finding.evidence["symbols"]) == ["BTCUSDT", "ETHUSDT"]


def test_nothing_published_and_nothing_configured_cannot_be_checked(fresh_redis: RedisServer) -> None:
    assert _error(fresh_redis, MarketConfig()).startswith(
        "no market state found: no Redis key matches quantum:marketstate:* (is the market state publisher running?)"
    )


def test_a_hash_with_neither_volume_nor_volatility_cannot_be_checked(fresh_redis: RedisServer) -> None:
    fields = market_fields(0.002, NOW)
    del fields["sigma"]
    client = _seeded(fresh_redis).client()
    client.delete("quantum:marketstate:BTCUSDT")
    client.hset("quantum:marketstate:BTCUSDT", mapping=fields)
    assert "has neither a volume field 'volume_ratio' nor a volatility field 'sigma'" in _error(fresh_redis)


def test_the_hosts_ts_is_not_taken_for_a_time(fresh_redis: RedisServer) -> None:
    client = _seeded(fresh_redis).client()
    client.hdel("quantum:marketstate:BTCUSDT", "ts_timestamp")
    assert "has no 'ts_timestamp' field, so its age is unknown" in _error(fresh_redis)
