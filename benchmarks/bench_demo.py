"""Wall time of ``calpolicy demo`` as a user runs it (the whole process, environment up and torn down).

Target: under 60 s (issue 13). Also checks it exits 0 and leaves no folder and no process of its own.
Run: ``python benchmarks/bench_demo.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    entry = shutil.which("calpolicy") or str(Path(sys.executable).parent / "calpolicy")
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        done = subprocess.run([entry, "demo"], capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        removed = done.stdout.split("demo: removed ")[-1].split()[0] if "demo: removed " in done.stdout else None
        left = removed is None or Path(removed).exists()
        print(f"run: exit {done.returncode}, {times[-1]:.1f} s, folder {'LEFT' if left else 'removed'}")
        if done.returncode != 0 or left:
            print(done.stdout[-3000:], done.stderr[-2000:])
            return 1
    median = statistics.median(times)
    print(
        f"calpolicy demo: median {median:.1f} s, max {max(times):.1f} s over {len(times)} runs "
        f"(target < {TARGET_S:g} s)"
    )
    return 0 if max(times) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
