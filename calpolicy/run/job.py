"""``run_job`` step by step: preflight, claimed job, sandboxed calibration, bounds, report, manifest, signature.

Why a module of its own: this is the order of the steps and what each writes into the job folder; the
policy-test child, the meaning of a sandbox result and the ways a run ends are their own modules.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calpolicy import __version__
from calpolicy.calibrate import Proposal, ProposalError
from calpolicy.calibrate.bounds import check_bounds
from calpolicy.files.safe_read import read_bytes, read_optional
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import (
    MANIFEST,
    MANIFEST_SCHEMA,
    OWNER_FILE,
    JobError,
    JobStore,
    PendingJob,
    sha256_hex,
)
from calpolicy.lockdown import engine_weights
from calpolicy.lockdown.protected import compare, digest_all, summary
from calpolicy.lockdown.sandbox import SandboxError, SandboxResult, os_guard, run_sandboxed
from calpolicy.preflight import PreflightRun, run_preflight
from calpolicy.review.report import DO_NOT_APPLY, write_report
from calpolicy.review.signing import SigningError, default_policy_test_files, load_private_key, sign_job
from calpolicy.run.context import RunContext, _effective, config_json
from calpolicy.run.findings import _sandbox_findings, _task_findings
from calpolicy.run.outcome import RUN_ID, SANDBOX_ID, SIGNING_ID, RunOutcome, _job_failed, _stopped, _stopped_many
from calpolicy.run.policy import PolicyTests, _contract_row
from calpolicy.vocabulary.config import Config, ConfigError
from calpolicy.vocabulary.verdict import Finding, Verdict

CALIBRATION_TASK = "calpolicy.calibrate.task:calibrate"


PREFLIGHT_RESULTS = "preflight_results.jsonl"
POLICY_RESULTS = "policy_results.jsonl"
PROPOSAL = "proposal.json"


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
            run = RunContext(effective, config_path, environ, preflight, operator, on_call_until, seed, timeout_s,
                       timings, started, task)  # fmt: skip
            return _after_preflight(run)
    except ConfigError as error:
        return _stopped(Finding("run.config", "error", str(error), {}), "preflight", None, {})


def _after_preflight(run: RunContext) -> RunOutcome:
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


def _in_job(run: RunContext, judged: dict[str, Any], store: JobStore, pending: PendingJob) -> RunOutcome:
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
        lockdown += _left_behind(pending.tmp_dir)
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
        try:  # the child wrote it: untrusted input, read bounded and parsed strictly, a STOP if unusable
            proposal = Proposal.from_json(read_bytes(pending.tmp_dir / PROPOSAL, "job"))
        except (ProposalError, OSError) as error:
            message = f"the calibration's {PROPOSAL} cannot be used: {error}"
            return _stopped(Finding("P2.1.a", "error", message, {}), "sandbox", preflight, timings)
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


def _left_behind(workdir: Path) -> list[Finding]:
    """The child writes ``proposal.json`` and nothing else; every other file of a job is the parent's.

    Why: the statement signs every file in the folder. A calibration that left a page of its own
    (``APPROVED.html``), a name with control characters or thousands of files had them signed and published
    with a GO job — vouched for, judged by no test. Anything more is a lockdown failure: nothing is published.
    """
    extra = sorted(set(os.listdir(workdir)) - {PROPOSAL, OWNER_FILE})
    if not extra:
        return []
    shown = ", ".join(repr(name)[:80] for name in extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
    message = f"the calibration left {len(extra)} entries besides {PROPOSAL} in the job folder: {shown}"
    return [Finding("P1.1.c", "fail", message, {"entries": len(extra)})]


def _approve_blocker(config: Config) -> str | None:
    """Why approve would STOP on this host whatever the job: the engine's ensemble weights would change."""
    try:  # bounded: a FIFO or a link to /dev/zero in the live file's place must not hang or fill memory
        live: bytes | None = read_optional(config.paths.calibration_file, "calibration")
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
    return parse_json((job_dir / "report.json").read_text(encoding="utf-8")).get("verdict") != DO_NOT_APPLY


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
