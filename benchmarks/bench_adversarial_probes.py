"""Benchmark the probes against the issue-9 adversaries, at the issue's own sizes and settings.

Measured (each case in its own child process, so peak RSS — ``VmHWM`` — is that case's alone):

- a readiness server trickling its headers at 1 byte/s, ``deadline_s = 10``: seconds until the probe gives up;
- a "Redis" replying 1 byte per 1.5 s, ``timeout_s = 2`` (default ``deadline_s = 10``): seconds for the
  halt-key probe (the issue saw 100 s);
- a gzip bomb from the readiness API, 2 GiB of JSON whitespace in ~2 MB (the issue saw 6.2 GB and a pass;
  now the raw cap stops it), and 512 MiB in ~0.5 MB (under the raw cap: the decoded cap must stop it);
- a 50 MB readiness body without Content-Length: seconds and peak RSS.

    python benchmarks/bench_adversarial_probes.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unit_tests.adversaries import FakeRedis, RawHTTPServer, http_response  # noqa: E402

CHILD = """
import json, sys, time
from calpolicy.vocabulary.config import ReadinessConfig, RedisConfig
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.readiness import fetch_readiness
from calpolicy.preflight.probes.redis.connection import connect
from calpolicy.preflight.probes.redis.halt import halt_state
kind, url = sys.argv[1], sys.argv[2]
started = time.monotonic()
try:
    if kind == "redis":
        config = RedisConfig(url=url, timeout_s=2.0)
        with connect(config) as client:
            halt_state(client, config.halt_keys)
    else:
        fetch_readiness(ReadinessConfig(url=url, deadline_s=10.0))
    outcome = "NO ERROR"
except ProbeError as error:
    outcome = str(error)
seconds = time.monotonic() - started
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(hwm / 1024, 1), "outcome": outcome[:160]}))
"""


def _bomb(mib: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * 2**20
    parts = [packer.compress(b"{"), *(packer.compress(block) for _ in range(mib)), packer.compress(b"}")]
    return b"".join([*parts, packer.flush()])


def _probe(kind: str, url: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", CHILD, kind, url], capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ready = json.dumps({"ready": True, "actions": ["calibration"]}).encode()
    started = time.monotonic()
    bomb = _bomb(2048)
    print(f"(built a {len(bomb) / 1e6:.1f} MB gzip bomb of 2 GiB in {time.monotonic() - started:.1f} s)")

    def endless() -> object:
        yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        for _ in range(800):
            yield b" " * 65536

    gzipped = http_response(bomb, headers={"Content-Encoding": "gzip"})
    small_bomb = _bomb(512)  # under the raw cap, so the decoded cap must stop it
    gzipped_small = http_response(small_bomb, headers={"Content-Encoding": "gzip"})
    cases = [
        ("readiness trickling headers 1 B/s, deadline_s=10", "http", RawHTTPServer(http_response(ready), 1.0)),
        ("Redis replying 1 B per 1.5 s, timeout_s=2", "redis", FakeRedis(byte_delay_s=1.5)),
        ("readiness gzip bomb 2 MB -> 2 GiB", "http", RawHTTPServer(gzipped)),
        (f"readiness gzip bomb {len(small_bomb) / 1e6:.1f} MB -> 512 MiB", "http", RawHTTPServer(gzipped_small)),
        ("readiness 50 MB body, no Content-Length", "http", RawHTTPServer(stream=endless)),
    ]  # fmt: skip
    for title, kind, server in cases:
        with server:
            url = server.url
            result = _probe("redis" if kind == "redis" else "http", url)
        print(f"{title:<48} {result['seconds']:>7} s  peak RSS {result['peak_rss_mb']:>6} MB  → {result['outcome']}")


if __name__ == "__main__":
    main()
