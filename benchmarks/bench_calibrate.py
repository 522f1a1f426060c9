"""Benchmark ``propose`` + ``check_bounds``: five models (ensemble + four), time split, held-out intervals.

Targets (issues 4 and 7): n = 100,000 in ≤ 3 s and n = 1,000,000 in ≤ 10 s and ≤ 1 GiB peak, imports excluded.

The trade log is built directly as a ``TradeLog`` frame, not parsed from JSON: the reader is benchmarked
on its own and a million JSON lines would measure it, not the calibration. Confidences are continuous
(unrounded), the worst case for the isotonic fit (no ties to pool); ``--round 3`` mimics real logs.

Each size runs in its own child process so peak RSS belongs to that size alone. Reported per size:
wall seconds of propose + check_bounds (best of ``--repeat``), peak RSS of the process (includes the
data itself and the interpreter) and the tracemalloc peak of one traced run (Python + NumPy allocations
made by the calibration).

    python benchmarks/bench_calibrate.py                 # both sizes
    python benchmarks/bench_calibrate.py --n 100000      # one size, in this process
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

MODELS = ("xgb", "lgbm", "nhits", "patchtst")


def _log(n: int, seed: int, decimals: int | None):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    from calpolicy.clm.fields import action_column, conf_column
    from calpolicy.clm.reader import TradeLog

    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.5, 0.98, n)
    win = rng.random(n) < 0.5 + 0.3 * (conf - 0.5)
    side = np.where(rng.random(n) < 0.5, "BUY", "SELL").astype(object)
    entry = 100.0 + np.arange(n) % 50
    move = np.where(side == "BUY", 1.0, -1.0) * np.where(win, 1.0, -1.0)  # price move agrees with side and PnL
    columns = {
        "line": np.arange(1, n + 1),
        "timestamp": pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC"),
        "side": side,
        "entry_price": entry,
        "exit_price": entry * (1.0 + 0.01 * move),
        "pnl_pct": np.where(win, 1.0, -1.0) * rng.uniform(0.1, 3.0, n),
        "confidence": conf if decimals is None else np.round(conf, decimals),
    }
    for name in MODELS:
        model_conf = np.clip(conf + rng.normal(0.0, 0.02, n), 0.0, 1.0)
        columns[conf_column(name)] = model_conf if decimals is None else np.round(model_conf, decimals)
        roll = rng.random(n)
        columns[action_column(name)] = np.where(roll < 0.9, side, np.where(roll < 0.95, "HOLD", "SELL"))
    return TradeLog(path=Path("<bench>"), exists=True, sha256="bench", line_count=n,
                    frame=pd.DataFrame(columns), models=MODELS)  # fmt: skip


def run_one(n: int, repeat: int, decimals: int | None) -> dict[str, object]:
    from calpolicy.calibrate import propose
    from calpolicy.calibrate.bounds import check_bounds
    from calpolicy.vocabulary.config import Config

    config = Config()
    log = _log(n, 0, decimals)
    times = []
    verdict = None
    for _ in range(repeat):
        start = time.perf_counter()
        proposal = propose(log, config, seed=0)
        verdict = check_bounds(proposal, config, log)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    propose(log, config, seed=0)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n": n,
        "models": 1 + len(MODELS),
        "holdout_fraction": config.calibration.holdout_fraction,
        "seconds_best": round(min(times), 3),
        "seconds_all": [round(t, 3) for t in times],
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "tracemalloc_peak_mib": round(traced_peak / 2**20, 1),
        "verdict": "GO" if verdict is not None and verdict.go else "STOP",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="one size, measured in this process")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--round", dest="decimals", type=int, default=None, help="round confidences")
    args = parser.parse_args()
    if args.n is not None:
        print(json.dumps(run_one(args.n, args.repeat, args.decimals)))
        return 0
    for n in (100_000, 1_000_000):
        command = [sys.executable, __file__, "--n", str(n), "--repeat", str(args.repeat)]
        if args.decimals is not None:
            command += ["--round", str(args.decimals)]
        subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
