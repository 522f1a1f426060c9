"""The Redis probe against a real redis-server: latency, backlog, halt keys, market state, failures."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
import redis

from calpolicy.localenv.redis_server import RedisServer
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.redis.backlog import stream_backlogs
from calpolicy.preflight.probes.redis.connection import checked_type, connect
from calpolicy.preflight.probes.redis.halt import halt_state
from calpolicy.preflight.probes.redis.latency import LatencySampler, measure_latency
from calpolicy.vocabulary.config import RedisConfig
from calpolicy.vocabulary.decisions import GroupBacklog, LatencyStats, _quantile
from unit_tests.adversaries import FakeRedis

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
        ("quantum:global:kill_switch", "true", True),  # the host's ops scripts: SET quantum:global:kill_switch true
        ("quantum:global:kill_switch", "TRUE", True),
        ("quantum:global:kill_switch", "yes", True),  # the apply layer halts on true/1/yes
        ("quantum:global:kill_switch", " On ", True),
        ("quantum:global:kill_switch", "0", False),
        ("quantum:global:kill_switch", "false", False),  # ... and SET ... false to resume
        ("quantum:global:kill_switch", "No", False),
        ("quantum:learning:frozen", "0", False),  # off is off, not "set, so halted"
        ("quantum:learning:frozen", "1", True),
        ("quantum:system:mode", "LOCKDOWN", True),
        ("quantum:system:mode", "FREEZE", True),
        ("quantum:system:mode", "freeze", True),
        ("quantum:system:mode", "NORMAL", False),
        ("quantum:governor:halt", "true", True),
        ("quantum:safety:safe_mode", "", False),
    ],
)
def test_halt_keys(fresh_redis: RedisServer, key: str, value: str, halted: bool) -> None:
    fresh_redis.client().set(key, value)
    with connect(_config(fresh_redis)) as client:
        state = halt_state(client, HALT_KEYS)
    assert state.halted is halted
    assert (key in state.tripped) is halted


@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "tru"])
def test_a_halt_value_that_is_neither_is_could_not_check_quoting_it(fresh_redis: RedisServer, value: str) -> None:
    fresh_redis.client().set("quantum:global:kill_switch", value)
    with pytest.raises(ProbeError) as caught, connect(_config(fresh_redis)) as client:
        halt_state(client, HALT_KEYS)
    assert str(caught.value) == (
        "halt key value(s) that are neither a halt (true, 1, yes, on) nor clear (false, 0, no, off, ''), "
        f"case-insensitive: quantum:global:kill_switch = {value!r}; cannot tell whether the system is halted "
        "(redis.halt_true_values / redis.halt_false_values)"
    )


def test_a_tripped_key_is_a_halt_even_beside_an_unreadable_one(fresh_redis: RedisServer) -> None:
    client = fresh_redis.client()
    client.set("quantum:global:kill_switch", "true")
    client.set("quantum:learning:frozen", "perhaps")
    with connect(_config(fresh_redis)) as probe:
        state = halt_state(probe, HALT_KEYS)
    assert state.tripped == {"quantum:global:kill_switch": "true"}
    assert state.unreadable == {"quantum:learning:frozen": "perhaps"}


def test_no_halt_key_set_is_not_halted(fresh_redis: RedisServer) -> None:
    with connect(_config(fresh_redis)) as client:
        assert not halt_state(client, HALT_KEYS).halted


def test_halt_key_of_the_wrong_type_is_a_probe_error(fresh_redis: RedisServer) -> None:
    fresh_redis.client().hset("quantum:system:mode", "x", "1")
    with pytest.raises(ProbeError, match="is a Redis hash"), connect(_config(fresh_redis)) as client:
        halt_state(client, HALT_KEYS)


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


# ---------------------------------------------------------------- exact values (issue 14: mutation-tested)


def test_a_group_whose_lag_redis_cannot_tell_counts_the_unread_entries(fresh_redis: RedisServer) -> None:
    """After an XDEL Redis reports ``lag`` as null; the probe counts what follows last-delivered-id itself."""
    client = fresh_redis.client()
    ids = [client.xadd("s", {"n": n}) for n in range(5)]
    client.xgroup_create("s", "g", id="0")
    client.xdel("s", ids[2])
    client.xreadgroup("g", "c1", {"s": ">"}, count=1)  # delivers ids[0]; ids[1], ids[3], ids[4] are unread
    assert client.xinfo_groups("s")[0]["lag"] is None
    with connect(_config(fresh_redis)) as probe:
        assert stream_backlogs(probe, ("s",)) == [GroupBacklog("s", "g", pending=1, lag=3)]
        assert stream_backlogs(probe, ("s",), cap=1) == [GroupBacklog("s", "g", pending=1, lag=2)]  # cap + 1


def test_every_group_of_every_stream_is_reported(fresh_redis: RedisServer) -> None:
    client = fresh_redis.client()
    for stream in ("a", "b"):
        client.xadd(stream, {"n": 0})
        for group in ("g1", "g2"):
            client.xgroup_create(stream, group, id="0")
    with connect(_config(fresh_redis)) as probe:
        found = stream_backlogs(probe, ("a", "b"))
    assert [(g.stream, g.group, g.pending, g.lag) for g in found] == [
        ("a", "g1", 0, 1), ("a", "g2", 0, 1), ("b", "g1", 0, 1), ("b", "g2", 0, 1),
    ]  # fmt: skip


def test_a_backlog_is_the_larger_of_pending_and_lag_and_an_unknown_lag_counts_nothing() -> None:
    assert GroupBacklog("s", "g", pending=4, lag=None).backlog == 4
    assert GroupBacklog("s", "g", pending=0, lag=None).backlog == 0
    assert GroupBacklog("s", "g", pending=2, lag=7).backlog == 7


def test_a_key_watched_for_any_value_trips_on_any_type_and_names_it(fresh_redis: RedisServer) -> None:
    client = fresh_redis.client()
    client.hset("quantum:governor:halt", "why", "manual")
    client.set("quantum:safety:safe_mode", "on")
    keys = {"quantum:governor:halt": ("*",), "quantum:safety:safe_mode": ("*",), "absent": ("*",)}
    with connect(_config(fresh_redis)) as probe:
        state = halt_state(probe, keys)
    assert state.tripped == {"quantum:governor:halt": "<hash>", "quantum:safety:safe_mode": "on"}
    assert state.checked == ("quantum:governor:halt", "quantum:safety:safe_mode", "absent")


def test_a_wildcard_among_values_trips_a_key_of_another_type_but_matches_a_string(fresh_redis: RedisServer) -> None:
    client = fresh_redis.client()
    client.rpush("mode-list", "x")
    client.set("mode", "DEGRADED")
    keys = {"mode-list": ("LOCKDOWN", "*"), "mode": ("LOCK*", "HALT")}
    with connect(_config(fresh_redis)) as probe:
        assert halt_state(probe, keys).tripped == {"mode-list": "<list>"}
        client.set("mode", "LOCKDOWN_FULL")
        assert halt_state(probe, keys).tripped == {"mode-list": "<list>", "mode": "LOCKDOWN_FULL"}


def test_latency_figures_are_rounded_to_the_microsecond() -> None:
    stats = LatencyStats(samples=3, min_ms=0.12345, p50_ms=1.23456, p99_ms=12.34567, max_ms=123.45678)
    assert stats.as_dict() == {"samples": 3, "min_ms": 0.123, "p50_ms": 1.235, "p99_ms": 12.346, "max_ms": 123.457}


def test_the_quantiles_are_the_nearest_rank() -> None:
    values = [float(n) for n in range(101)]
    assert (_quantile(values, 0.0), _quantile(values, 0.5), _quantile(values, 0.99), _quantile(values, 1.0)) == (
        0.0, 50.0, 99.0, 100.0,
    )  # fmt: skip
    assert _quantile([7.0], 0.99) == 7.0


def test_the_pings_are_spread_over_the_duration(fresh_redis: RedisServer) -> None:
    """Five PINGs over 0.4 s go 0.1 s apart: the run cannot be shorter than the last one's start."""
    with connect(_config(fresh_redis)) as client:
        started = time.monotonic()
        stats = measure_latency(client, samples=5, duration_s=0.5)
        elapsed = time.monotonic() - started
    assert stats.samples == 5
    assert stats.min_ms <= stats.p50_ms <= stats.max_ms
    assert elapsed >= 0.4


