"""Apply and rollback: the only code in calpolicy that writes to the live system (checklist 4.1).

Every write follows the same order, under one exclusive lock (``apply_lock``):

1. validate the new config completely (the loader's own parser) — an invalid file is never written;
2. archive the live file to ``calibration_archive/calibration_<live version>.json`` and read it back;
3. append a ``begin`` line to the history, with the rollback target the new state will have;
4. write ``calibration.json`` by temp file + fsync + ``os.replace`` + directory fsync (or, for
   ``rollback none``, unlink it + directory fsync);
5. append a ``done`` line; move the job's manifest along;
6. confirm from the engine's own evidence that it serves the new version (``calpolicy.confirmation``: the
   acknowledgement or log line of the unit's current main process); a ``reload_signal`` that ends the
   engine counts as the one restart; otherwise only with ``allow_restart`` restart the unit, once.

A SIGKILL at any instant leaves ``calibration.json`` either the old bytes or the new bytes, every config
that was ever live in the archive, and the lock free (see unit_tests/deploy/test_crash_safety.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy import apply_history, archive, engine_weights
from calpolicy.apply_lock import ApplyLock, LockedError
from calpolicy.atomic_io import clean_stale_temps, remove_durably, sha256_bytes, write_atomic
from calpolicy.config import Config
from calpolicy.jobs import JobError, JobStore, validate_job_id
from calpolicy.loader import LOADED_MARKER, NO_CALIBRATION, CalibrationError, parse_calibration

SCHEMA = "calpolicy.calibration/1"
DEFAULT_WEIGHTS = {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}
Say = Callable[[str], None]


class DeployError(RuntimeError):
    """The command cannot go ahead; the live config is untouched unless the message says otherwise."""


class NothingToDo(DeployError):
    """The requested state is already live."""


class Locked(DeployError):
    """Another approve or rollback holds the lock (the message names who, since when, which PID)."""


__all__ = ["DeployError", "JobError", "Locked", "NothingToDo", "validate_job_id"]


@dataclass(frozen=True)
class LivePaths:
    calibration_file: Path
    archive_dir: Path

    @property
    def folder(self) -> Path:
        return self.calibration_file.parent

    @property
    def history(self) -> Path:
        return self.archive_dir / apply_history.HISTORY_NAME

    @property
    def marker(self) -> Path:
        return self.folder / LOADED_MARKER

    @classmethod
    def from_config(cls, config: Config) -> LivePaths:
        return cls(Path(config.paths.calibration_file), Path(config.paths.archive_dir))


@dataclass(frozen=True)
class Live:
    """What is live right now: the bytes (None = no file) and the version they carry."""

    data: bytes | None
    version: str
    document: dict[str, Any] = field(default_factory=dict)


def read_live(paths: LivePaths) -> Live:
    try:
        data = paths.calibration_file.read_bytes()
    except FileNotFoundError:
        return Live(None, NO_CALIBRATION)
    except OSError as error:
        raise DeployError(f"cannot read the live config {paths.calibration_file}: {error.strerror}") from None
    try:
        snap = parse_calibration(data, str(paths.calibration_file))
    except CalibrationError:
        return Live(data, f"unparsable_{sha256_bytes(data)[:12]}")
    return Live(data, snap.version, snap.document)


@dataclass
class Outcome:
    """What a command did, for the operator: the versions, the archive copy, the loader's answer."""

    event: str
    from_version: str
    to_version: str
    archived: Path | None = None
    rollback_target: str | None = None
    acknowledged: bool | None = None
    restarted: bool = False
    lines: list[str] = field(default_factory=list)
    entry_id: str | None = None
    confirmation: Any = None  # calpolicy.confirmation.Confirmation, once the engine was asked


# --------------------------------------------------------------------------------------------- the swap


def _fail(what: str, error: OSError, target: Path) -> DeployError:
    return DeployError(f"{what} {target}: {error.strerror or error}; the live config was not changed")


