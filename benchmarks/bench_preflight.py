"""Wall time of ``calpolicy preflight`` on a ready local environment with a 50,000-line trade log.

Target: at most 3 s beyond the configured latency-sampling time (``redis.latency_duration_s``). Also
verifies that the preflight child never imports scikit-learn (it must stay a fast gate). Run as root
(the environment boots systemd in a namespace): ``python benchmarks/bench_preflight.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.preflight import pytest_argv

_DRIVER = (
    "import argparse, sys; from calpolicy.cli.commands import preflight as p; a = argparse.ArgumentParser(); "
    "a.add_argument('--config'); p.add_parser(a.add_subparsers()); n = a.parse_args(sys.argv[1:]); "
    "sys.exit(n.handler(n))"
)


def _calpolicy() -> list[str]:
    """``calpolicy`` itself once the CLI registers the command; until then the same command module."""
    from calpolicy import cli

    if "calpolicy.cli.commands.preflight" in getattr(cli, "COMMAND_MODULES", ()):
        return [sys.executable, "-m", "calpolicy.cli"]
    return [sys.executable, "-c", _DRIVER]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--latency-s", type=float, default=1.0, help="redis.latency_duration_s")
    args = parser.parse_args()
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat()
    with tempfile.TemporaryDirectory(prefix="calpolicy-bench-") as tmp:
        env = LocalEnvironment(
            Path(tmp), systemd=True, n_trades=args.trades, latency_duration_s=args.latency_s, latency_samples=100
        )
        with env:
            config = env.write_config()
            command = [sys.executable, "-m", "calpolicy.cli", "preflight", "--operator", "bench"]
            command += ["--on-call-until", until]
            timings = []
            for _ in range(args.runs):
                started = time.perf_counter()
                done = subprocess.run(
                    [*command[:3], "--config", str(config), *command[3:]], capture_output=True, text=True
                )
                timings.append(time.perf_counter() - started)
                if done.returncode != 0:
                    print(done.stdout, done.stderr)
                    return 1
            results = Path(tmp) / "r.jsonl"
            argv = pytest_argv(results, config, "bench", until)
            traced = subprocess.run(
                [argv[0], "-X", "importtime", *argv[1:]],
                capture_output=True,
                text=True,
                env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"},
            )
            heavy = sorted(
                {
                    line.split("|")[-1].strip().split(".")[0]
                    for line in traced.stderr.splitlines()
                    if line.split("|")[-1].strip().split(".")[0] in ("sklearn", "matplotlib", "scipy")
                }
            )
    best, median = min(timings), statistics.median(timings)
    print(f"calpolicy preflight, {args.trades} trades, latency sampling {args.latency_s:g} s, {args.runs} runs:")
    print(f"  wall best {best:.2f} s, median {median:.2f} s -> {median - args.latency_s:.2f} s beyond sampling")
    print(f"  heavy modules imported by the preflight child: {', '.join(heavy) or 'none'}")
    return 0 if median - args.latency_s <= 3.0 and "sklearn" not in heavy else 1


if __name__ == "__main__":
    sys.exit(main())
