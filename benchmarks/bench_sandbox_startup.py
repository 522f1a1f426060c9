"""What the kernel lockdown (bubblewrap) adds to the calibration child's start-up, and to passing it the log.

Measured, each ``--runs`` times (median, min, max), with a task that imports nothing (``describe``):

- ``bwrap true``: bubblewrap alone, with the sandbox's namespaces, running ``true`` (its probe);
- ``child without bwrap``: the same child (``python -I -B -m calpolicy.lockdown.sandbox`` + the audit hook) started
  directly, as before the kernel lockdown; spawn until the hook is in place;
- ``child in bwrap``: ``run_sandboxed`` as the run uses it; spawn until the hook is in place;
- ``child in bwrap + CLM copy``: the same, given a ``--trades`` log (bwrap copies it into the sandbox).

Run: ``python benchmarks/bench_sandbox_startup.py [--runs 15] [--trades 100000]`` (about 30 s). Wall times
depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from calpolicy.localenv.sample_log import write_sample_log
from calpolicy.lockdown.sandbox import os_guard, run_sandboxed, true_in_sandbox_argv


def _bwrap_true(bwrap: str) -> float:
    argv = true_in_sandbox_argv(bwrap, "/usr/bin/true")
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


def _direct_child(workdir: Path) -> float:
    """The child without bubblewrap: what the start-up cost before the kernel lockdown."""
    read_end, write_end = os.pipe()
    spec = {"task": "calpolicy.lockdown.sandbox:describe", "workdir": str(workdir), "read_files": [], "args": {}}
    argv = [sys.executable, "-I", "-B", "-m", "calpolicy.lockdown.sandbox", "--result-fd", str(write_end)]
    spawned = time.time()
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=(write_end,), cwd=workdir,
                             env={"LANG": "C.UTF-8"})  # fmt: skip
    os.close(write_end)
    child.communicate(json.dumps(spec).encode())
    with os.fdopen(read_end, "rb") as pipe:
        message = json.loads(pipe.read().decode().splitlines()[-1])
    if "hooked_at" not in message:
        raise RuntimeError(f"the direct child did not run: {message}")
    return message["hooked_at"] - spawned


def _in_bwrap(workdir: Path, inputs: list[Path]) -> float:
    result = run_sandboxed("calpolicy.lockdown.sandbox:describe", workdir, inputs)
    if not result.ok or result.startup_s is None:
        raise RuntimeError(f"the sandbox did not run: {result.violation or result.error}")
    return result.startup_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--trades", type=int, default=100_000)
    args = parser.parse_args()
    bwrap, _ = os_guard()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="calpolicy-bench-sandbox-", dir=os.getcwd()) as tmp:
        workdir = Path(tmp) / "job"
        workdir.mkdir()
        clm = write_sample_log(Path(tmp) / "clm_trades.jsonl", n_trades=args.trades)
        size_mb = clm.stat().st_size / 1e6
        for _ in range(args.runs):
            for name, measure in (
                ("bwrap true", lambda: _bwrap_true(bwrap)),
                ("child without bwrap (spawn -> hook)", lambda: _direct_child(workdir)),
                ("child in bwrap (spawn -> hook)", lambda: _in_bwrap(workdir, [])),
                (f"child in bwrap + {size_mb:.1f} MB CLM copy", lambda: _in_bwrap(workdir, [clm])),
            ):
                rows.setdefault(name, []).append(measure())
    print(f"sandbox start-up, {args.runs} runs (seconds: median, min, max):")
    for name, values in rows.items():
        print(f"  {name:<44} {statistics.median(values):7.3f}  {min(values):7.3f}  {max(values):7.3f}")
    overhead = statistics.median(rows["child in bwrap (spawn -> hook)"]) - statistics.median(
        rows["child without bwrap (spawn -> hook)"]
    )
    print(f"  {'bubblewrap overhead (median difference)':<44} {overhead:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
