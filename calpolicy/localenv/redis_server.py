"""A real, throw-away ``redis-server`` on a free loopback port (no persistence, no config file)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
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
