"""The bus: round-trip latency, consumer-group backlog and the halt/safety keys (P0.1.f, S.e).

Latency is measured the way ``redis-cli --latency`` does it — timed PINGs, one after another on one
connection — so the number means what the operators' command means. Every Redis failure (refused,
auth, timeout, a key of the wrong type) becomes ``ProbeError``: a bus we cannot read is not a calm bus.
"""

from __future__ import annotations

import fnmatch
import json
import os
import select
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from calpolicy.config import RedisConfig
from calpolicy.probes.command import ProbeError


@contextmanager
def connect(config: RedisConfig) -> Iterator[redis.Redis]:
    """One connection (no pool sharing between probes), every Redis error translated to ``ProbeError``."""
    client = redis.Redis.from_url(
        config.url,
        socket_timeout=config.timeout_s,
        socket_connect_timeout=config.timeout_s,
        decode_responses=True,
        retry_on_timeout=False,
        retry=None,
    )
    try:
        yield client
    except redis.AuthenticationError as error:
        raise ProbeError(f"Redis at {_safe(config.url)} refused our credentials: {error}") from None
    except redis.TimeoutError as error:
        raise ProbeError(
            f"Redis at {_safe(config.url)} did not answer within {config.timeout_s:g} s: {error}"
        ) from None
    except redis.ConnectionError as error:
        raise ProbeError(f"cannot connect to Redis at {_safe(config.url)}: {error}") from None
    except redis.ResponseError as error:
        raise ProbeError(f"Redis at {_safe(config.url)} answered with an error: {error}") from None
    except redis.RedisError as error:
        raise ProbeError(f"Redis at {_safe(config.url)} failed: {error}") from None
    finally:
        client.close()


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


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
    """Pending entries and lag of every consumer group of each stream; a missing stream is an error.

    Redis reports ``lag`` as null when it cannot compute it cheaply (a group created at ``$``, deleted
    entries); then the entries after the group's last-delivered ID are counted, up to ``cap`` + 1.
    """
    found: list[GroupBacklog] = []
    for stream in streams:
        kind = client.type(stream)
        if kind == "none":
            raise ProbeError(f"stream {stream} does not exist in Redis (redis.backlog_streams)")
        if kind != "stream":
            raise ProbeError(f"key {stream} is a Redis {kind}, not a stream (redis.backlog_streams)")
        for info in client.xinfo_groups(stream):
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
    tripped: dict[str, str] = {}
    for key, patterns in halt_keys.items():
        kind = client.type(key)
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
            os.close(read_end)
            try:
                with connect(config) as client:
                    stats = measure_latency(client, config.latency_samples, config.latency_duration_s)
                payload = {"stats": stats.__dict__}
            except ProbeError as error:
                payload = {"error": str(error)}
            except BaseException as error:  # the parent must hear about anything at all
                payload = {"error": f"latency sampling failed: {error!r}"}
            os.write(write_end, json.dumps(payload).encode())
            os._exit(0)
        os.close(write_end)
        self._read = read_end

    def result(self) -> LatencyStats:
        budget = self.config.latency_duration_s + 4 * self.config.timeout_s + 5.0
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
