"""Apply and rollback: the only code in calpolicy that writes to the live system (checklist 4.1).

Every write follows the same order, under one exclusive lock (``apply_lock``):

1. validate the new config completely (the loader's own parser) — an invalid file is never written;
2. archive the live file to ``calibration_archive/calibration_<live version>.json`` and read it back;
3. append a ``begin`` line to the history, with the rollback target the new state will have;
4. write ``calibration.json`` by temp file + fsync + ``os.replace`` + directory fsync (or, for
   ``rollback none``, unlink it + directory fsync);
5. append a ``done`` line; move the job's manifest along;
6. confirm from the engine's own evidence that it serves the new version (``calpolicy.apply.confirmation``: the
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

from calpolicy.apply import archive
from calpolicy.apply.lock import ApplyLock, LockedError
from calpolicy.files.atomic_io import clean_stale_temps, remove_durably, sha256_bytes, write_atomic
from calpolicy.files.safe_read import read_bytes, read_optional
from calpolicy.jobs import (
    JOB_ID_RE,
    MANIFEST,
    JobError,
    JobFiles,
    JobStore,
    read_job_files,
    unfinished_apply,
    validate_job_id,
)
from calpolicy.jobs import history as apply_history
from calpolicy.loader import LOADED_MARKER, NO_CALIBRATION, CalibrationError, parse_calibration
from calpolicy.lockdown import engine_weights
from calpolicy.vocabulary.config import Config

SCHEMA = "calpolicy.calibration/1"
DEFAULT_WEIGHTS = {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}
UNREADABLE = "unreadable"  # the version of a live file that cannot be read safely (FIFO, symlink, huge)
# what parsing hostile JSON can raise besides CalibrationError (huge integers, deep nesting)
PARSE_ERRORS = (CalibrationError, ValueError, RecursionError, TypeError)
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
    """What is live right now: the bytes (None = no file, or one that cannot be read safely) and the
    version they carry. ``problem`` says why the file is not a config calpolicy can parse, if it is not."""

    data: bytes | None
    version: str
    document: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def present(self) -> bool:
        return self.data is not None or self.version == UNREADABLE


def read_live(paths: LivePaths) -> Live:
    """What is live, never raising on the file's content: the emergency exit (``rollback``, ``rollback
    none``, ``status``) must work exactly when the live file is broken or hostile."""
    try:
        data = read_optional(paths.calibration_file, "calibration")
    except OSError as error:  # a FIFO, a symlink, a device, a folder, too large: never read, never waited on
        return Live(None, UNREADABLE, problem=str(error.strerror))
    if data is None:
        return Live(None, NO_CALIBRATION)
    try:
        snap = parse_calibration(data, str(paths.calibration_file))
    except PARSE_ERRORS as error:
        return Live(data, _lenient_version(data), problem=str(error))
    return Live(data, snap.version, snap.document)


def _lenient_version(data: bytes) -> str:
    """The version a config our parser refuses still names (the real engine's loader may accept it, e.g.
    one without ``confidence_calibration``), so that it is archived and restored under that version;
    ``unparsable_<hash>`` when it names none usable."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        raw = None
    version = raw.get("version") if isinstance(raw, dict) else None
    if isinstance(version, str):
        try:
            return archive.validate_version(version)
        except ValueError:
            pass
    return f"unparsable_{sha256_bytes(data)[:12]}"


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
    confirmation: Any = None  # calpolicy.apply.confirmation.Confirmation, once the engine was asked


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
    restore_sha256: str | None = None,
) -> Outcome:
    """Archive the live file, record the change, replace the live file. Call only under ``ApplyLock``.

    A new config is parsed as the loader would first, and never written if it does not parse. The one
    exception is a byte-exact restore of a config that was live before (``restore_sha256``, the digest
    the history recorded when it was archived): whatever was live must be restorable, byte for byte,
    even when calpolicy's parser is stricter than the engine's.
    """
    if new_data is not None:
        if restore_sha256 is not None:
            if sha256_bytes(new_data) != restore_sha256:
                raise DeployError(
                    "the config to restore is not the one that was archived; the live config was not changed"
                )
        else:
            try:
                parse_calibration(new_data, "the new config")  # never write what the loader would refuse
            except PARSE_ERRORS as error:
                raise DeployError(f"{error}; the new config is not valid, the live config was not changed") from None
    try:
        paths.archive_dir.mkdir(parents=True, exist_ok=True)  # a fresh host has no archive folder yet
    except OSError as error:
        raise _fail("cannot create the archive folder", error, paths.archive_dir) from None
    if not paths.archive_dir.is_dir() or paths.archive_dir.is_symlink():
        raise DeployError(f"the archive path {paths.archive_dir} is not a folder; the live config was not changed")
    for folder in (paths.folder, paths.archive_dir):
        clean_stale_temps(folder)
    live = read_live(paths)
    archived = None
    if live.data is not None:
        try:
            archived = archive.store(paths.archive_dir, live.version, live.data)
        except (OSError, archive.ArchiveError) as error:
            reason = error if isinstance(error, archive.ArchiveError) else _reason(error)
            raise DeployError(f"cannot archive the live config to {paths.archive_dir}: {reason}; "
                              "the live config was not changed") from None  # fmt: skip
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
        "from_problem": live.problem,
        "to_sha256": sha256_bytes(new_data) if new_data is not None else None,
    }
    try:
        apply_history.append(paths.history, begin)
    except OSError as error:
        raise _fail("cannot record the change in", error, paths.history) from None
    try:
        if new_data is None:
            if paths.calibration_file.exists() or paths.calibration_file.is_symlink():
                remove_durably(paths.calibration_file)
        else:
            write_atomic(paths.calibration_file, new_data)
    except OSError as error:
        with contextlib.suppress(OSError):
            apply_history.append(paths.history, {"id": entry_id, "phase": "failed", "error": str(error)})
        raise _fail("cannot write the live config", error, paths.calibration_file) from None
    try:
        apply_history.append(paths.history, {"id": entry_id, "phase": "done", "at": datetime.now(UTC).isoformat()})
    except OSError as error:
        raise DeployError(
            f"the live config WAS changed to {to_version}, but its completion could not be recorded in "
            f"{paths.history}: {_reason(error)}"
        ) from None
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
            manifest = json.loads(files.get(MANIFEST) or b"")
            if not isinstance(manifest, dict) or manifest.get("job_id") != job_id:
                raise JobError(f"job {job_id}'s manifest does not name job {job_id}")
            state = store.state(job_id, manifest)
        except (JobError, ValueError, RecursionError) as error:
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
    """Go back to the previous version, to any archived version, or to ``none`` (no calibration).

    This is the emergency exit, so it works when the live file is broken or hostile (a FIFO, a symlink,
    JSON our parser refuses): such a file is never read as a config, only replaced. A restored archive
    copy must carry the sha256 the history recorded when it was archived: an edited copy is refused. A
    version whose job was rolled back does not go live again through rollback: that takes a new job and
    approve's checks (fresh preflight, on-call), so ``jobs``, ``status`` and ``history`` keep agreeing.
    """
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
        try:
            entries = apply_history.read(paths.history)
        except OSError as error:
            raise DeployError(f"cannot read the apply history: {error.strerror}; the live config unchanged") from None
        live = read_live(paths)
        if live.problem:
            say(f"note: the live config is not one calpolicy can read ({live.problem}); it is replaced, not parsed")
        wanted = target
        if target == "previous":
            recorded = apply_history.rollback_target_of(entries, live.version)
            if recorded is None and live.problem:
                last = _last_made_live(entries)
                recorded = apply_history.rollback_target_of(entries, last) if last else None
                if recorded:
                    say(f"note: using the rollback target of {last}, the last version calpolicy made live")
            if recorded is None:
                raise DeployError(
                    f"no rollback target is recorded for the live version {live.version}; name one: "
                    f"calpolicy rollback VERSION|none (archived: {_known(paths)})"
                )
            wanted = recorded
        if wanted == NO_CALIBRATION:
            if not live.present:
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
            _refuse_rolled_back(config, paths, wanted)
            data, found_version, found_name, recorded_sha = _archived_copy(paths, entries, wanted)
            if live.data is not None and sha256_bytes(live.data) == sha256_bytes(data):
                raise NothingToDo(f"version {found_version} ({found_name}) is live already; nothing to do")
            outcome = swap(
                paths,
                data,
                event="rollback",
                to_version=found_version,
                then_previous=apply_history.rollback_target_of(entries, found_version),
                by=by,
                job_id=_job_of(live),
                note=f"requested: {target}; restored {found_name}",
                restore_sha256=recorded_sha,
            )
        _record_rollback_in_job(config, live, outcome, by, say)
        outcome.lines.append(_summary(outcome, paths))
        moved = engine_weights.change(live.data, None if wanted == NO_CALIBRATION else data)
        if moved:  # a rollback restores a state that was live before, weights included (docs/apply.md)
            outcome.lines.append(f"note: {moved}: the weights of the restored state")
        if wait:
            _acknowledge(config, paths, outcome, started, allow_restart, say)
    return outcome


