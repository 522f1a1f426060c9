"""``calpolicy run`` end to end on a real local environment: the gate, the job folder, faults and concurrency."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.jobs import JobStore
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.vocabulary.controls import CHECKLIST
from unit_tests.conftest import run_cli

MANIFEST_KEYS = {
    "schema", "job_id", "state", "history", "created_at", "operator", "on_call_until", "clm", "config_digest",
    "calpolicy_version", "verdict", "exit_code", "approval", "applied_version",
}  # fmt: skip
RUN_IDS = {cid for cid in CHECKLIST if cid.startswith(("P1.", "P2."))}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("runenv"), systemd=True, n_trades=1500) as environment:
        yield environment


@pytest.fixture(scope="module")
def config(env: LocalEnvironment) -> Path:
    # the environment starts healthy; a test that breaks something mends it. The Redis latency bound is
    # loosened here only because a loaded CI machine must not decide a test of the run and the job store,
    # and, as on a real host, loosening a checklist value takes a waiver.
    waiver = {"by": "unit tests", "why": "a loaded CI machine", "until": "2100-01-01T00:00:00+00:00"}
    return env.write_config(overrides={"redis.max_latency_ms": 500.0, "waivers.redis.max_latency_ms": waiver})


def _until() -> str:
    return (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")


def _run_argv(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "calpolicy.cli", "--config", str(config), "run", "--operator", "ana",
            "--on-call-until", _until(), *extra]  # fmt: skip


def _check_job(job_dir: Path, clm: Path) -> dict[str, Any]:
    """A published job is whole: the contract's files and manifest, and the bytes it says it analysed."""
    names = {p.name for p in job_dir.iterdir()}
    assert {"manifest.json", "proposal.json", "preflight_results.jsonl", "policy_results.jsonl"} <= names
    assert {"report.md", "report.json", "reliability.png", "policy_report.html", "statement.json"} <= names
    assert not [n for n in names if n.startswith(".")], names
    html = (job_dir / "policy_report.html").read_text()
    # the job's own environment table: read from its manifest, not from the hidden folder it was built in
    assert f"calpolicy job {job_dir.name} — ready for review" in html
    assert "UNREADABLE" not in html
    manifest = json.loads((job_dir / "manifest.json").read_text())
    assert set(manifest) >= MANIFEST_KEYS
    assert manifest["job_id"] == job_dir.name
    assert manifest["state"] == "proposed"
    assert manifest["history"][0]["by"] == "ana"
    assert manifest["operator"] == "ana"
    prefix = clm.read_bytes()[: manifest["clm"]["bytes"]]
    assert hashlib.sha256(prefix).hexdigest() == manifest["clm"]["sha256"]
    assert manifest["clm"]["lines"] == prefix.count(b"\n")
    rows = [json.loads(line) for line in (job_dir / "policy_results.jsonl").read_text().splitlines()]
    assert all(set(row) == {"nodeid", "ids", "outcome", "message"} for row in rows)
    assert {cid for row in rows for cid in row["ids"]} >= RUN_IDS
    assert (job_dir / "preflight_results.jsonl").read_text().count("\n") >= 20
    return manifest


def _failures(stdout: str) -> str:
    """The findings that stopped a ``--json`` run (the whole document is too long to read in a failure)."""
    try:
        document = json.loads(stdout)
    except ValueError:
        return stdout[-3000:]
    bad = [f for f in document.get("findings", []) if f.get("status") not in ("pass", "waived")]
    return json.dumps(bad, indent=1)[:4000]


def test_two_runs_at_once_make_two_whole_jobs(env: LocalEnvironment, config: Path) -> None:
    """Both runs succeed with distinct IDs; the job, `jobs` and `status` agree; the text says what to do."""
    text_run = subprocess.Popen(_run_argv(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    json_run = subprocess.run(_run_argv(config, "--json"), capture_output=True, text=True, timeout=300, check=False)
    text_out, text_err = text_run.communicate(timeout=300)
    assert json_run.returncode == 0, _failures(json_run.stdout) + json_run.stderr[-2000:]
    assert text_run.returncode == 0, text_out[-3000:] + text_err[-2000:]
    document = json.loads(json_run.stdout)
    assert document["verdict"] == "GO"
    assert document["exit_code"] == 0
    assert Path(document["job_dir"]).name == document["job_id"]
    first = text_out.splitlines()[0]
    assert first.startswith("GO — calpolicy run, job cal_"), text_out
    text_id = first.split("job ")[1].split(" ")[0]
    assert text_id != document["job_id"]
    assert f"job folder: {env.jobs_dir / text_id}" in text_out
    assert "lockdown:   audit hook + private network namespace" in text_out
    for job_id in (text_id, document["job_id"]):
        manifest = _check_job(env.jobs_dir / job_id, env.clm_file)
        assert manifest["verdict"] == "GO"
        assert manifest["lockdown"]["protected_before"] == manifest["lockdown"]["protected_after"]
    listed = json.loads(run_cli("--config", str(config), "jobs", "--json").stdout)
    assert {j["job_id"] for j in listed["jobs"]} >= {text_id, document["job_id"]}
    status = run_cli("--config", str(config), "status")
    assert status.returncode == 0
    assert f"latest job: {max(text_id, document['job_id'])} — proposed, verdict GO" in status.stdout
    assert "applied calibration: cal_20260206_060303" in status.stdout


def test_a_preflight_stop_makes_no_job(env: LocalEnvironment, config: Path) -> None:
    before = JobStore(env.jobs_dir).ids()
    env.set_halt("quantum:global:kill_switch", "1")
    try:
        done = subprocess.run(_run_argv(config, "--json"), capture_output=True, text=True, timeout=300, check=False)
    finally:
        env.redis.client().delete("quantum:global:kill_switch")
    document = json.loads(done.stdout)
    assert done.returncode == 1
    assert (document["verdict"], document["job_id"], document["job_dir"]) == ("STOP", None, None)
    assert "S.e" in {f["id"] for f in document["findings"] if f["status"] == "fail"}
    assert JobStore(env.jobs_dir).ids() == before
    assert not list(env.jobs_dir.glob(".*.tmp"))


def _run_in_private_mount(setup: str, config: Path) -> subprocess.CompletedProcess[str]:
    argv = _run_argv(config)
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", f'set -e; {setup}; exec "$@"', "sh", *argv],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_read_only_jobs_dir_is_exit_3(env: LocalEnvironment, config: Path) -> None:
    env.jobs_dir.mkdir(exist_ok=True)
    jobs = env.jobs_dir
    done = _run_in_private_mount(f"mount --bind {jobs} {jobs}; mount -o remount,bind,ro {jobs}", config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("STOP (could not check) — calpolicy run — the job could not be written")
    assert f"cannot create a job in {jobs}: Read-only file system" in done.stdout


def test_a_full_disk_is_exit_3(env: LocalEnvironment, config: Path) -> None:
    # the mount point must exist whatever ran before on this worker (xdist may give this test a fresh
    # environment, where no earlier run has made the jobs folder yet)
    env.jobs_dir.mkdir(exist_ok=True)
    before = set(JobStore(env.jobs_dir).ids())
    done = _run_in_private_mount(f"mount -t tmpfs -o size=16k tmpfs {env.jobs_dir}", config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("STOP (could not check)")
    assert "No space left on device" in done.stdout
    assert set(JobStore(env.jobs_dir).ids()) == before  # the tmpfs is gone with its namespace; nothing leaked
