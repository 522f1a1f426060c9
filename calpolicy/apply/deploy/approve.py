"""``calpolicy approve``: build the calibration file from an approved job and make it live (P4.1).

Why a module of its own: what an approved job turns into (the file the engine reads) and the checks
before it is written change with the job and the loader's format, not with rollback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.apply.deploy.common import _acknowledge, _holder, _lock, _summary
from calpolicy.apply.deploy.live import (
    DEFAULT_WEIGHTS,
    PARSE_ERRORS,
    SCHEMA,
    UNREADABLE,
    DeployError,
    LivePaths,
    Outcome,
    Say,
    _reason,
    read_live,
)
from calpolicy.apply.deploy.swap import swap
from calpolicy.files.atomic_io import sha256_bytes
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import (
    MANIFEST,
    JobError,
    JobFiles,
    JobStore,
    read_job_files,
    unfinished_apply,
    validate_job_id,
)
from calpolicy.jobs import history as apply_history
from calpolicy.loader import parse_calibration
from calpolicy.lockdown import engine_weights
from calpolicy.vocabulary.config import Config


def build_calibration(
    proposal: Any,
    manifest: dict[str, Any],
    job_id: str,
    approver: str,
    approved_at: str,
    statement_sha256: str | None,
    weights: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The new ``calibration.json``: the engine's shape (REAL_SYSTEM.md §5) plus a ``calpolicy`` block.

    ``mapping`` is exactly ``Proposal.engine_mapping()`` — the map that was scored, in the form the engine
    applies. Ensemble weights are never changed by a calibration: they stay disabled, at the live values.
    """
    from calpolicy.calibrate.models import ENSEMBLE

    ens = proposal.models[ENSEMBLE]
    improvement_pct = None if ens.improvement is None else round(ens.improvement * 100, 4)
    return {
        "version": job_id,
        "created_at": manifest.get("created_at") or approved_at,
        "based_on_trades": int(ens.n),
        "approved_by": approver,
        "approved_at": approved_at,
        "confidence_calibration": {
            "enabled": True,
            "method": "isotonic",
            "mapping": proposal.engine_mapping(),
            "mse_before": ens.brier_before,
            "mse_after": ens.brier_after,
            "improvement_pct": improvement_pct,
            "sample_size": int(ens.n),
        },
        "ensemble_weights": {
            "enabled": False,
            "weights": dict(weights or DEFAULT_WEIGHTS),
            "changes": [],
            "total_delta": 0.0,
            "sample_size": 0,
        },
        "hold_bias": {
            "enabled": False,
            "adjustment_factor": 1.0,
            "hold_accuracy": 0.0,
            "missed_opportunities": 0,
            "sample_size": 0,
        },
        "metadata": {
            "win_rate_improvement": None,
            "confidence_mse_before": ens.brier_before,
            "confidence_mse_after": ens.brier_after,
            "weight_stability": 0.0,
            "validation_status": "passed",
            "risk_score": 0.0,
        },
        "validation_checks": [
            {
                "name": "calpolicy_policy_suite",
                "passed": True,
                "severity": "info",
                "description": "every calpolicy policy test of the job passed (out-of-fold Brier, ±band, all models)",
                "result": "passed",
                "details": f"job {job_id}",
            },
        ],
        "calpolicy": {
            "schema": SCHEMA,
            "job_id": job_id,
            "statement_sha256": statement_sha256,
            "proposal_sha256": manifest.get("_proposal_sha256"),
            "models": {
                name: {"x": list(r.x), "y": list(r.y)} for name, r in proposal.models.items() if name != ENSEMBLE
            },
            "on_call_until": manifest.get("_on_call_until"),
        },
    }


def serialize(document: dict[str, Any]) -> bytes:
    # ASCII only: the engine reads the file with the locale's encoding, which is ASCII under LC_ALL=C
    return json.dumps(document, indent=2, allow_nan=False, ensure_ascii=True).encode("ascii") + b"\n"