def _last_made_live(entries: list[dict[str, Any]]) -> str | None:
    """The version the last completed apply or rollback wrote."""
    rows = [r for r in apply_history.completed(entries) if r.get("completed")]
    return str(rows[-1].get("to")) if rows and isinstance(rows[-1].get("to"), str) else None


def _recorded_copies(entries: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Archive file name -> (version, sha256) for every copy the history says was archived."""
    out: dict[str, tuple[str, str]] = {}
    for entry in entries:
        archived, sha, version = entry.get("archived"), entry.get("from_sha256"), entry.get("from")
        if entry.get("phase") == "begin" and isinstance(archived, str) and isinstance(sha, str):
            out[Path(archived).name] = (str(version), sha)
    return out


def _archived_copy(paths: LivePaths, entries: list[dict[str, Any]], wanted: str) -> tuple[bytes, str, str, str | None]:
    """The bytes to restore for ``wanted``, its version, file name and the sha256 the history recorded.

    A copy the history recorded (every config calpolicy ever replaced) is found by the version it was
    recorded under and must still have the recorded sha256; it is restored byte for byte even when our
    parser refuses it (it was live). Otherwise the archive's own index (the existing tool's backups) is
    searched, and such a file must parse.
    """
    recorded = _recorded_copies(entries)
    for name, (version, sha) in reversed(list(recorded.items())):
        copy = paths.archive_dir / name
        if version != wanted or not (copy.exists() or copy.is_symlink()):
            continue  # a copy that is gone: the archive's index may still hold another one
        data = _read_archived(paths, name)
        if sha256_bytes(data) != sha:
            raise DeployError(
                f"the archived copy {paths.archive_dir / name} of {wanted} was changed after archiving (sha256 "
                f"{sha256_bytes(data)[:12]}… ≠ recorded {sha[:12]}…); refusing to restore it; the live config was "
                "not changed"
            )
        return data, version, name, sha
    try:
        found = archive.find(paths.archive_dir, wanted)
    except (archive.ArchiveError, ValueError) as error:
        raise DeployError(f"{error}; the live config was not changed") from None
    except OSError as error:
        raise _fail("cannot read the archived config", error, paths.archive_dir) from None
    data = _read_archived(paths, found.path.name)
    if sha256_bytes(data) != found.sha256:
        raise DeployError(f"the archived copy {found.path} changed while it was read; the live config was not changed")
    if found.path.name in recorded and recorded[found.path.name][1] != found.sha256:
        raise DeployError(
            f"the archived copy {found.path} was changed after archiving (its sha256 is not the one the history "
            "recorded); refusing to restore it; the live config was not changed"
        )
    return data, found.version, found.path.name, None


def _read_archived(paths: LivePaths, name: str) -> bytes:
    try:
        return read_bytes(paths.archive_dir / name, "archive")
    except OSError as error:
        raise DeployError(f"cannot read the archived config: {error.strerror}; the live config unchanged") from None


def _refuse_rolled_back(config: Config, paths: LivePaths, version: str) -> None:
    """A rolled-back job's version does not go live again without approve's checks."""
    if not JOB_ID_RE.fullmatch(version):
        return
    store = JobStore(Path(config.paths.jobs_dir), paths.history)
    try:
        store.path(version)
        state = store.state(version)
    except JobError:
        return  # not a job of this host (an archived config named like one): the archive decides
    if state == "rolled_back":
        raise DeployError(
            f"version {version} is job {version}'s, which was rolled back; it goes live again only through a new "
            "job and `calpolicy approve` (fresh preflight, on-call); the live config was not changed"
        )


def _job_of(live: Live) -> str | None:
    block = live.document.get("calpolicy")
    job = block.get("job_id") if isinstance(block, dict) else None
    return job if isinstance(job, str) else None


def _record_rollback_in_job(config: Config, left: Live, outcome: Outcome, by: str, say: Say) -> None:
    job_id = _job_of(left)
    if job_id is None:
        return
    store = JobStore(Path(config.paths.jobs_dir))  # without the history: it already records the rollback
    try:
        if store.state(job_id) == "applied":
            store.transition(
                job_id,
                "rolled_back",
                by,
                note=f"rolled back to {outcome.to_version}",
                rolled_back_to=outcome.to_version,
            )
    except (OSError, JobError) as error:
        say(f"note: the rollback is done, but job {job_id}'s record could not be updated: {error}")


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
    from calpolicy.apply.lock import describe_holder

    return describe_holder(info)


def _known(paths: LivePaths) -> str:
    try:
        return ", ".join(sorted({e.version for e in archive.index(paths.archive_dir)})) or "none"
    except OSError as error:
        return f"unknown ({error.strerror})"


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
    """Confirm from the engine's own evidence that it serves the new version (``calpolicy.apply.confirmation``).

    At most one restart, and only when allowed (or caused by ``deploy.reload_signal``); every answer and
    restart is appended to the history under the command's entry, for the P4.1.c policy test.
    """
    from calpolicy.apply.confirmation import confirm_live

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
