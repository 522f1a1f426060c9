"""P0.1.f latency: timed PINGs as ``redis-cli --latency`` does them, and the background sampler.

Why a module of its own: how a sample is taken (spacing, one connection, a child that keeps sampling while
the other probes run) changes apart from the connection and the other keys. What the sample's figures are
(``LatencyStats``, ``stats_of``, the nearest rank) lives in ``calpolicy.vocabulary.decisions``, which judges
them against the checklist's "latency < 50 ms".
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

import redis

from calpolicy.files.strict_json import parse_json
from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.redis.connection import connect
from calpolicy.vocabulary.config import RedisConfig
from calpolicy.vocabulary.decisions import LatencyStats, stats_of


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
            payload = parse_json(b"".join(chunks))
        except ValueError:
            raise ProbeError("Redis latency sampling ended without a result") from None
        if "error" in payload:
            raise ProbeError(payload["error"])
        return LatencyStats(**payload["stats"])
