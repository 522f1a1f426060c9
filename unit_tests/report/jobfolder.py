"""A real job folder, built the way ``calpolicy run`` builds one: a CLM file on disk, the real data gate,
``propose``, ``check_bounds``, a manifest per the job-folder contract and the real report writer.

The pytest-html report comes from a real child pytest run over the policy suite (``run_policy_suite``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import calpolicy
import policy_tests
from calpolicy.calibrate import propose
from calpolicy.calibrate.bounds import check_bounds
from calpolicy.clm import check_data
from calpolicy.clm.reader import read_clm
from calpolicy.review.report import write_report
from calpolicy.vocabulary.config import Config
from unit_tests.calibrate.synth import MODELS, draw, jsonl_bytes

POLICY_DIR = Path(policy_tests.__file__).parent


@dataclass
class Job:
    root: Path  # holds the CLM file, the jobs dir and the config
    dir: Path
    clm: Path
    config_file: Path
    config: Config
    manifest: dict

    @property
    def id(self) -> str:
        return self.dir.name


def make_job(
    root: Path, *, n: int = 3_000, truth: str = "overconfident", seed: int = 9, job_id: str = "cal_20260102_030405"
) -> Job:
    clm = root / "clm_trades.jsonl"
    clm.write_bytes(jsonl_bytes(draw(n, seed, truth, MODELS)))
    jobs = root / "jobs"
    config_file = root / "calpolicy.toml"
    config_file.write_text(
        f'[paths]\nclm_file = "{clm}"\njobs_dir = "{jobs}"\n\n'
        f'[signing]\nprivate_key = "{root / "keys" / "signing.key"}"\ntrusted_keys_dir = "{root / "trusted"}"\n',
        encoding="utf-8",
    )
    config = calpolicy.load_config(config_file, environ={})
    log = read_clm(clm)
    last = log.frame["timestamp"].max().to_pydatetime()
    now = (last if last.tzinfo else last.replace(tzinfo=UTC)) + timedelta(minutes=30)
    data = check_data(log, config, now=now)
    proposal = propose(log, config)
    bounds = check_bounds(proposal, config, log)
    job_dir = jobs / job_id
    job_dir.mkdir(parents=True)
    (job_dir / "proposal.json").write_text(proposal.to_json(), encoding="utf-8")
    raw = clm.read_bytes()
    created = datetime.now(UTC).replace(microsecond=0)
    verdict = bounds + data
    manifest = {
        "schema": "calpolicy.manifest/1",
        "job_id": job_id,
        "state": "proposed",
        "history": [{"state": "proposed", "by": "Kari Nordmann", "at": created.isoformat(), "note": "test job"}],
        "created_at": created.isoformat(),
        "operator": "Kari Nordmann",
        "on_call_until": (created + timedelta(hours=26)).isoformat(),
        "clm": {
            "path": str(clm),
            "bytes": len(raw),
            "lines": raw.count(b"\n"),
            "sha256": hashlib.sha256(raw).hexdigest(),
        },
        "config_digest": hashlib.sha256(config_json(config).encode()).hexdigest(),
        "calpolicy_version": calpolicy.__version__,
        "verdict": "GO" if verdict.go else "STOP",
        "exit_code": verdict.exit_code,
        "approval": None,
        "applied_version": None,
    }
    # as ``calpolicy run`` records the gate: the preflight's rows (here the real data gate's findings, one
    # row per item, in the recorder's row format), when it ran and how long it took, and run's own checks
    rows = [
        {"nodeid": f"policy_tests/phase0/test_clm_integrity.py::test_data_item[{f.id}]", "controls": [f.id],
         "status": f.status, "when": "call", "message": f.message, "passed": [[f.id, f.message]],
         "duration_s": 0.002}
        for f in data.findings
    ]  # fmt: skip
    (job_dir / "preflight_results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    began = (created - timedelta(seconds=9)).isoformat()
    manifest["preflight"] = {"results": "preflight_results.jsonl", "started_at": began, "duration_s": 8.25,
                             "verdict": "GO" if data.go else "STOP", "items": len(rows)}  # fmt: skip
    manifest["run_checks"] = [{"id": "run.sandbox", "status": "pass", "message": "calibration ran in the sandbox"}]
    (job_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    write_report(job_dir, proposal, bounds, data, manifest)
    return Job(root, job_dir, clm, config_file, config, manifest)


def config_json(config: Config) -> str:
    return json.dumps(config.as_dict(), sort_keys=True, separators=(",", ":"))


def run_policy_suite(job: Job, *paths: str, html: bool = True) -> subprocess.CompletedProcess[str]:
    """The phase 2 and 3 policy tests on the job, in a child pytest, writing the job's HTML and results."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY_")}
    targets = [str(POLICY_DIR / p) for p in (paths or ("phase2", "phase3"))]
    args = [sys.executable, "-m", "pytest", *targets, "-p", "no:cacheprovider", "-q",
            "--calpolicy-config", str(job.config_file), "--job", str(job.dir),
            "--calpolicy-results", str(job.dir / "policy_results.jsonl")]  # fmt: skip
    if html:
        args += ["--html", str(job.dir / "policy_report.html"), "--self-contained-html"]
    return subprocess.run(args, cwd=job.root, env=env, capture_output=True, text=True, timeout=300, check=False)
