"""Benchmark what the review report and its signature add to ``calpolicy run`` (issue 11).

Targets: for five models (ensemble + four) at n = 100,000, writing report.md/report.json/reliability.png,
the pytest-html report and the signed statement adds at most 3 s; ``verify`` on that job takes ≤ 0.5 s.

Setup (not timed): a real 100k-line CLM file, the data gate, ``propose`` and ``check_bounds``, and a job
folder with a contract manifest. Timed, best of ``--repeat``:
- ``write_report`` (report.md, report.json, reliability.png);
- the HTML's cost: the same child pytest run of the phase 2 + 3 policy tests on the job, with and without
  ``--html``, interleaved; the difference in wall time and in the child's CPU time (the CPU figure holds
  up on a shared machine where wall time swings by seconds) is what the HTML adds;
- ``sign_job`` (hashing every artifact, the CLM bytes and the policy tests; Ed25519) and ``verify_job``.

    python benchmarks/bench_report.py [--n 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from calpolicy.review.report import write_report
    from calpolicy.review.signing import default_policy_test_files, generate_keypair, sign_job, verify_job
    from unit_tests.report.jobfolder import config_json, make_job, run_policy_suite

    root = Path(tempfile.mkdtemp(prefix="bench_report_"))
    start = time.perf_counter()
    job = make_job(root, n=args.n, truth="overconfident", seed=5)
    setup_s = time.perf_counter() - start

    from calpolicy.calibrate import Proposal
    from calpolicy.calibrate.bounds import check_bounds
    from calpolicy.clm import check_data
    from calpolicy.clm.reader import read_clm

    proposal = Proposal.from_json((job.dir / "proposal.json").read_text(encoding="utf-8"))
    log = read_clm(job.clm)
    bounds = check_bounds(proposal, job.config)
    from datetime import timedelta

    data = check_data(log, job.config, now=log.frame["timestamp"].max().to_pydatetime() + timedelta(minutes=30))
    report_s = _best(lambda: write_report(job.dir, proposal, bounds, data, job.manifest), args.repeat)

    results = job.dir / "policy_results.jsonl"

    cpu: dict[bool, list[float]] = {False: [], True: []}

    def suite(html: bool) -> None:
        results.unlink(missing_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = run_policy_suite(job, html=html)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[html].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"policy suite failed:\n{done.stdout[-3000:]}")

    plain_s = html_s = float("inf")
    for _ in range(args.repeat):  # interleaved, so load changes hit both variants alike
        plain_s = min(plain_s, _best(lambda: suite(False), 1))
        html_s = min(html_s, _best(lambda: suite(True), 1))
    html_cpu_s = min(cpu[True]) - min(cpu[False])
    generate_keypair(root / "keys" / "signing.key", root / "trusted")
    tests = default_policy_test_files()

    def sign() -> None:
        for name in ("statement.json", "statement.sig"):
            (job.dir / name).unlink(missing_ok=True)
        sign_job(job.dir, root / "keys" / "signing.key", clm_path=job.clm, config_json=config_json(job.config),
                 policy_test_files=tests)  # fmt: skip

    sign_s = _best(sign, args.repeat)
    outcome = {}

    def verify() -> None:
        outcome["result"] = verify_job(job.dir, root / "trusted", clm_path=job.clm)

    verify_s = _best(verify, args.repeat)
    if not outcome["result"].ok:
        raise SystemExit(f"verify failed: {outcome['result'].problems}")
    added = report_s + max(html_cpu_s, 0.0) + sign_s  # wall time of a child run is noise on a shared box
    print(
        json.dumps(
            {
                "n": args.n,
                "models": len(proposal.models),
                "clm_bytes": job.manifest["clm"]["bytes"],
                "setup_s (generate log + propose, not counted)": round(setup_s, 2),
                "write_report_s": round(report_s, 3),
                "policy_suite_without_html_s": round(plain_s, 3),
                "policy_suite_with_html_s": round(html_s, 3),
                "html_added_wall_s": round(html_s - plain_s, 3),
                "html_added_cpu_s (child CPU time, robust to load)": round(html_cpu_s, 3),
                "sign_s": round(sign_s, 3),
                "added_to_run_s (report + html cpu + sign)": round(added, 3),
                "target_added_s": 3.0,
                "verify_s": round(verify_s, 3),
                "target_verify_s": 0.5,
                "html_bytes": (job.dir / "policy_report.html").stat().st_size,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
