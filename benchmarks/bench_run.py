"""Cost of ``calpolicy run`` beyond the preflight, against the cost of ``propose`` alone.

On the demo environment (a real redis-server, readiness API and systemd in a namespace) with a
100,000-trade log and five maps (four models + the ensemble). Targets (issue 10):

- time of the run beyond the preflight <= 2 x ``propose`` alone, where "propose alone" is what computing
  the proposal costs a fresh process: read the log, import the calibration stack, ``propose`` (the run's
  sandbox pays exactly that, plus its own start-up);
- the sandbox's own start-up (bubblewrap + interpreter + the audit hook, measured with a task that
  imports nothing) plus the job write <= 0.5 s.

Run as root: ``python benchmarks/bench_run.py [--runs 3] [--trades 100000]``. Wall times depend on the
machine's load; the CPU times of the child processes are printed beside them.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.lockdown.sandbox import run_sandboxed
from calpolicy.run.job import run_job

_PROPOSE_ALONE = (
    "import sys; from calpolicy.clm.reader import read_clm; from calpolicy.calibrate import propose; "
    "from calpolicy.vocabulary.config import Config; propose(read_clm(sys.argv[1]), Config())"
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _propose_alone(clm: Path) -> tuple[float, float]:
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PROPOSE_ALONE, str(clm)], check=True)
    return time.perf_counter() - started, _children_cpu() - cpu


def _sandbox_startup(workdir: Path) -> float:
    result = run_sandboxed("calpolicy.lockdown.sandbox:describe", workdir, [])
    if not result.ok or result.hooked_at is None:
        raise RuntimeError(f"the sandbox did not run: {result.error}")
    return result.hooked_at - result.spawned_at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trades", type=int, default=100_000)
    args = parser.parse_args()
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
    rows: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="calpolicy-bench-run-") as tmp,
        LocalEnvironment(Path(tmp) / "env", systemd=True, n_trades=args.trades) as env,
    ):
        config = env.write_config()
        for _ in range(args.runs):
            cpu = _children_cpu()
            outcome = run_job(config, operator="bench", on_call_until=until)
            assert outcome.job_id is not None, outcome.verdict.to_json()
            t = outcome.timings
            alone, alone_cpu = _propose_alone(env.clm_file)
            startup = _sandbox_startup(Path(tmp))
            for key, value in (
                ("preflight_s", t["preflight_s"]),
                ("beyond_preflight_s", t["total_s"] - t["preflight_s"]),
                ("  sandbox_s (start-up, imports, read, propose, write)", t["sandbox_s"]),
                ("  sandbox_start_to_policy_tests_end_s (overlapped)", t["policy_tests_s"]),
                ("  job_write_s", t["job_write_s"] + t["job_claim_s"]),
                ("run_children_cpu_s", _children_cpu() - cpu - alone_cpu),
                ("propose_alone_s (fresh process)", alone),
                ("propose_alone_cpu_s", alone_cpu),
                ("propose_in_sandbox_s (the propose call only)", t["propose_in_sandbox_s"]),
                ("sandbox_startup_s (no-import task)", startup),
                ("sandbox_startup_plus_job_write_s", startup + t["job_write_s"] + t["job_claim_s"]),
            ):
                rows.setdefault(key, []).append(value)
            rows.setdefault("ratio beyond_preflight / propose_alone", []).append(
                (t["total_s"] - t["preflight_s"]) / alone
            )
            print(f"run {outcome.job_id}: {outcome.verdict.to_dict()['verdict']}", flush=True)
    print(f"\ncalpolicy run, {args.trades} trades, {args.runs} runs (median, min, max):")
    for key, values in rows.items():
        print(f"  {key:<58} {statistics.median(values):7.3f}  {min(values):7.3f}  {max(values):7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
