"""Honesty sweeps of the calibration engine (issue 7): the large versions of unit_tests/calibrate's checks.

Each scenario runs ``propose`` + ``check_bounds`` on many synthetic logs with a known truth and prints one
JSON line: the scenario, n, runs, GO count and rate, plus scenario figures (mean true gain of the shipped
map, interval coverage, mean per-model shift). ``--figure PATH`` also draws the GO rate against n.

    python benchmarks/sweep_calibrate.py                      # every scenario (minutes on 2 cores)
    python benchmarks/sweep_calibrate.py --only slope06 --runs 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calpolicy.calibrate import propose
from calpolicy.calibrate.bounds import check_bounds
from calpolicy.vocabulary.config import Config
from unit_tests.calibrate.synth import (
    MODELS,
    draw,
    drift_trades,
    frame_log,
    slope_trades,
    true_relative_gain,
    vote_trades,
)

CONFIG = Config()
V1_RULE = CONFIG.with_overrides(
    {
        "calibration.improvement_rule": "point_estimate_and_positive_interval",
        "waivers": {
            "calibration.improvement_rule": {"by": "sweep", "why": "compare engine v1", "until": "2100-01-01T00:00:00Z"}
        },
    },
    "sweep",
)


def _go(trades: dict[str, np.ndarray], seed: int, models: tuple[str, ...] = (), config: Config = CONFIG):  # type: ignore[no-untyped-def]
    log = frame_log(trades, models, sha=f"sweep-{seed}")
    proposal = propose(log, config)
    return proposal, check_bounds(proposal, config, log).go


def calibrated(n: int, runs: int) -> dict[str, object]:
    go = sum(_go(draw(n, seed, "calibrated"), seed)[1] for seed in range(runs))
    return {"go": go}


def overconfident(n: int, runs: int) -> dict[str, object]:
    go = sum(_go(draw(n, seed, "overconfident"), seed)[1] for seed in range(runs))
    return {"go": go}


def _slope(slope: float, config: Config = CONFIG) -> Callable[[int, int], dict[str, object]]:
    def run(n: int, runs: int) -> dict[str, object]:
        go, gains, covered, lower_ok = 0, [], 0, 0
        for seed in range(runs):
            proposal, ok = _go(slope_trades(n, seed, slope), seed, config=config)
            go += ok
            result = proposal.ensemble
            if result.status != "ok":
                continue
            gain = true_relative_gain(np.array(result.x), np.array(result.y), slope)
            gains.append(gain)
            lo, hi = result.improvement_interval
            covered += lo <= gain <= hi
            lower_ok += result.improvement_lower <= gain
        return {
            "go": go,
            "mean_true_gain_of_shipped_map": float(np.mean(gains)) if gains else None,
            "coverage_two_sided_95": covered / len(gains) if gains else None,
            "coverage_one_sided_lower_95": lower_ok / len(gains) if gains else None,
        }

    return run


def drift(n: int, runs: int) -> dict[str, object]:
    go, flagged, gains = 0, 0, []
    for seed in range(runs):
        proposal, ok = _go(drift_trades(n, seed), seed)
        go += ok
        result = proposal.ensemble
        flagged += bool(result.drift and result.drift["significant"])
        # the present regime is calibrated (slope 1) on U(0.5, 0.98)
        gains.append(true_relative_gain(np.array(result.x), np.array(result.y), 1.0, 0.5, 0.98))
    return {"go": go, "drift_flagged": flagged, "mean_true_gain_now": float(np.mean(gains))}


def votes(n: int, runs: int) -> dict[str, object]:
    go, shifts = 0, {name: [] for name in MODELS}
    for seed in range(runs):
        proposal, ok = _go(vote_trades(n, seed), seed, MODELS)
        go += ok
        for name in MODELS:
            result = proposal.models[name]
            if result.mean_shift is not None:
                shifts[name].append(result.mean_shift)
    return {
        "go": go,
        "mean_shift_per_model": {k: float(np.mean(v)) if v else None for k, v in shifts.items()},
        "worst_abs_shift_one_run": float(max(abs(s) for v in shifts.values() for s in v)) if shifts else None,
    }


SCENARIOS: dict[str, tuple[Callable[[int, int], dict[str, object]], tuple[int, ...], int]] = {
    "calibrated": (calibrated, (50, 200, 1_000, 5_000), 200),
    "overconfident": (overconfident, (20_000,), 50),
    "slope06": (_slope(0.6), (500, 1_700, 2_000, 10_000), 200),
    "slope06_v1_rule": (_slope(0.6, V1_RULE), (500, 2_000, 10_000), 200),
    "slope037": (_slope(0.37), (1_000, 2_000, 5_000), 200),
    "drift": (drift, (10_000,), 50),
    "votes": (votes, (5_000, 20_000), 30),
}


def sweep(only: list[str] | None, runs: int | None) -> Iterator[dict[str, object]]:
    for name, (scenario, sizes, default_runs) in SCENARIOS.items():
        if only and name not in only:
            continue
        for n in sizes:
            count = runs or default_runs
            start = time.perf_counter()
            out = scenario(n, count)
            yield {"scenario": name, "n": n, "runs": count, "go_rate": out["go"] / count, **out,
                   "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, choices=sorted(SCENARIOS))
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--figure", type=Path, default=None, help="PNG of the GO rate against n")
    args = parser.parse_args()
    rows = []
    for row in sweep(args.only, args.runs):
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.figure is not None:
        figure(rows, args.figure)
    return 0


def figure(rows: list[dict[str, object]], path: Path) -> None:
    """GO rate against n per scenario, with the 5% line the honesty results are held to."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in dict.fromkeys(str(r["scenario"]) for r in rows):
        mine = [r for r in rows if r["scenario"] == name]
        ax.plot([r["n"] for r in mine], [r["go_rate"] for r in mine], marker="o", label=name)
    ax.axhline(0.05, color="grey", linestyle="--", linewidth=1, label="5%")
    ax.set_xscale("log")
    ax.set_xlabel("trades in the log (n)")
    ax.set_ylabel("share of runs with GO")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title("calpolicy engine v2: GO rate by truth and log size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