def test_the_background_sampler_returns_the_configured_number_of_samples(fresh_redis: RedisServer) -> None:
    sampler = LatencySampler(_config(fresh_redis, latency_samples=7, latency_duration_s=0.05))
    stats = sampler.result()
    assert stats.samples == 7
    assert 0 < stats.min_ms <= stats.max_ms


def test_the_background_sampler_reports_a_refused_connection_as_a_probe_error() -> None:
    server = RedisServer().start()
    config = _config(server, latency_samples=3, latency_duration_s=0.05)
    server.stop()
    with pytest.raises(ProbeError, match=r"^cannot connect to Redis at redis://127\.0\.0\.1:\d+/0: "):
        LatencySampler(config).result()


# ---------------------------------------------------------------- issue 14, second pass: what the first run missed


def test_a_lag_redis_reports_is_taken_as_it_is_not_recounted_up_to_the_cap(fresh_redis: RedisServer) -> None:
    client = fresh_redis.client()
    client.xadd("s", {"n": 0})
    client.xgroup_create("s", "g", id="0")
    for n in range(1, 5):
        client.xadd("s", {"n": n})
    assert client.xinfo_groups("s")[0]["lag"] == 5
    with connect(_config(fresh_redis)) as probe:
        assert stream_backlogs(probe, ("s",), cap=1) == [GroupBacklog("s", "g", pending=0, lag=5)]