def swap(
    paths: LivePaths,
    new_data: bytes | None,
    *,
    event: str,
    to_version: str,
    then_previous: str | None,
    by: str,
    job_id: str | None = None,
    note: str = "",
) -> Outcome:
    """Archive the live file, record the change, replace the live file. Call only under ``ApplyLock``."""
    if new_data is not None:
        parse_calibration(new_data, "the new config")  # never write what the loader would refuse
    for folder in (paths.folder, paths.archive_dir):
        clean_stale_temps(folder)
    live = read_live(paths)
    archived = None
    if live.data is not None:
        try:
            archived = archive.store(paths.archive_dir, live.version, live.data)
        except OSError as error:
            raise _fail("cannot archive the live config to", error, paths.archive_dir) from None
    entry_id = uuid.uuid4().hex
    begin = {
        "id": entry_id,
        "phase": "begin",
        "event": event,
        "from": live.version,
        "to": to_version,
        "then_previous": then_previous,
        "by": by,
        "job_id": job_id,
        "note": note,
        "pid": os.getpid(),
        "at": datetime.now(UTC).isoformat(),
        "archived": str(archived) if archived else None,
        "from_sha256": sha256_bytes(live.data) if live.data is not None else None,
        "to_sha256": sha256_bytes(new_data) if new_data is not None else None,
    }
    try:
        apply_history.append(paths.history, begin)
    except OSError as error:
        raise _fail("cannot record the change in", error, paths.history) from None
    try:
        if new_data is None:
            if paths.calibration_file.exists():
                remove_durably(paths.calibration_file)
        else:
            write_atomic(paths.calibration_file, new_data)
    except OSError as error:
        with contextlib.suppress(OSError):
            apply_history.append(paths.history, {"id": entry_id, "phase": "failed", "error": str(error)})
        raise _fail("cannot write the live config", error, paths.calibration_file) from None
    apply_history.append(paths.history, {"id": entry_id, "phase": "done", "at": datetime.now(UTC).isoformat()})
    return Outcome(event, live.version, to_version, archived, then_previous, entry_id=entry_id)


# --------------------------------------------------------------------------------------------- approve


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


def _digest_file(path: Path) -> str | None:
    try:
        return sha256_bytes(path.read_bytes())
    except FileNotFoundError:
        return None


