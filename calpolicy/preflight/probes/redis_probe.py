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
import math
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

from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.urls import mask_url
from calpolicy.vocabulary.config import RedisConfig

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
    except redis.exceptions.InvalidResponse as error:  # redis-py >= 5 names a malformed reply itself
        raise _not_redis(config, error) from None
    except redis.RedisError:
        raise
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as error:  # older redis-py chokes
        raise _not_redis(config, error) from None
    if answer != token:
        raise ProbeError(
            f"the server at {_safe(config.url)} does not behave like Redis (ECHO {token} answered "
            f"{str(answer)[:60]!r}): nothing it says can be trusted"
        )


def _not_redis(config: RedisConfig, error: Exception) -> ProbeError:
    """Our message for a handshake reply Redis never sends; redis-py's own words are quoted, cut at 120
    characters, whatever they are (they differ between releases)."""
    return ProbeError(
        f"the server at {_safe(config.url)} answered the Redis handshake with something Redis never "
        f"sends ({type(error).__name__}: {str(error)[:DETAIL_CHARS]}): it does not behave like Redis"
    )


DETAIL_CHARS = 120


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
    """The sampled PINGs in figures. ``p90_ms``, ``p95_ms`` and ``mean_ms`` are optional for stats built by
    hand; ``measure_latency`` always fills them."""

    samples: int
    min_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    p90_ms: float | None = None
    p95_ms: float | None = None
    mean_ms: float | None = None

    def as_dict(self) -> dict[str, float]:
        shown: dict[str, float] = {"samples": self.samples}
        for name in ("min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"):
            value = getattr(self, name)
            if value is not None:
                shown[name] = round(value, 3)
        return shown


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least ``q`` of all samples at or below it."""
    rank = math.ceil(q * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


def quantile_rank(samples: int, q: float) -> int:
    """The 1-based rank ``_quantile`` picks among ``samples`` values (``samples`` = it is the maximum)."""
    return min(samples, max(1, math.ceil(q * samples)))


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
    return stats_of(timings)


def stats_of(timings: list[float]) -> LatencyStats:
    """Every figure of a list of round trips in milliseconds (at least one)."""
    ordered = sorted(timings)
    return LatencyStats(
        samples=len(ordered),
        min_ms=ordered[0],
        p50_ms=_quantile(ordered, 0.5),
        p99_ms=_quantile(ordered, 0.99),
        max_ms=ordered[-1],
        p90_ms=_quantile(ordered, 0.90),
        p95_ms=_quantile(ordered, 0.95),
        mean_ms=sum(ordered) / len(ordered),
    )


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


BOOLEAN_PATTERN = "@bool"
"""A halt-key pattern meaning "read the value as the host means a boolean" (``redis.halt_true_values``)."""


@dataclass(frozen=True)
class HaltState:
    """Which configured halt keys are set, to what, and which held a value that cannot be judged."""

    tripped: dict[str, str] = field(default_factory=dict)
    checked: tuple[str, ...] = ()
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def halted(self) -> bool:
        return bool(self.tripped)


def _vocabulary(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values)


def boolean_halt(value: str, true_values: tuple[str, ...], false_values: tuple[str, ...]) -> bool | None:
    """The host's boolean reading of a halt value: True halted, False clear, None neither (cannot judge).

    The host's ops scripts write ``true``/``false``, its lockdown guard ``1``, its apply layer halts on
    ``true``/``1``/``yes`` (REAL_SYSTEM.md §4): case and surrounding blanks do not change the meaning.
    """
    word = value.strip().casefold()
    if word in _vocabulary(true_values):
        return True
    if word in _vocabulary(false_values):
        return False
    return None


def halt_state(
    client: redis.Redis,
    halt_keys: dict[str, tuple[str, ...]],
    true_values: tuple[str, ...] = ("true", "1", "yes", "on"),
    false_values: tuple[str, ...] = ("false", "0", "no", "off", ""),
) -> HaltState:
    """A key trips when it exists and its value matches one of its patterns.

    Patterns: ``*`` = any value (and any type: existence is the signal); ``@bool`` = the value read as a
    boolean (``true_values`` halt, ``false_values`` do not, anything else is unreadable); anything else is
    a glob matched case-insensitively (``FREEZE`` matches ``freeze``). A key with specific values must be
    a string; another type is an error rather than a guess. When no key trips but one holds a value that
    cannot be judged, that is a ``ProbeError`` naming the key and what it held: an unknown is not calm.
    """
    if not halt_keys:
        raise ProbeError("redis.halt_keys is empty, so HALT cannot be ruled out (an empty source is not calm)")
    tripped: dict[str, str] = {}
    unreadable: dict[str, str] = {}
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
        globs = [p for p in patterns if p != BOOLEAN_PATTERN]
        if any(fnmatch.fnmatchcase(value.casefold(), p.casefold()) for p in globs):
            tripped[key] = value
            continue
        if BOOLEAN_PATTERN in patterns:
            reading = boolean_halt(value, true_values, false_values)
            if reading:
                tripped[key] = value
            elif reading is None:
                unreadable[key] = value
    if unreadable and not tripped:
        shown = "; ".join(f"{k} = {v[:80]!r}" for k, v in unreadable.items())
        raise ProbeError(
            f"halt key value(s) that are neither a halt ({', '.join(true_values)}) nor clear "
            f"({', '.join(v if v else repr(v) for v in false_values)}), case-insensitive: {shown}; "
            "cannot tell whether the system is halted (redis.halt_true_values / redis.halt_false_values)"
        )
    return HaltState(tripped=tripped, checked=tuple(halt_keys), unreadable=unreadable)


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
