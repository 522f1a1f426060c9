"""Whole-process time of ``calpolicy --help`` and of usage errors, as a user runs them.

Target: under 0.3 s each (median). The CLI imports pandas, pyarrow, pandera and redis only in the command
that needs them, so answering ``--help`` or refusing a bad argument never pays for them.
Run: ``python benchmarks/bench_cli_startup.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

CASES = {
    "calpolicy --help": ["--help"],
    "calpolicy check-data --help": ["check-data", "--help"],
    "calpolicy demo --trades -5": ["demo", "--trades", "-5"],
    "calpolicy check-data --now notadate": ["check-data", "--now", "notadate"],
    "calpolicy preflight --on-call-until tomorrow": ["preflight", "--on-call-until", "tomorrow"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    entry = shutil.which("calpolicy") or str(__import__("pathlib").Path(sys.executable).parent / "calpolicy")
    worst = 0.0
    for name, argv in CASES.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([entry, *argv], capture_output=True, check=False)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        worst = max(worst, median)
        print(f"{name:<48} median {median * 1000:6.0f} ms   min {min(times) * 1000:6.0f} ms")
    print(f"slowest median {worst * 1000:.0f} ms (target < 300 ms): {'OK' if worst < 0.3 else 'TOO SLOW'}")
    return 0 if worst < 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