def test_a_type_answer_that_is_not_a_redis_type_is_quoted_cut_at_60_characters() -> None:
    with FakeRedis(reply=b"+" + b"y" * 100 + b"\r\n") as fake:
        client = redis.Redis.from_url(fake.url + "?protocol=2", decode_responses=True)
        with pytest.raises(ProbeError) as caught:
            checked_type(client, "k")
        client.close()
    assert str(caught.value) == f"Redis answered TYPE k with {'y' * 60!r}, which is not a Redis type"


def test_a_reply_outside_the_protocol_is_reported_as_a_failure_of_the_server() -> None:
    """Our frame around redis-py's words, whichever release: the library's own text is not our promise."""
    fake = FakeRedis(reply=b"?what\r\n")
    with fake, pytest.raises(ProbeError) as caught, connect(RedisConfig(url=fake.url, timeout_s=1.0)) as client:
        client.ping()
    assert re.fullmatch(
        rf"(the server at {re.escape(fake.url)} answered the Redis handshake with something Redis never sends "
        rf"\(\w+: .{{1,120}}\): it does not behave like Redis|Redis at {re.escape(fake.url)} failed: .+)",
        str(caught.value),
    ), caught.value


def test_a_single_sample_is_every_statistic_at_once(fresh_redis: RedisServer) -> None:
    with connect(_config(fresh_redis)) as client:
        stats = measure_latency(client, samples=1, duration_s=0.01)
    assert stats.samples == 1
    assert stats.min_ms == stats.p50_ms == stats.p99_ms == stats.max_ms > 0


def _latency_with_one_stall(server: RedisServer, stall: str, samples: int, duration_s: float) -> LatencyStats:
    """``samples`` PINGs over ``duration_s`` while, 0.1 s in, another connection stalls the server for
    ``stall`` seconds (DEBUG SLEEP): one real slow round trip among them."""
    sleeper = threading.Thread(target=lambda: server.client().execute_command("DEBUG", "SLEEP", stall), daemon=True)
    with connect(_config(server)) as client:
        threading.Timer(0.1, sleeper.start).start()
        stats = measure_latency(client, samples=samples, duration_s=duration_s)
    sleeper.join(5)
    return stats


def test_one_stalled_ping_among_101_shows_in_the_maximum_only(fresh_redis: RedisServer) -> None:
    """With 101 samples p99 is the second-largest: one 0.3 s stall moves the maximum, not p99 or the median."""
    stats = _latency_with_one_stall(fresh_redis, "0.3", samples=101, duration_s=0.3)
    assert stats.max_ms >= 200, stats
    assert stats.p99_ms < 200, stats
    assert stats.p50_ms < 200, stats


def test_the_background_sampler_gets_its_sampling_time_on_top_of_the_deadline(fresh_redis: RedisServer) -> None:
    """1 s of sampling under a 0.5 s deadline: the probe's deadline covers the connection, not the samples. A
    0.6 s stall from 0.2 s on holds a PING across the 0.5 s mark; it is measured, not cut off as an overrun."""
    sleeper = threading.Thread(
        target=lambda: fresh_redis.client().execute_command("DEBUG", "SLEEP", "0.6"), daemon=True
    )
    sampler = LatencySampler(_config(fresh_redis, latency_samples=5, latency_duration_s=1.0, deadline_s=0.5))
    threading.Timer(0.2, sleeper.start).start()
    stats = sampler.result()
    sleeper.join(5)
    assert stats.samples == 5
    assert stats.max_ms >= 300, stats


def test_the_background_sampler_waits_for_its_child_even_when_the_deadline_is_short(fresh_redis: RedisServer) -> None:
    stats = LatencySampler(_config(fresh_redis, latency_samples=3, latency_duration_s=0.2, deadline_s=0.1)).result()
    assert stats.samples == 3


