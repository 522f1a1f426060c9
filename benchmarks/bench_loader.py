"""CalibrationLoader speed: ``apply`` on a scalar and on an array, and how fast a new file is picked up.

Targets (issue 12): scalar ``apply`` ≤ 1 µs a call; array ``apply`` ≥ 20 million values a second; a new
version served within 1 s of the ``os.replace``. The scalar figure is set beside a plain ``np.interp``
scalar call and a bare ``bisect`` on lists, the two reference points the issue names. Uses the mapping
shape calpolicy writes (21 clean keys) and a per-model map of a few hundred knots.
Imports only ``calpolicy_loader`` (not calpolicy), so it runs in the engine-like venv too:
``python benchmarks/bench_loader.py [--reloads N]`` with ``.venv/bin/python`` (newest numpy) or
``.venv-loader-np126/bin/python`` (numpy 1.26).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import timeit
from bisect import bisect_right
from pathlib import Path

import numpy as np
from calpolicy_loader import CalibrationLoader
from calpolicy_loader.files import write_atomic

FIXTURE = Path(__file__).resolve().parents[1] / "unit_tests" / "data" / "calibration_example_existing_tool.json"


def config_bytes(version: str) -> bytes:
    doc = json.loads(FIXTURE.read_bytes())
    doc["version"] = version
    grid = [round(i * 0.05, 2) for i in range(21)]
    doc["confidence_calibration"]["mapping"] = {repr(g): round(min(1.0, max(0.0, g * 0.9 + 0.03)), 4) for g in grid}
    xs = np.linspace(0, 1, 300)
    doc["calpolicy"] = {"job_id": version, "models": {"xgb": {"x": xs.tolist(), "y": (xs * 0.8 + 0.1).tolist()}}}
    return json.dumps(doc).encode()


def per_call_ns(stmt, number: int = 200_000, repeat: int = 7) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reloads", type=int, default=30)
    parser.add_argument("--poll", type=float, default=0.2, help="the loader's poll interval (default 0.2 s)")
    args = parser.parse_args()
    print(f"calpolicy_loader on numpy {np.__version__}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parents[1]) as tmp:
        live = Path(tmp) / "calibration.json"
        live.write_bytes(config_bytes("cal_20260101_000000"))
        loader = CalibrationLoader(live, poll_interval_s=0, record=False)
        curve = loader.snapshot().ensemble
        xs, ys = curve.x_array, curve.y_array
        lx = list(xs)

        apply = loader.apply
        scalar = per_call_ns(lambda: apply(0.6123))
        scalar_model = per_call_ns(lambda: apply(0.6123, "xgb"))
        interp = per_call_ns(lambda: np.interp(0.6123, xs, ys))
        bare = per_call_ns(lambda: bisect_right(lx, 0.6123))
        print(f"scalar apply(c):             {scalar:7.0f} ns/call  (target ≤ 1000)")
        print(f"scalar apply(c, 'xgb'):      {scalar_model:7.0f} ns/call  (300-knot map)")
        print(f"reference np.interp scalar:  {interp:7.0f} ns/call")
        print(f"reference bare bisect_right: {bare:7.0f} ns/call")

        values = np.random.default_rng(0).uniform(0, 1, 10_000_000)
        loader.apply(values[:1000])
        best = min(timeit.repeat(lambda: loader.apply(values), number=1, repeat=5))
        best_model = min(timeit.repeat(lambda: loader.apply(values, "xgb"), number=1, repeat=5))
        print(f"array apply (10M values):    {len(values) / best / 1e6:7.1f} M values/s  (target ≥ 20)")
        print(f"array apply, 300-knot map:   {len(values) / best_model / 1e6:7.1f} M values/s")
        loader.close()

        polled = CalibrationLoader(live, poll_interval_s=args.poll, record=False)
        delays = []
        for k in range(1, args.reloads + 1):
            version = f"cal_20260101_{k:06d}"
            data = config_bytes(version)
            time.sleep(0.05 + (k % 7) * 0.031)  # land at different phases of the poll cycle
            swapped = time.perf_counter()
            write_atomic(live, data)
            while polled.version != version:
                time.sleep(0.0005)
            delays.append(time.perf_counter() - swapped)
        polled.close()
        print(
            f"reload pickup after os.replace (poll {args.poll:g} s, {args.reloads} swaps): median "
            f"{statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms  (target ≤ 1000 ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
