"""Benchmark: read and validate a 1,000,000-line recorder-format CLM log, ours vs the naive way.

Each contender runs in its own child process so its peak memory (ru_maxrss) is its own; wall time is
measured inside the child after imports. Usage: ``python benchmarks/bench_clm_reader.py [--lines N]``.
The issue's targets: ours <= 2 s and <= 1 GiB, and >= 4x faster than
``pandas.read_json(lines=True)`` + a pandera schema on the pandas frame.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from recorder_log import NAIVE_SCHEMA, write_log

OURS = """
import sys, time, resource
from datetime import datetime, UTC
from calpolicy.clm import check_data, read_clm
from calpolicy.vocabulary.config import load_config
config = load_config(environ={})
t0 = time.perf_counter()
log = read_clm(sys.argv[1])
t1 = time.perf_counter()
verdict = check_data(log, config, now=datetime(2026, 11, 21, 0, 1, tzinfo=UTC))
t2 = time.perf_counter()
bad = [f.id for f in verdict.failures]
print(t1 - t0, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, log.reader, log.records, bad)
"""

NAIVE = (
    NAIVE_SCHEMA
    + """
import sys, time, resource
t0 = time.perf_counter()
frame = pd.read_json(sys.argv[1], lines=True)
t1 = time.perf_counter()
schema.validate(frame, lazy=True)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "pandas", len(frame), [])
"""
)


def run(code: str, path: Path) -> tuple[float, float, float, str, int, str]:
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    read_s, check_s, rss_kib, reader, rows, bad = out.stdout.strip().split(" ", 5)
    return float(read_s), float(check_s), int(rss_kib) / 1024, reader, int(rows), bad


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder:
        path = Path(folder) / "clm_trades.jsonl"
        write_log(path, args.lines, compact=True)
        size = path.stat().st_size
        print(f"log: {args.lines:,} lines, {size / 2**20:.0f} MiB ({size / args.lines:.0f} bytes/line)")
        results = {}
        for name, code in (("calpolicy", OURS), ("naive pandas+pandera", NAIVE)):
            runs = [run(code, path) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r[0] + r[1])
            results[name] = best[0] + best[1]
            print(
                f"{name:22s} read {best[0]:.2f} s + validate {best[1]:.2f} s = {best[0] + best[1]:.2f} s "
                f"(best of {args.repeat}); peak RSS {max(r[2] for r in runs):.0f} MiB; path={best[3]}; "
                f"rows={best[4]}; failing={best[5]}"
            )
        ratio = results["naive pandas+pandera"] / results["calpolicy"]
        print(f"speed-up: {ratio:.1f}x  (target >= 4x; ours target <= 2 s, <= 1024 MiB)")
        broken = Path(folder) / "one_bad_line.jsonl"
        lines = path.read_bytes().split(b"\n")
        lines[len(lines) // 2] = b'{"symbol": "BTCUSDT", '  # a torn write in the middle
        broken.write_bytes(b"\n".join(lines))
        read_s, check_s, rss, reader, rows, bad = run(OURS, broken)
        print(
            f"{'calpolicy, 1 bad line':22s} read {read_s:.2f} s + validate {check_s:.2f} s = {read_s + check_s:.2f} s;"
            f" peak RSS {rss:.0f} MiB; path={reader}; rows={rows}; failing={bad}"
        )


if __name__ == "__main__":
    main()
