"""Simulate the watch's own ``judge`` over 24-hour days of 96 looks; print how often it says ROLLBACK.

Each simulated day: 72 h before an approval (the watch's baseline is the last 24 h, widened to the last 50
trades when those hold fewer) and 24 h after it; trades arrive as a Poisson process at 1,
4 or 10 per hour, decisions at 30 per hour (a fifth of them HOLD), the engine acts on confidences
uniform in [0.55, 0.90]. A trade's raw confidence is uniform in [0.45, 0.75] and the applied map makes it
``p = c − 0.10`` (a calibrated map: the trade wins with probability p, about 50 % on average).

Scenarios after the approval: no change; the win rate down 5, 10, 20, 30 points (p − d); up 10 points;
the applied map overstating (or understating) every trade by 0.12 while the outcomes stay as they were
(calibration worse by 0.12, win rate unchanged).

Because the watch recomputes every past look at each run and a crossing stays found, ``judge`` at the
96th look says ROLLBACK exactly when some look of the day did (unit_tests/watch checks this equivalence),
so one call per day measures "ever ROLLBACK over 96 looks". The day's model is
``calpolicy.localenv.watch_data.simulate_day`` (the hold-out tests use it with other markets and seeds).
Seeded; ``--quick`` is what docs/watch.md quotes. Run: ``.venv/bin/python benchmarks/sim_watch.py --quick``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

import numpy as np

from calpolicy.localenv.watch_data import SIM_T0, Scenario, simulate_day
from calpolicy.vocabulary.config import Config

SCENARIOS = (
    Scenario("no change", harm=False),
    Scenario("win rate +10 points", win_shift=+0.10, harm=False),
    Scenario("win rate -5 points", win_shift=-0.05),
    Scenario("win rate -10 points", win_shift=-0.10),
    Scenario("win rate -15 points", win_shift=-0.15),
    Scenario("win rate -20 points", win_shift=-0.20),
    Scenario("win rate -30 points", win_shift=-0.30),
    Scenario("map overstates by 0.12", map_shift=+0.12),
    Scenario("map understates by 0.12", map_shift=-0.12, harm=False),
)


def run(days: int, rates: tuple[float, ...], scenarios: tuple[Scenario, ...], seed: int) -> list[dict]:
    watch_config = Config().watch
    rows = []
    for rate in rates:
        for i, scenario in enumerate(scenarios):
            rng = np.random.default_rng([seed, int(rate * 10), i])
            verdicts = {"ROLLBACK RECOMMENDED": 0, "OK": 0, "INCONCLUSIVE": 0}
            by_signal: dict[str, int] = {}
            for _ in range(days):
                report = simulate_day(rng, rate, scenario, watch_config)
                verdicts[report.verdict] += 1
                for s in report.signals:
                    if s.status == "breach":
                        by_signal[s.id] = by_signal.get(s.id, 0) + 1
            rows.append(
                {
                    "rate": rate,
                    "scenario": scenario.name,
                    "days": days,
                    "rollback": verdicts["ROLLBACK RECOMMENDED"] / days,
                    "ok": verdicts["OK"] / days,
                    "inconclusive": verdicts["INCONCLUSIVE"] / days,
                    "by_signal": {k: v / days for k, v in sorted(by_signal.items())},
                }
            )
    return rows


def standard_errors(seed: int) -> None:
    """P4.2.a's standard error with a 50-trade baseline, as ``pnl_drift`` reports it, against the truth."""
    from calpolicy.watch import looks_at, pnl_drift

    rng = np.random.default_rng(seed)
    looks = looks_at(SIM_T0, SIM_T0 + timedelta(hours=24), 24.0, 96)
    print("P4.2.a standard error of the drift (baseline sds), 50-trade baseline:")
    for n in (20, 100, 400):
        reported, drifts = [], []
        for _ in range(2000):
            base, post = rng.normal(0, 1, 50), rng.normal(0, 1, n)
            signal = pnl_drift(base, post, np.full(96, n), looks, 0.10, 0.0125, 50, 20, detail=False)
            reported.append(signal.evidence["standard_error_sd"])
            drifts.append((post.mean() - base.mean()) / base.std(ddof=1))
        print(f"  {n:>4} post-apply trades: reported {np.mean(reported):.2f}, simulated {np.std(drifts):.2f}")


def detectable(seed: int, days: int = 20) -> None:
    """What an OK can claim: P4.2.b's detectable drop (80 % power) at the last look of no-change days, and
    the first look at which a blatant harm (every acted-on confidence 0.97) breaches P4.2.d."""
    from calpolicy.watch import Decision

    watch_config = Config().watch
    print("P4.2.b detectable drop at 80 % power in an OK day's message (no change; min-max over OK days):")
    for rate in (1.0, 4.0, 10.0):
        rng = np.random.default_rng([seed, int(rate * 10), 99])
        effects = []
        for _ in range(days):
            report = simulate_day(rng, rate, Scenario("no change", harm=False), watch_config, detail=True)
            win = next(s for s in report.signals if s.id == "P4.2.b")
            if win.status == "ok":
                effects.append(win.evidence["tests"]["drop"]["detectable_effect"] * 100)
        print(f"  {rate:g} trades/h: {min(effects):.0f}-{max(effects):.0f} points ({len(effects)} of {days} days OK)")
    rng = np.random.default_rng(seed)
    hot = [Decision(SIM_T0 + timedelta(minutes=2 * i), "BUY", 0.97, "") for i in range(720)]
    for k in range(1, 97):
        report = simulate_day(
            rng,
            10.0,
            Scenario("no change", harm=False),
            watch_config,
            SIM_T0 + timedelta(minutes=15 * k),
            extra_decisions=hot,
        )
        if next(s for s in report.signals if s.id == "P4.2.d").status == "breach":
            print(f"30 more acted-on decisions/h at confidence 0.97: P4.2.d breaches first at look {k} ({15 * k} min)")
            break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 days per cell (the numbers in docs/watch.md)")
    parser.add_argument("--days", type=int, default=None, help="days per cell (default 600, --quick 200)")
    parser.add_argument("--seed", type=int, default=20261120)
    args = parser.parse_args(argv)
    days = args.days or (200 if args.quick else 600)
    started = time.perf_counter()
    standard_errors(args.seed)
    detectable(args.seed)
    rows = run(days, (1.0, 4.0, 10.0), SCENARIOS, args.seed)
    print(f"{'trades/h':>8}  {'scenario':<26} {'ROLLBACK':>9} {'OK':>6} {'INCONCL':>8}  breaches by signal")
    for row in rows:
        signals = ", ".join(f"{k} {v:.1%}" for k, v in row["by_signal"].items())
        print(
            f"{row['rate']:>8g}  {row['scenario']:<26} {row['rollback']:>9.1%} {row['ok']:>6.1%} "
            f"{row['inconclusive']:>8.1%}  {signals}"
        )
    print("smallest win-rate drop caught in at least 80 % / 90 % of days (of the drops simulated):")
    for rate in sorted({row["rate"] for row in rows}):
        caught = {}
        for level in (0.8, 0.9):
            drops = [
                int(row["scenario"].split("-")[1].split()[0])
                for row in rows
                if row["rate"] == rate and row["scenario"].startswith("win rate -") and row["rollback"] >= level
            ]
            caught[level] = f"{min(drops)} points" if drops else "none up to 30 points"
        print(f"  {rate:g} trades/h: {caught[0.8]} / {caught[0.9]}")
    print(f"{days} seeded days per row (seed {args.seed}), {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
