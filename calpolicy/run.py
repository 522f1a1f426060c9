"""``run_job``: the gated calibration — preflight, sandboxed calibration, job folder, policy tests on the job.

This is the checklist's ``calibration_cli.py run`` made safe. It proposes and never acts:

1. the preflight (``pytest -m preflight`` in a child, exactly as ``calpolicy preflight``); anything but a
   clean GO stops here and creates nothing;
2. a job ID is claimed and the calibration runs in the sandbox (``calpolicy.lockdown.sandbox``) on exactly the
   CLM bytes the preflight judged, writing only ``proposal.json`` into the job's hidden temp folder;
   the protected paths are digested before and after, and any change, any lockdown violation or any
   sandbox failure is a STOP that publishes no job;
3. the job's files are written and the Phase 1 and Phase 2 policy tests run against it
   (``pytest -m "lockdown or proposal" --job DIR``);
4. the job is published in one rename, with its verdict in ``manifest.json``.

``calpolicy.propose`` stays a pure, ungated function for research; this is the gated call.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calpolicy import __version__
from calpolicy.calibrate import Proposal
from calpolicy.calibrate.bounds import check_bounds
from calpolicy.jobs import (
    MANIFEST,
    MANIFEST_SCHEMA,
    JobError,
    JobStore,
    PendingJob,
    canonical_json,
    sha256_hex,
)
from calpolicy.lockdown import engine_weights
from calpolicy.lockdown.protected import compare, digest_all, summary
from calpolicy.lockdown.sandbox import SandboxError, SandboxResult, os_guard, run_sandboxed
from calpolicy.preflight import PreflightRun, build_verdict, policy_dir, read_rows, run_preflight
from calpolicy.review.report import DO_NOT_APPLY, write_report
from calpolicy.review.signing import SigningError, default_policy_test_files, load_private_key, sign_job
from calpolicy.vocabulary.config import Config, ConfigError, load_config
from calpolicy.vocabulary.controls import CHECKLIST
from calpolicy.vocabulary.verdict import Finding, Verdict

CALIBRATION_TASK = "calpolicy.calibrate.task:calibrate"
POLICY_DIRS = ("phase1", "phase2", "phase3")
POLICY_MARKERS = "lockdown or proposal or report"
POLICY_IDS: tuple[str, ...] = tuple(cid for cid in CHECKLIST if cid.startswith(("P1.", "P2.", "P3.")))
HTML_REPORT = "policy_report.html"
PREFLIGHT_RESULTS = "preflight_results.jsonl"
POLICY_RESULTS = "policy_results.jsonl"
PROPOSAL = "proposal.json"
RUN_ID = "run.job"
SIGNING_ID = "run.signing"
SANDBOX_ID = "run.sandbox"
_OUTCOME = {"pass": "pass", "fail": "fail", "error": "error", "skip": "skip"}


@dataclass(frozen=True)
class RunOutcome:
    """The run's verdict, the job it made (None when it stopped before one could be made) and timings."""

    verdict: Verdict
    job_id: str | None
    job_dir: Path | None
    stage: str  # where the run ended: preflight | sandbox | lockdown | job | done
    preflight: PreflightRun | None = None
    written: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        document = self.verdict.to_dict()
        document["job_id"] = self.job_id
        document["job_dir"] = None if self.job_dir is None else str(self.job_dir)
        document["stage"] = self.stage
        document["written"] = list(self.written)
        document["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        if self.details.get("approve_blocker"):  # why approve will STOP on this host whatever the job
            document["approve_blocker"] = self.details["approve_blocker"]
        return document


def config_json(config: Config) -> str:
    """The effective config's canonical JSON: what ``config_digest`` (and the signed statement) cover."""
    return canonical_json(config.as_dict())


@contextlib.contextmanager
def _effective(config: Config | str | os.PathLike[str] | None) -> Iterator[tuple[Config, Path | None, dict[str, str]]]:
    """The config for this process and what the child processes need to see exactly the same one."""
    if not isinstance(config, Config):
        path = None if config is None else Path(config)
        yield load_config(path), path, dict(os.environ)
        return
    from calpolicy.localenv.toml_writer import dumps

    with tempfile.TemporaryDirectory(prefix="calpolicy-run-config-") as tmp:
        path = Path(tmp) / "calpolicy.toml"
        path.write_text(dumps(config.as_dict()), encoding="utf-8")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY_")}
        yield config, path, environ  # the file is the whole truth: no CALPOLICY_* layered on top


def run_job(
    config: Config | str | os.PathLike[str] | None = None,
    *,
    operator: str | None = None,
    on_call_until: str | None = None,
    now: str | None = None,
    seed: int = 0,
    preflight_timeout_s: float = 120.0,
    timeout_s: float = 1800.0,
    task: str = CALIBRATION_TASK,
) -> RunOutcome:
    """The gated calibration (see the module docstring). ``config`` is a Config, a TOML path or None.

    ``task`` is the sandbox task that calibrates (``module:function``); the demo and the tests swap in a
    misbehaving one to show the lockdown at work. Whatever runs there runs under the same guard.
    """
    started = time.monotonic()
    try:
        with _effective(config) as (effective, config_path, environ):
            try:  # before anything runs: a job that cannot be signed cannot be approved
                load_private_key(effective.signing.private_key)
            except SigningError as error:
                return _stopped(Finding(SIGNING_ID, "error", str(error), {}), "signing", None, {})
            try:  # and one that cannot be locked down is not run: no bubblewrap is could-not-check, not a wait
                os_guard()
            except SandboxError as error:
                return _stopped(Finding(SANDBOX_ID, "error", str(error), {}), "sandbox", None, {})
            preflight = run_preflight(
                config_path, operator=operator, on_call_until=on_call_until, now=now,
                timeout_s=preflight_timeout_s, environ=environ,
            )  # fmt: skip
            timings = {"preflight_s": preflight.duration_s}
            if not preflight.verdict.go:
                return RunOutcome(preflight.verdict, None, None, "preflight", preflight, timings=timings)
            run = _Run(effective, config_path, environ, preflight, operator, on_call_until, seed, timeout_s,
                       timings, started, task)  # fmt: skip
            return _after_preflight(run)
    except ConfigError as error:
        return _stopped(Finding("run.config", "error", str(error), {}), "preflight", None, {})


@dataclass
class _Run:
    """What one run carries from the preflight to the signed job; ``timings`` fills in as it goes."""

    config: Config
    config_path: Path | None
    environ: dict[str, str]
    preflight: PreflightRun
    operator: str | None
    on_call_until: str | None
    seed: int
    timeout_s: float
    timings: dict[str, float]
    started: float
    task: str


def _after_preflight(run: _Run) -> RunOutcome:
    config, preflight, timings = run.config, run.preflight, run.timings
    judged = preflight.clm
    if judged is None:
        message = "the preflight did not record which CLM bytes it judged, so the calibration cannot use them"
        return _stopped(Finding(RUN_ID, "error", message, {}), "preflight", preflight, timings)
    store = JobStore(config.paths.jobs_dir)
    t_job = time.monotonic()
    try:
        pending = store.begin()
    except JobError as error:
        return _job_failed(str(error), store, preflight, timings)
    timings["job_claim_s"] = time.monotonic() - t_job
    try:
        return _in_job(run, judged, store, pending)
    except OSError as error:
        where = error.filename or store.jobs_dir
        message = f"cannot write the job in {store.jobs_dir}: {error.strerror or error} ({where})"
        return _job_failed(message, store, preflight, timings)
    except JobError as error:
        return _job_failed(str(error), store, preflight, timings)
    finally:
        if pending.tmp_dir.exists():
            pending.abandon()


def _in_job(run: _Run, judged: dict[str, Any], store: JobStore, pending: PendingJob) -> RunOutcome:
    config, preflight, timings = run.config, run.preflight, run.timings
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    before = digest_all(config)
    args = {
        "clm_path": judged["path"], "clm_bytes": int(judged["bytes"]), "clm_sha256": judged["sha256"],
        "config": config.as_dict(), "seed": run.seed,
    }  # fmt: skip
    # The policy tests start now, beside the calibration: their start-up and the lockdown attempts overlap
    # the sandbox; the tests that read the job wait until its manifest appears (written last, below).
    policy = PolicyTests(run.config_path, pending.tmp_dir, run.environ, run.timeout_s)
    t_sandbox = time.monotonic()
    try:
        try:
            box = run_sandboxed(run.task, pending.tmp_dir, [Path(judged["path"])], args, timeout_s=run.timeout_s)
        except SandboxError as error:
            return _stopped(Finding(SANDBOX_ID, "error", str(error), {}), "sandbox", preflight, timings)
        timings["sandbox_s"] = time.monotonic() - t_sandbox
        after = digest_all(config)
        lockdown = compare(before, after) + _sandbox_findings(box, config)
        task = box.result or {}
        if not all(f.status == "pass" for f in lockdown) or "stop" in task or "error" in task:
            findings = [f for f in lockdown if f.status != "pass"] + _task_findings(task)
            return _stopped_many(findings or lockdown, "lockdown" if box.violation else "sandbox", preflight, timings)
        if task.get("propose_s") is not None:
            timings["propose_in_sandbox_s"] = float(task["propose_s"])
        if box.startup_s is not None:
            timings["sandbox_startup_s"] = box.startup_s

        t_write = time.monotonic()
        pending.write(PREFLIGHT_RESULTS, "".join(json.dumps(row, default=str) + "\n" for row in preflight.rows))
        manifest = _manifest(
            pending.job_id, created_at, run.operator, run.on_call_until, task, config, box, before, after
        )
        manifest.update(_gate_record(preflight, run.started, lockdown))
        proposal = Proposal.from_json((pending.tmp_dir / PROPOSAL).read_text(encoding="utf-8"))
        bounds = check_bounds(proposal, config)
        # The report comes before the manifest: the phase 3 tests wait for the manifest and then read it.
        report_ready = _write_review_report(pending.tmp_dir, proposal, bounds, preflight.verdict, manifest)
        pending.write(MANIFEST, json.dumps(manifest, indent=2) + "\n")  # last: the policy tests wait for it
        timings["job_write_s"] = time.monotonic() - t_write

        rows, policy_verdict = policy.finish()
        timings["policy_tests_s"] = time.monotonic() - t_sandbox
    finally:
        policy.cancel()
    t_write = time.monotonic()
    pending.write(POLICY_RESULTS, "".join(json.dumps(_contract_row(row)) + "\n" for row in rows))
    verdict = Verdict(tuple(lockdown) + policy_verdict.findings)
    manifest["verdict"] = "GO" if verdict.go else "STOP"
    manifest["exit_code"] = verdict.exit_code
    pending.write(MANIFEST, json.dumps(manifest, indent=2) + "\n")
    if report_ready and not verdict.go:  # a policy test failed after the report was written: say so first
        _write_review_report(pending.tmp_dir, proposal, bounds, preflight.verdict, manifest)
    # Last, over every artifact: the signed statement (the key was loaded before the preflight).
    try:
        sign_job(
            pending.tmp_dir, config.signing.private_key, clm_path=Path(judged["path"]),
            config_json=config_json(config), policy_test_files=default_policy_test_files(),
        )  # fmt: skip
    except SigningError as error:
        return _stopped(Finding(SIGNING_ID, "error", f"the job could not be signed: {error}", {}), "signing",
                        preflight, timings)  # fmt: skip

    written = tuple(sorted(p.name for p in pending.tmp_dir.iterdir() if not p.name.startswith(".")))
    job_dir = store.commit(pending)
    timings["job_write_s"] += time.monotonic() - t_write
    timings["total_s"] = time.monotonic() - run.started
    details = {"clm": manifest["clm"], "clm_grown_bytes": task.get("grown_bytes", 0), "os_guard": box.os_guard}
    details["approve_blocker"] = _approve_blocker(config)
    return RunOutcome(verdict, pending.job_id, job_dir, "done", preflight, written, timings, details)


def _approve_blocker(config: Config) -> str | None:
    """Why approve would STOP on this host whatever the job: the engine's ensemble weights would change."""
    try:
        live: bytes | None = Path(config.paths.calibration_file).read_bytes()
    except FileNotFoundError:
        live = None
    except OSError:
        return None  # approve reads it again and says what is wrong
    return engine_weights.apply_would_change(live)


def _gate_record(preflight: PreflightRun, started: float, lockdown: list[Finding]) -> dict[str, Any]:
    """What the signed report shows of the checks before the policy tests: the preflight that gated the
    calibration (when, how long, its verdict; its rows are preflight_results.jsonl) and the checks ``run``
    itself made around the sandbox (they count among the job's items)."""
    began = datetime.now(UTC) - timedelta(seconds=time.monotonic() - started)
    return {
        "preflight": {
            "results": PREFLIGHT_RESULTS,
            "started_at": began.isoformat(timespec="seconds"),
            "duration_s": round(preflight.duration_s, 3),
            "verdict": "GO" if preflight.verdict.go else "STOP",
            "items": len(preflight.verdict.item_statuses()),
        },
        "run_checks": [{"id": f.id, "status": f.status, "message": f.message} for f in lockdown],
    }


def _write_review_report(job_dir: Path, proposal: Proposal, bounds: Verdict, data: Verdict, manifest: dict) -> bool:
    """report.md, report.json and reliability.png; True when the report says "ready for review"."""
    write_report(job_dir, proposal, bounds, data, manifest)
    return json.loads((job_dir / "report.json").read_text(encoding="utf-8")).get("verdict") != DO_NOT_APPLY


def _job_failed(message: str, store: JobStore, preflight: PreflightRun, timings: dict[str, float]) -> RunOutcome:
    """The job could not be written (full disk, read-only folder): could not check, exit 3, no job."""
    return _stopped(Finding(RUN_ID, "error", message, {"jobs_dir": str(store.jobs_dir)}), "job", preflight, timings)


def _stopped(finding: Finding, stage: str, preflight: PreflightRun | None, timings: dict[str, float]) -> RunOutcome:
    return _stopped_many([finding], stage, preflight, timings)


def _stopped_many(
    findings: list[Finding], stage: str, preflight: PreflightRun | None, timings: dict[str, float]
) -> RunOutcome:
    return RunOutcome(Verdict(tuple(findings)), None, None, stage, preflight, timings=timings)


def violation_id(operation: str, target: str, config: Config) -> str:
    """The checklist item a refused operation would have broken."""
    if operation.startswith("socket."):
        from urllib.parse import urlparse

        redis = urlparse(config.redis.url)
        redis_address = f"{redis.hostname}:{redis.port or 6379}"
        return "P1.2.c" if target == redis_address or target.startswith("/") else "P1.2.b"
    if operation in ("open for reading", "os.listdir", "os.scandir", "glob.glob"):
        return "P1.2.a"
    if operation.startswith(("subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                             "os.kill", "os.killpg", "signal.", "pty.", "os.startfile", "os.pidfd")):  # fmt: skip
        return "P1.1.e"
    from calpolicy.lockdown.protected import protected_roots

    real = Path(os.path.realpath(target)) if target.startswith("/") else None
    for control_id, root in protected_roots(config):
        root_real = Path(os.path.realpath(root))
        if real is not None and (real == root_real or root_real in real.parents) and control_id.startswith("P1.1"):
            return control_id
    return "P1.1.c"


def _sandbox_findings(box: SandboxResult, config: Config) -> list[Finding]:
    evidence = {"os_guard": box.os_guard, "returncode": box.returncode}
    if box.violation is not None:
        operation, target = box.violation["operation"], box.violation["target"]
        control_id = violation_id(operation, target, config)
        message = f"lockdown: the calibration attempted {operation} {target}; it was refused and the run stopped"
        return [Finding(control_id, "fail", message, {**evidence, **box.violation})]
    if box.error is not None:
        return [Finding(SANDBOX_ID, "error", f"the sandboxed calibration failed: {box.error}", evidence)]
    return [Finding(SANDBOX_ID, "pass", f"calibration ran in the sandbox ({box.os_guard})", evidence)]


def _task_findings(task: dict[str, Any]) -> list[Finding]:
    if "stop" in task:
        return [Finding(task["stop"]["id"], "fail", task["stop"]["message"], {})]
    if "error" in task:
        return [Finding(task["error"]["id"], "error", task["error"]["message"], {})]
    return []


def _manifest(
    job_id: str,
    created_at: str,
    operator: str | None,
    on_call_until: str | None,
    task: dict[str, Any],
    config: Config,
    box: SandboxResult,
    before: list[Any],
    after: list[Any],
) -> dict[str, Any]:
    by = operator or "calpolicy run"
    return {
        "schema": MANIFEST_SCHEMA,
        "job_id": job_id,
        "state": "proposed",
        "history": [{"state": "proposed", "by": by, "at": created_at, "note": "calpolicy run: preflight GO"}],
        "created_at": created_at,
        "operator": operator,
        "on_call_until": on_call_until,
        "clm": task["clm"],
        "config_digest": sha256_hex(config_json(config).encode("utf-8")),
        "calpolicy_version": __version__,
        "verdict": None,
        "exit_code": None,
        "approval": None,
        "applied_version": None,
        "proposal": PROPOSAL,
        "proposal_sha256": task.get("proposal_sha256"),
        "preflight_results": PREFLIGHT_RESULTS,
        "policy_results": POLICY_RESULTS,
        "clm_grown_bytes": task.get("grown_bytes", 0),
        "lockdown": {
            "os_guard": box.os_guard,
            "protected_before": summary(before),
            "protected_after": summary(after),
        },
    }


def _policy_argv(results: Path, job_dir: Path, config_path: Path | None, wait_s: float) -> list[str]:
    argv = [
        sys.executable, "-m", "pytest", *(str(policy_dir() / d) for d in POLICY_DIRS), "-m", POLICY_MARKERS,
        "-p", "calpolicy.plugin", "-p", "pytest_metadata.plugin", "-p", "pytest_html.plugin",
        "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
        "--calpolicy-results", str(results), "--job", str(job_dir), "--job-wait", f"{wait_s:g}",
        "--html", str(job_dir / HTML_REPORT), "--self-contained-html",
    ]  # fmt: skip
    if config_path is not None:
        argv += ["--calpolicy-config", str(config_path)]
    return argv


class PolicyTests:
    """Phase 1 and 2 on the job, as a child pytest started early; fail closed like the preflight."""

    def __init__(self, config_path: Path | None, job_dir: Path, environ: Mapping[str, str], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tmp = tempfile.TemporaryDirectory(prefix="calpolicy-policy-")
        self.results = Path(self.tmp.name) / "results.jsonl"
        env = {**environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        env.pop("CALPOLICY_RESULTS", None)
        self.child = subprocess.Popen(
            _policy_argv(self.results, job_dir, config_path, timeout_s), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, text=True, start_new_session=True,
        )  # fmt: skip

    def finish(self) -> tuple[list[dict[str, Any]], Verdict]:
        try:
            output, _ = self.child.communicate(timeout=self.timeout_s)
            returncode: int | None = self.child.returncode
        except subprocess.TimeoutExpired:
            self.cancel()
            returncode, output = None, f"the policy tests did not finish within {self.timeout_s:g} s"
        rows = read_rows(self.results)
        tail = "\n".join(output.strip().splitlines()[-15:])
        return rows, build_verdict(rows, returncode, tail, POLICY_IDS, "policy tests")

    def cancel(self) -> None:
        """Stop the child and everything it started (its sandboxes), and drop its scratch folder."""
        if self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.child.pid, signal.SIGKILL)
            self.child.communicate()
        self.tmp.cleanup()


def _contract_row(row: dict[str, Any]) -> dict[str, Any]:
    """policy_results.jsonl as CONTRACTS.md fixes it: nodeid, ids, outcome, message."""
    return {
        "nodeid": row.get("nodeid"),
        "ids": list(row.get("controls") or []),
        "outcome": _OUTCOME.get(str(row.get("status")), "error"),
        "message": str(row.get("message") or ""),
    }


def job_store(config: Config) -> JobStore:
    return JobStore(config.paths.jobs_dir)


__all__ = ["RunOutcome", "config_json", "job_store", "run_job", "violation_id"]