def test_a_sampler_child_that_hangs_is_killed_at_its_budget(fresh_redis: RedisServer) -> None:
    """A child that stops (here: SIGSTOP) outlives its own watchdog; the parent gives up at duration + deadline
    + 2 s, kills it and says so."""
    sampler = LatencySampler(_config(fresh_redis, latency_samples=3, latency_duration_s=0.5, deadline_s=0.2))
    assert sampler.pid > 0  # never signal pid 0: that is this whole process group
    os.kill(sampler.pid, signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        sampler.result()
    assert str(caught.value) == "Redis latency sampling did not finish within 2.7 s"
    assert 2.0 < time.monotonic() - started < 6.0
    with pytest.raises(ChildProcessError):
        os.waitpid(sampler.pid, os.WNOHANG)  # killed and reaped: no stopped child left behind


def test_a_sampler_child_that_dies_without_a_word_is_could_not_check(fresh_redis: RedisServer) -> None:
    sampler = LatencySampler(_config(fresh_redis, latency_samples=3, latency_duration_s=0.5))
    assert sampler.pid > 0  # never signal pid 0: that is this whole process group
    os.kill(sampler.pid, signal.SIGKILL)
    with pytest.raises(ProbeError) as caught:
        sampler.result()
    assert str(caught.value) == "Redis latency sampling ended without a result"


def test_a_handshake_reply_redis_never_sends_is_named_with_its_error_cut_at_120_characters() -> None:
    """Issue 22 §1: redis-py 4 says ``ValueError: invalid literal ...``, redis-py 8 ``InvalidResponse: Protocol
    Error: b'$xxx...'``. What we promise is our sentence, with the library's words cut at 120 characters."""
    fake = FakeRedis(reply=b"$" + b"x" * 200 + b"\r\n")  # a bulk string whose length is not a number
    with fake, pytest.raises(ProbeError) as caught, connect(RedisConfig(url=fake.url, timeout_s=1.0)) as client:
        client.ping()
    found = re.fullmatch(
        rf"the server at {re.escape(fake.url)} answered the Redis handshake with something Redis never sends "
        r"\((?P<kind>\w+): (?P<detail>.*)\): it does not behave like Redis",
        str(caught.value),
        re.DOTALL,
    )
    assert found, caught.value
    assert len(found["detail"]) == 120  # every wording of a 200-byte bad reply is longer: ours cuts it here
    assert "x" * 20 in found["detail"]  # the offending bytes are quoted, whoever words the rest


def test_an_echo_that_is_not_the_token_is_quoted_cut_at_60_characters() -> None:
    with FakeRedis(reply=b"+" + b"z" * 100 + b"\r\n") as fake:
        url = fake.url + "?protocol=2"  # no HELLO: the ECHO is the first question
        with pytest.raises(ProbeError) as caught, connect(RedisConfig(url=url, timeout_s=1.0)) as client:
            client.ping()
    assert re.fullmatch(
        rf"the server at {re.escape(url)} does not behave like Redis \(ECHO [0-9a-f]{{16}} answered "
        rf"'{'z' * 60}'\): nothing it says can be trusted",
        str(caught.value),
    ), caught.value


def test_the_watchdog_cuts_a_trickling_reply_at_the_deadline_not_at_its_end() -> None:
    """+PONG at 0.4 s a byte takes 2.8 s and never trips the 2 s socket timeout; the 1 s deadline stops it."""
    slow = FakeRedis(byte_delay_s=0.4)
    started = time.monotonic()
    with slow, pytest.raises(ProbeError) as caught, connect(RedisConfig(url=slow.url, deadline_s=1.0)) as client:
        client.ping()
    assert time.monotonic() - started < 2.3
    assert "did not finish within the probe's overall deadline of 1 s" in str(caught.value)


def test_one_real_stall_among_the_pings_is_shown_but_does_not_turn_go_into_stop(fresh_redis: RedisServer) -> None:
    """Issue 22 §1 on a real server: one 80 ms stall (DEBUG SLEEP from another connection) among 50 PINGs is a
    GO on the default p95, and the stall is in the finding as its maximum."""
    from calpolicy.vocabulary.decisions import latency_finding

    stats = _latency_with_one_stall(fresh_redis, "0.08", samples=50, duration_s=0.5)
    finding = latency_finding(stats, RedisConfig().latency_statistic, RedisConfig().max_latency_ms)
    assert stats.max_ms >= 50, stats
    assert finding.status == "pass", finding.message
    assert f"over 50 PING(s), max {stats.max_ms:.1f} ms" in finding.message