def approve_job(
    config: Config,
    job_id: str,
    approver: str,
    *,
    on_call_until: str | None = None,
    allow_restart: bool = False,
    wait: bool = True,
    say: Say = print,
    files: JobFiles | None = None,
) -> Outcome:
    """Apply an approved job's map to the live config (preconditions are ``approval_preconditions``'s job).

    ``files`` is the job as approve read it once, before its checks: the map applied is built from those
    bytes, never from the folder again, so a file replaced during the preflight changes nothing. The
    map's invariants and the P2.2 bounds are checked again on these bytes, and the new config is parsed as
    the loader would, all before the approval is recorded: a STOP here leaves the job proposed.

    A job left ``approved`` by an interrupted approve is resumed: re-applied if its version is not live,
    only recorded as applied if it is.
    """
    from calpolicy.calibrate import Proposal
    from calpolicy.review.approval import proposal_problems

    try:
        job_id = validate_job_id(job_id)
    except JobError as error:
        raise DeployError(str(error)) from None
    paths = LivePaths.from_config(config)
    store = JobStore(Path(config.paths.jobs_dir), paths.history)
    started = datetime.now(UTC).timestamp()
    with _lock(paths, approver, f"calpolicy approve {job_id}") as lock:
        if lock.stale:
            say(f"note: the previous holder of the lock died mid-command ({_holder(lock.stale)}); taking over")
        try:
            if files is None:
                files = read_job_files(store.path(job_id))
            if files.job_id != job_id:
                raise JobError(f"the job read is {files.job_id}, not {job_id}")
            manifest = parse_json(files.get(MANIFEST) or b"")
            if not isinstance(manifest, dict) or manifest.get("job_id") != job_id:
                raise JobError(f"job {job_id}'s manifest does not name job {job_id}")
            state = store.state(job_id, manifest)
        except (JobError, ValueError) as error:
            raise DeployError(f"cannot read job {job_id}: {error}") from None
        unfinished = unfinished_apply(state, manifest)
        if state not in ("proposed", "approved") and not unfinished:
            raise DeployError(f"job {job_id} is {state}; only a proposed job can be approved")
        proposal_bytes = files.get("proposal.json")
        problems = proposal_problems(proposal_bytes, config)
        if problems or proposal_bytes is None:
            raise DeployError(
                f"job {job_id}'s proposal fails its checks; nothing was applied or recorded: " + "; ".join(problems)
            )
        proposal = Proposal.from_json(proposal_bytes)
        live = read_live(paths)
        if live.version == UNREADABLE:
            raise DeployError(
                f"the live config {live.problem}; approve does not replace what it cannot archive (nothing was "
                "applied or recorded): put a regular file back, or use `calpolicy rollback none`"
            )
        approved_at = datetime.now(UTC).isoformat(timespec="seconds")
        meta = {**manifest, "_proposal_sha256": sha256_bytes(proposal_bytes), "_on_call_until": on_call_until}
        weights = (live.document.get("ensemble_weights") or {}).get("weights") or None
        statement = files.get("statement.json")
        document = build_calibration(
            proposal, meta, job_id, approver, approved_at, sha256_bytes(statement) if statement else None, weights
        )
        try:
            data = serialize(document)
            parse_calibration(data, "the new config")  # as the loader reads it, before anything is recorded
        except PARSE_ERRORS as error:
            raise DeployError(f"the config built from job {job_id} is not valid: {error}; nothing applied") from None
        moved = engine_weights.change(live.data, data) if live.version != job_id else None
        if moved:
            raise DeployError(
                f"{moved}. A calibration must never change the ensemble weights (P1.1.b, P2.1); "
                "the live config was not changed (docs/apply.md, 'Ensemble weights')"
            )
        if state == "proposed":
            try:
                store.transition(
                    job_id,
                    "approved",
                    approver,
                    note="approved for apply",
                    approval={
                        "by": approver,
                        "at": approved_at,
                        "on_call_until": on_call_until,
                        # the approver's statements, required by the command line (--reviewed, --on-call-until)
                        "reviewed_report": True,
                        "on_call_24h": True,
                    },
                )
            except (OSError, JobError) as error:
                raise DeployError(
                    f"cannot record the approval in job {job_id}'s manifest: {_reason(error)}; "
                    "the live config was not changed"
                ) from None
        else:
            say(f"note: job {job_id} was approved by an earlier, interrupted command; resuming it")
        if unfinished or (live.version == job_id and live.problem is None):
            outcome = _resumed(paths, job_id)
            say(f"version {job_id} was made live before the interruption; recording it")
        else:
            outcome = swap(
                paths, data, event="approve", to_version=job_id, then_previous=live.version, by=approver, job_id=job_id
            )
        try:
            # the decisions log's record (the history already says it is live; the log says who and when)
            JobStore(store.jobs_dir).finish(
                job_id,
                "applied",
                approver,
                applied_version=job_id,
                note=f"live; rollback target {outcome.rollback_target}",
            )
        except (OSError, JobError) as error:
            raise DeployError(
                f"version {job_id} IS LIVE, but job {job_id}'s manifest could not be marked applied: {_reason(error)}; "
                "fix the cause and rerun approve, which finishes the record without rewriting the config"
            ) from None
        outcome.lines.append(_summary(outcome, paths))
        if wait:
            _acknowledge(config, paths, outcome, started, allow_restart, say)
    return outcome


def _resumed(paths: LivePaths, job_id: str) -> Outcome:
    """The outcome of an approve whose swap happened before an interruption (read back from the history)."""
    try:
        entries = apply_history.read(paths.history)
    except OSError:
        entries = []
    begin = next((e for e in reversed(entries) if e.get("phase") == "begin" and e.get("to") == job_id), {})
    archived = Path(begin["archived"]) if begin.get("archived") else None
    return Outcome(
        "approve", str(begin.get("from", "?")), job_id, archived, begin.get("then_previous"), entry_id=begin.get("id")
    )
