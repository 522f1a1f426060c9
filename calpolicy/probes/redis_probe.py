"""The bus: round-trip latency, consumer-group backlog and the halt/safety keys (P0.1.f, S.e).

Latency is measured the way ``redis-cli --latency`` does it — timed PINGs, one after another on one
connection — so the number means what the operators' command means. Every Redis failure (refused,
auth, timeout, a key of the wrong type) becomes ``ProbeError``: a bus we cannot read is not a calm bus.

Each probe runs under one wall-clock deadline (``redis.deadline_s``): a watchdog disconnects the pool when
it runs out, because socket timeouts are per read and a server answering one byte every 1.5 s never
trips a 2 s timeout. A server is believed to be Redis only after it echoes a random token back, and a
TYPE answer outside Redis's own vocabulary is an error: a fake that answers ``+PONG`` to everything must
read as "could not check", never as a tripped halt key.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import secrets
import select
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from calpolicy.config import RedisConfig
from calpolicy.probes.command import ProbeError
from calpolicy.probes.urls import mask_url

REDIS_TYPES = frozenset({"none", "string", "list", "set", "zset", "hash", "stream", "ReJSON-RL", "TSDB-TYPE"})


class _Watchdog:
    """Disconnects every connection of a pool at the deadline, so a blocked read returns at once."""

    def __init__(self, pool: redis.ConnectionPool, seconds: float) -> None:
        self.fired = False
        self._pool = pool
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        # a half-built connection may fail to close; the read it blocks still returns
        with contextlib.suppress(Exception):
            self._pool.disconnect()

    def cancel(self) -> None:
        self._timer.cancel()


@contextmanager
def connect(config: RedisConfig, extra_s: float = 0.0) -> Iterator[redis.Redis]:
    """One verified connection under one deadline (``deadline_s`` + ``extra_s``); errors → ``ProbeError``."""
    budget = config.deadline_s + extra_s
    try:
        pool = redis.ConnectionPool.from_url(
            config.url,
            socket_timeout=config.timeout_s,
            socket_connect_timeout=config.timeout_s,
            decode_responses=True,
            retry_on_timeout=False,
            retry=None,
        )
    except ValueError as error:
        raise ProbeError(f"redis.url {mask_url(config.url)} is not a usable Redis URL: {error}") from None
    watchdog = _Watchdog(pool, budget)
    client = redis.Redis(connection_pool=pool)
    try:
        _verify_is_redis(client, config)
        yield client
    except ProbeError:
        if watchdog.fired:
            raise _overran(config, budget) from None
        raise
    except Exception as error:
        if watchdog.fired:
            raise _overran(config, budget) from None
        if isinstance(error, redis.RedisError):
            raise _translated(error, config) from None
        if isinstance(error, AttributeError | TypeError | ValueError | KeyError | IndexError):
            raise ProbeError(  # redis-py choked on a reply: the server's answer, not ours, is malformed
                f"Redis at {_safe(config.url)} sent a reply that cannot be interpreted "
                f"({type(error).__name__}: {str(error)[:120]})"
            ) from None
        raise
    finally:
        watchdog.cancel()
        client.close()
        pool.disconnect()


def _overran(config: RedisConfig, budget: float) -> ProbeError:
    return ProbeError(
        f"Redis at {_safe(config.url)} did not finish within the probe's overall deadline of {budget:g} s "
        f"(redis.deadline_s): the server answers too slowly"
    )


def _verify_is_redis(client: redis.Redis, config: RedisConfig) -> None:
    """Connect (redis-py's HELLO handshake) and ECHO a random token: only Redis gets both right."""
    token = secrets.token_hex(8)
    try:
        answer = client.echo(token)
    except redis.RedisError:
        raise
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as error:
        raise ProbeError(
            f"the server at {_safe(config.url)} answered the Redis handshake with something Redis never "
            f"sends ({type(error).__name__}: {str(error)[:120]}): it does not behave like Redis"
        ) from None
    if answer != token:
        raise ProbeError(
            f"the server at {_safe(config.url)} does not behave like Redis (ECHO {token} answered "
            f"{str(answer)[:60]!r}): nothing it says can be trusted"
        )


def checked_type(client: redis.Redis, key: str) -> str:
    kind = str(client.type(key))
    if kind not in REDIS_TYPES:
        raise ProbeError(f"Redis answered TYPE {key} with {kind[:60]!r}, which is not a Redis type")
    return kind


def _translated(error: redis.RedisError, config: RedisConfig) -> ProbeError:
    where = _safe(config.url)
    if isinstance(error, redis.AuthenticationError):
        return ProbeError(f"Redis at {where} refused our credentials: {error}")
    if isinstance(error, redis.TimeoutError):
        return ProbeError(f"Redis at {where} did not answer within {config.timeout_s:g} s: {error}")
    if isinstance(error, redis.ConnectionError):
        return ProbeError(f"cannot connect to Redis at {where}: {error}")
    if isinstance(error, redis.ResponseError):
        return ProbeError(f"Redis at {where} answered with an error: {error}")
    return ProbeError(f"Redis at {where} failed: {error}")


def _safe(url: str) -> str:
    """The URL without user name or password, for messages (the one masking every probe uses)."""
    return mask_url(url)


# ------------------------------------------------------------------------------------------ latency


@dataclass(frozen=True)
class LatencyStats:
    samples: int
    min_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float]:
        return {
            "samples": self.samples,
            "min_ms": round(self.min_ms, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def measure_latency(client: redis.Redis, samples: int, duration_s: float) -> LatencyStats:
    """``samples`` timed PINGs spread evenly over about ``duration_s`` seconds on one connection."""
    client.ping()  # connect first: the handshake is not part of the bus's latency
    interval = duration_s / samples
    timings: list[float] = []
    start = time.perf_counter()
    for i in range(samples):
        target = start + i * interval
        pause = target - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        t0 = time.perf_counter()
        client.ping()
        timings.append((time.perf_counter() - t0) * 1000.0)
    ordered = sorted(timings)
    return LatencyStats(len(ordered), ordered[0], _quantile(ordered, 0.5), _quantile(ordered, 0.99), ordered[-1])


# ------------------------------------------------------------------------------------------ backlog


@dataclass(frozen=True)
class GroupBacklog:
    stream: str
    group: str
    pending: int
    lag: int | None

    @property
    def backlog(self) -> int:
        return max(self.pending, self.lag or 0)


def stream_backlogs(client: redis.Redis, streams: tuple[str, ...], cap: int = 100_000) -> list[GroupBacklog]:
    """Pending entries and lag of every consumer group of each stream.

    No stream configured, a missing stream, or a stream without a consumer group is an error: each
    would otherwise read as "no backlog" with nothing measured.

    Redis reports ``lag`` as null when it cannot compute it cheaply (a group created at ``$``, deleted
    entries); then the entries after the group's last-delivered ID are counted, up to ``cap`` + 1.
    """
    if not streams:
        raise ProbeError("redis.backlog_streams is empty, so no backlog was measured (an empty source is not calm)")
    found: list[GroupBacklog] = []
    for stream in streams:
        kind = checked_type(client, stream)
        if kind == "none":
            raise ProbeError(f"stream {stream} does not exist in Redis (redis.backlog_streams)")
        if kind != "stream":
            raise ProbeError(f"key {stream} is a Redis {kind}, not a stream (redis.backlog_streams)")
        groups = client.xinfo_groups(stream)
        if not groups:
            raise ProbeError(
                f"stream {stream} has no consumer group, so its backlog cannot be measured "
                "(nobody consumes it, or redis.backlog_streams names the wrong stream)"
            )
        for info in groups:
            lag = info.get("lag")
            if lag is None:
                unread = client.xrange(stream, min=f"({info['last-delivered-id']}", max="+", count=cap + 1)
                lag = len(unread)
            found.append(GroupBacklog(stream, str(info["name"]), int(info["pending"]), int(lag)))
    return found


# ------------------------------------------------------------------------------------------ halt keys


@dataclass(frozen=True)
class HaltState:
    """Which configured halt keys are set, and to what."""

    tripped: dict[str, str] = field(default_factory=dict)
    checked: tuple[str, ...] = ()

    @property
    def halted(self) -> bool:
        return bool(self.tripped)


def halt_state(client: redis.Redis, halt_keys: dict[str, tuple[str, ...]]) -> HaltState:
    """A key trips when it exists and its value matches one of its patterns (``*`` = any value).

    A key whose pattern list is ``("*",)`` may be of any type (existence is the signal); a key with
    specific values must be a string, and another type is an error rather than a guess.
    """
    if not halt_keys:
        raise ProbeError("redis.halt_keys is empty, so HALT cannot be ruled out (an empty source is not calm)")
    tripped: dict[str, str] = {}
    for key, patterns in halt_keys.items():
        kind = checked_type(client, key)
        if kind == "none":
            continue
        if patterns == ("*",) or ("*" in patterns and kind != "string"):
            tripped[key] = f"<{kind}>" if kind != "string" else str(client.get(key))
            continue
        if kind != "string":
            raise ProbeError(f"halt key {key} is a Redis {kind}, expected a string value")
        value = str(client.get(key))
        if any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns):
            tripped[key] = value
    return HaltState(tripped=tripped, checked=tuple(halt_keys))


# ------------------------------------------------------------------------------------------ in the background


class LatencySampler:
    """Latency sampling in a forked child, so its (mostly sleeping) seconds overlap the other checks.

    A thread would not do: the CPU-bound data checks running beside it would hold the GIL and show up
    as bus latency. A child process has its own interpreter and measures only the bus. ``result()``
    gives the ``LatencyStats`` or raises the child's ``ProbeError``.
    """

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: measure, report, and leave without running any parent clean-up
            try:  # whatever happens, this copy of the parent must never return into the parent's code
                os.close(read_end)
                try:
                    with connect(config, extra_s=config.latency_duration_s) as client:
                        stats = measure_latency(client, config.latency_samples, config.latency_duration_s)
                    payload = {"stats": stats.__dict__}
                except ProbeError as error:
                    payload = {"error": str(error)}
                except BaseException as error:  # the parent must hear about anything at all
                    payload = {"error": f"latency sampling failed: {error!r}"}
                os.write(write_end, json.dumps(payload).encode())
            except BaseException:  # the parent went away (a broken pipe): nobody is left to tell
                pass
            finally:
                os._exit(0)
        os.close(write_end)
        self._read = read_end

    def result(self) -> LatencyStats:
        budget = self.config.latency_duration_s + self.config.deadline_s + 2.0
        chunks: list[bytes] = []
        deadline = time.monotonic() + budget
        try:
            while True:
                remaining = deadline - time.monotonic()
                ready, _, _ = select.select([self._read], [], [], max(0.0, remaining))
                if not ready:
                    os.kill(self.pid, signal.SIGKILL)
                    raise ProbeError(f"Redis latency sampling did not finish within {budget:g} s")
                chunk = os.read(self._read, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self._read)
            os.waitpid(self.pid, 0)
        try:
            payload = json.loads(b"".join(chunks))
        except ValueError:
            raise ProbeError("Redis latency sampling ended without a result") from None
        if "error" in payload:
            raise ProbeError(payload["error"])
        return LatencyStats(**payload["stats"])
