"""Does anything bound a thread bomb in the calibration child? A probe for docs/lockdown.md, not a timing.

The seccomp filter lets the child make threads only (no process). Threads are still tasks with a PID of
the host's; this starts a bounded bomb of ``--threads`` waiting threads in the real sandbox
(``policy_tests.phase1.process_attempts:many_threads``, hook turned off) and reports how many started:

- ``bare``: the sandbox as ``run`` uses it;
- ``RLIMIT_NPROC``: the same with ``RLIMIT_NPROC=--limit`` set in the child (the kernel exempts a uid that
  maps to root: as root, it does not bind);
- ``systemd-run --scope -p TasksMax=--limit``: the whole sandbox in a scope of a private systemd booted
  in a PID/mount namespace (``calpolicy/localenv/systemd_ns.py``), and the pids cgroup the scope got.
  Needs root and systemd installed.

Run (as root): ``python benchmarks/probe_thread_bound.py [--threads 300] [--limit 64]`` (about 10 s).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from calpolicy.lockdown.sandbox import run_sandboxed

TASK = "policy_tests.phase1.process_attempts:many_threads"


def bomb(job_root: Path, threads: int, nproc: int | None) -> dict[str, Any]:
    job = Path(tempfile.mkdtemp(dir=job_root))
    result = run_sandboxed(TASK, job, [], {"n": threads, "nproc": nproc}, timeout_s=120)
    return {"result": result.result, "error": result.error, "violation": result.violation}


def in_scope(job_root: Path, threads: int, limit: int) -> dict[str, Any]:
    """The bomb run by this script in a ``TasksMax`` scope of a private systemd; the scope's pids cgroup."""
    from calpolicy.localenv.systemd_ns import SystemdNamespace

    with SystemdNamespace().boot() as ns:
        scope = ["systemd-run", "--scope", "--quiet", "-p", f"TasksMax={limit}", "--"]
        done = ns.run(*scope, sys.executable, __file__, "--inner", str(job_root), "--threads", str(threads),
                      check=False, timeout_s=200)  # fmt: skip
        cgroup = ns.run(*scope, "/bin/cat", "/proc/self/cgroup", check=False).stdout
    pids = [line.split(":", 2)[2] for line in cgroup.splitlines() if line.split(":")[1:2] == ["pids"]]
    found = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {"failed": done.stderr}
    unified = next((line[3:] for line in cgroup.splitlines() if line.startswith("0::")), "")
    return {**found, "scope_pids_cgroup": pids[0] if pids else "(no pids line)", "scope_unified_cgroup": unified}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=300)
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--inner", help=argparse.SUPPRESS)  # the run inside the scope: one bare bomb
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(bomb(Path(args.inner), args.threads, None)))
        return 0
    # not under /tmp: the private systemd mounts its own /tmp, and the scope must see the job folder
    root = Path(tempfile.mkdtemp(prefix="probe-thread-bound-", dir=Path.cwd()))
    try:
        report = {
            "threads": args.threads,
            "bare": bomb(root, args.threads, None),
            f"RLIMIT_NPROC={args.limit}": bomb(root, args.threads, args.limit),
            f"systemd-run --scope -p TasksMax={args.limit}": in_scope(root, args.threads, args.limit),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
