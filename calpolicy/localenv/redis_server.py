"""A real, throw-away ``redis-server`` on a free loopback port (no persistence, no config file), and the
seeding that makes it look like the real host's bus (market state hash + stream, halt values as strings)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from calpolicy.localenv.loopback import Managed
from calpolicy.localenv.ports import free_port, wait_for

REDIS_SERVER = "redis-server"


class RedisServer(Managed):
    """Start with ``start()`` (or ``with``); ``url`` for clients; ``stop()`` kills only this server."""

    def __init__(self, executable: str | None = None) -> None:
        found = executable or shutil.which(REDIS_SERVER) or "/usr/bin/redis-server"
        if not Path(found).exists():
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        self.executable = found
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=5)

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self._dir = tempfile.TemporaryDirectory(prefix="calpolicy-redis-")
        self.port = free_port()
        argv = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
        ]
        # Redis >= 7 refuses DEBUG (the fault tests' "slow server") unless enabled; older ones reject the flag
        for extra in (["--enable-debug-command", "local"], []):
            self.process = subprocess.Popen([*argv, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            process = self.process
            wait_for(
                lambda: process.poll() is not None or bool(self.client().ping()),  # noqa: B023
                timeout_s,
                f"redis-server on port {self.port}",
            )
            if process.poll() is None:
                return self
        self.stop()
        raise RuntimeError(f"redis-server {self.executable} exited at start-up")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


# ------------------------------------------------------------------------------ seeding as the real host writes

MARKET_STREAM = "quantum:stream:marketstate"
HALT_KEYS_CLEAR = {  # the real host's values when nothing is halted (REAL_SYSTEM.md §4): strings, as SET writes them
    "quantum:global:kill_switch": "false",
    "quantum:learning:frozen": "0",
    "quantum:system:mode": "NORMAL",
}


def market_fields(sigma: float, now: float, spike_proxy: float = 0.95) -> dict[str, str]:
    """One ``quantum:marketstate:{SYMBOL}`` hash as ``market_state_publisher/main.py`` formats it."""
    return {
        "sigma": f"{sigma:.8f}",
        "mu": f"{0.00002:.8f}",
        "ts": f"{0.0021:.6f}",  # trend strength, not a time
        "p_trend": f"{0.21:.6f}",
        "p_mr": f"{0.33:.6f}",
        "p_chop": f"{0.46:.6f}",
        "dp": f"{0.49:.6f}",  # directional persistence, 0..1
        "vr": f"{1.02:.6f}",  # variance ratio, not volume
        "spike_proxy": f"{spike_proxy:.6f}",
        "ts_timestamp": str(int(now)),
        "buffer_size": "300",
    }


def publish_market_state(
    client: redis.Redis,
    symbols: tuple[str, ...],
    now: float,
    sigma: float = 0.0021,
    history_points: int = 60,
    interval_s: float = 60.0,
) -> None:
    """Seed the hash per symbol and ``history_points`` stream entries per symbol ``interval_s`` apart, ending
    at ``now``, with the publisher's field names, string formats, TTL (ten intervals) and stream maxlen."""
    for i in range(history_points, 0, -1):
        stamp = now - i * interval_s
        for n, symbol in enumerate(symbols):
            wobble = sigma * (1.0 + 0.05 * ((i + n) % 5 - 2) / 2)  # a calm market is not a constant one
            entry = {
                "symbol": symbol,
                "ts": f"{0.0021:.6f}",
                "sigma": f"{wobble:.8f}",
                "mu": f"{0.00002:.8f}",
                "regime": "chop",
                "timestamp": str(int(stamp)),
            }
            client.xadd(MARKET_STREAM, entry, id=f"{int(stamp * 1000)}-{n}", maxlen=10000, approximate=False)
    for symbol in symbols:
        key = f"quantum:marketstate:{symbol}"
        client.hset(key, mapping=market_fields(sigma, now))
        client.expire(key, int(interval_s * 10))


class MarketRefresher:
    """Re-publishes each symbol's market state every ``interval_s``, as the real publisher does, so a local
    environment kept up for practice does not go stale (S.b could-not-check) after ``market.max_age_s``.

    It keeps the hash's current values (a test's spike stays a spike) and only renews the publish time and
    appends one stream entry. ``pause()`` stops it, so a test can let the market state go stale on purpose.
    """

    def __init__(self, server: RedisServer, symbols: tuple[str, ...], interval_s: float = 60.0) -> None:
        self.server = server
        self.symbols = symbols
        self.interval_s = interval_s
        self.lock = threading.Lock()  # held by whoever rewrites the market state, so a refresh never interleaves
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MarketRefresher:
        self._thread = threading.Thread(target=self._run, name="localenv-market-refresher", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self._paused.is_set():
                with contextlib.suppress(redis.RedisError, OSError, ValueError):
                    self.refresh()

    def refresh(self, now: float | None = None) -> None:
        """One publish: renew ``ts_timestamp`` and append the current sigma to the stream, for each symbol."""
        moment = time.time() if now is None else now
        client = self.server.client()
        try:
            with self.lock:
                for symbol in self.symbols:
                    key = f"quantum:marketstate:{symbol}"
                    fields = client.hgetall(key)
                    if not fields:
                        continue  # gone (or never seeded): refreshing would invent a market state
                    client.hset(key, "ts_timestamp", str(int(moment)))
                    client.expire(key, int(self.interval_s * 10))
                    entry = {
                        "symbol": symbol,
                        "ts": fields.get("ts", "0"),
                        "sigma": fields.get("sigma", "0"),
                        "mu": fields.get("mu", "0"),
                        "regime": "chop",
                        "timestamp": str(int(moment)),
                    }
                    client.xadd(MARKET_STREAM, entry, maxlen=10000, approximate=False)
        finally:
            client.close()