def approve_job(
    config: Config,
    job_id: str,
    approver: str,
    *,
    on_call_until: str | None = None,
    allow_restart: bool = False,
    wait: bool = True,
    say: Say = print,
) -> Outcome:
    """Apply an approved job's map to the live config (preconditions are ``approval_preconditions``'s job).

    A job left ``approved`` by an interrupted approve is resumed: re-applied if its version is not live,
    only recorded as applied if it is.
    """
    from calpolicy.calibrate import Proposal, ProposalError

    try:
        job_id = validate_job_id(job_id)
    except JobError as error:
        raise DeployError(str(error)) from None
    paths = LivePaths.from_config(config)
    store = JobStore(Path(config.paths.jobs_dir))
    started = datetime.now(UTC).timestamp()
    with _lock(paths, approver, f"calpolicy approve {job_id}") as lock:
        if lock.stale:
            say(f"note: the previous holder of the lock died mid-command ({_holder(lock.stale)}); taking over")
        try:
            manifest = store.manifest(job_id)
            job_dir = store.path(job_id)
        except JobError as error:
            raise DeployError(str(error)) from None
        state = manifest.get("state")
        if state not in ("proposed", "approved"):
            raise DeployError(f"job {job_id} is {state}; only a proposed job can be approved")
        live = read_live(paths)
        try:
            proposal_bytes = (job_dir / "proposal.json").read_bytes()
            proposal = Proposal.from_json(proposal_bytes)
        except (OSError, ProposalError) as error:
            raise DeployError(f"cannot read the job's proposal: {error}") from None
        approved_at = datetime.now(UTC).isoformat(timespec="seconds")
        meta = {**manifest, "_proposal_sha256": sha256_bytes(proposal_bytes), "_on_call_until": on_call_until}
        weights = (live.document.get("ensemble_weights") or {}).get("weights") or None
        document = build_calibration(
            proposal, meta, job_id, approver, approved_at, _digest_file(job_dir / "statement.json"), weights
        )
        data = serialize(document)
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
                        "by": approver, "at": approved_at, "on_call_until": on_call_until,
                        # the approver's statements, required by the command line (--reviewed, --on-call-until)
                        "reviewed_report": True, "on_call_24h": True,
                    },
                )
            except (OSError, JobError) as error:
                raise DeployError(
                    f"cannot record the approval in job {job_id}'s manifest: {_reason(error)}; "
                    "the live config was not changed"
                ) from None
        else:
            say(f"note: job {job_id} was approved by an earlier, interrupted command; resuming it")
        if live.version == job_id:
            outcome = _resumed(paths, job_id)
            say(f"version {job_id} is already live (written before the interruption); recording it")
        else:
            outcome = swap(
                paths, data, event="approve", to_version=job_id, then_previous=live.version, by=approver, job_id=job_id
            )
        try:
            store.transition(
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
    entries = apply_history.read(paths.history)
    begin = next((e for e in reversed(entries) if e.get("phase") == "begin" and e.get("to") == job_id), {})
    archived = Path(begin["archived"]) if begin.get("archived") else None
    return Outcome(
        "approve", str(begin.get("from", "?")), job_id, archived, begin.get("then_previous"), entry_id=begin.get("id")
    )


# --------------------------------------------------------------------------------------------- rollback


def rollback(
    config: Config,
    target: str = "previous",
    by: str = "operator",
    *,
    allow_restart: bool = False,
    wait: bool = True,
    say: Say = print,
) -> Outcome:
    """Go back to the previous version, to any archived version, or to ``none`` (no calibration)."""
    if target != "previous":
        try:
            archive.validate_version(target)
        except ValueError as error:
            raise DeployError(str(error)) from None
    paths = LivePaths.from_config(config)
    started = datetime.now(UTC).timestamp()
    with _lock(paths, by, f"calpolicy rollback {target}") as lock:
        if lock.stale:
            say(f"note: the previous holder of the lock died mid-command ({_holder(lock.stale)}); taking over")
        entries = apply_history.read(paths.history)
        live = read_live(paths)
        wanted = target
        if target == "previous":
            recorded = apply_history.rollback_target_of(entries, live.version)
            if recorded is None:
                raise DeployError(
                    f"no rollback target is recorded for the live version {live.version}; name one: "
                    f"calpolicy rollback VERSION|none (archived: {_known(paths)})"
                )
            wanted = recorded
        if wanted == NO_CALIBRATION:
            if live.data is None:
                raise NothingToDo("no calibration is live already; nothing to do")
            outcome = swap(
                paths,
                None,
                event="rollback",
                to_version=NO_CALIBRATION,
                then_previous=None,
                by=by,
                job_id=_job_of(live),
                note=f"requested: {target}",
            )
        else:
            try:
                found = archive.find(paths.archive_dir, wanted)
                data = found.path.read_bytes()
            except (archive.ArchiveError, ValueError) as error:
                raise DeployError(f"{error}; the live config was not changed") from None
            except OSError as error:
                raise _fail("cannot read the archived config", error, paths.archive_dir) from None
            if live.data is not None and sha256_bytes(live.data) == found.sha256:
                raise NothingToDo(f"version {found.version} ({found.path.name}) is live already; nothing to do")
            outcome = swap(
                paths,
                data,
                event="rollback",
                to_version=found.version,
                then_previous=apply_history.rollback_target_of(entries, found.version),
                by=by,
                job_id=_job_of(live),
                note=f"requested: {target}; restored {found.path.name}",
            )
        _record_rollback_in_job(config, live, outcome, by, say)
        outcome.lines.append(_summary(outcome, paths))
        moved = engine_weights.change(live.data, None if wanted == NO_CALIBRATION else data)
        if moved:  # a rollback restores a state that was live before, weights included (docs/apply.md)
            outcome.lines.append(f"note: {moved}: the weights of the restored state")
        if wait:
            _acknowledge(config, paths, outcome, started, allow_restart, say)
    return outcome


def _job_of(live: Live) -> str | None:
    block = live.document.get("calpolicy")
    job = block.get("job_id") if isinstance(block, dict) else None
    return job if isinstance(job, str) else None


def _record_rollback_in_job(config: Config, left: Live, outcome: Outcome, by: str, say: Say) -> None:
    job_id = _job_of(left)
    if job_id is None:
        return
    store = JobStore(Path(config.paths.jobs_dir))
    try:
        if store.manifest(job_id).get("state") == "applied":
            store.transition(
                job_id,
                "rolled_back",
                by,
                note=f"rolled back to {outcome.to_version}",
                rolled_back_to=outcome.to_version,
            )
    except (OSError, JobError) as error:
        say(f"note: the rollback is done, but job {job_id}'s manifest could not be updated: {error}")


# --------------------------------------------------------------------------------------------- helpers


def _lock(paths: LivePaths, who: str, command: str) -> ApplyLock:
    if not paths.folder.is_dir():
        raise DeployError(f"the config folder {paths.folder} does not exist")
    lock = ApplyLock(paths.folder, who, command)
    return _OpenErrors(lock)  # type: ignore[return-value]


class _OpenErrors:
    """Turn an OSError while taking the lock (read-only folder, full disk) into a clear DeployError."""

    def __init__(self, lock: ApplyLock) -> None:
        self.lock = lock

    def __enter__(self) -> ApplyLock:
        try:
            return self.lock.__enter__()
        except LockedError as error:
            raise Locked(str(error)) from None
        except OSError as error:
            raise _fail("cannot take the apply lock in", error, self.lock.path.parent) from None

    def __exit__(self, *exc: object) -> None:
        self.lock.__exit__(*exc)


def _reason(error: Exception) -> str:
    return (error.strerror or str(error)) if isinstance(error, OSError) else str(error)


def _holder(info: dict[str, Any]) -> str:
    from calpolicy.apply_lock import describe_holder

    return describe_holder(info)


def _known(paths: LivePaths) -> str:
    return ", ".join(sorted({e.version for e in archive.index(paths.archive_dir)})) or "none"


def _summary(outcome: Outcome, paths: LivePaths) -> str:
    kept = f"; previous config archived as {outcome.archived}" if outcome.archived else ""
    back = outcome.rollback_target or "nothing recorded (name a version, or none)"
    now = (
        f"{paths.calibration_file} removed: NO calibration is applied"
        if outcome.to_version == NO_CALIBRATION
        else f"{paths.calibration_file} now holds {outcome.to_version}"
    )
    return f"{outcome.event}: {now} (was {outcome.from_version}){kept}; `calpolicy rollback` would return to {back}"


def _acknowledge(
    config: Config, paths: LivePaths, outcome: Outcome, since: float, allow_restart: bool, say: Say
) -> None:
    """Confirm from the engine's own evidence that it serves the new version (``calpolicy.confirmation``).

    At most one restart, and only when allowed (or caused by ``deploy.reload_signal``); every answer and
    restart is appended to the history under the command's entry, for the P4.1.c policy test.
    """
    from calpolicy.confirmation import confirm_live

    result = confirm_live(
        config,
        paths.marker,
        outcome.to_version,
        since,
        allow_restart,
        lambda phase, **fields: _note(paths, outcome, phase, **fields),
    )
    outcome.acknowledged = result.live
    outcome.restarted = result.restarted
    outcome.confirmation = result
    outcome.lines.extend(result.lines)


def _note(paths: LivePaths, outcome: Outcome, phase: str, **fields: Any) -> None:
    if outcome.entry_id is None:
        return
    entry = {"id": outcome.entry_id, "phase": phase, "at": datetime.now(UTC).isoformat(), **fields}
    try:
        apply_history.append(paths.history, entry)
    except OSError as error:
        outcome.lines.append(f"note: could not record the {phase} in {paths.history}: {error.strerror}")
