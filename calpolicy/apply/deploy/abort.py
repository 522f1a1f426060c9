"""``calpolicy abort``: end a proposed job, recorded in the apply history beside the live config as well (3.2).

Why here, with approve and rollback: the jobs folder's own records (its chained decisions log, the
manifest's mirror) can be rewritten by whoever may write that folder — cut the log's last lines, put the
signed manifest back, and an aborted job was ``proposed`` again (issue 21 §2). The abort is therefore also
one line in ``calpolicy_history.jsonl``, the file approve and rollback append to, written under the same
apply lock and before the jobs folder's record: if that line cannot be written, nothing is recorded and
the job stays proposed. ``derive_state`` reads it, so a cut in the jobs folder cannot bring the job back.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.apply.deploy.common import _holder, _lock
from calpolicy.apply.deploy.live import DeployError, LivePaths, _reason
from calpolicy.jobs import JobError, JobStore, validate_job_id
from calpolicy.jobs import history as apply_history
from calpolicy.vocabulary.config import Config


class AlreadyDecided(DeployError):
    """The job is not proposed: nothing to abort (a STOP, as approve of a decided job)."""


class NotRecorded(DeployError):
    """The abort could not be written to the apply history: nothing was recorded, the job is unchanged."""


class HalfRecorded(DeployError):
    """The apply history records the abort (the job IS aborted), but the jobs folder's record failed."""


@dataclass
class AbortOutcome:
    """What ``abort_job`` did: ``aborted`` (both records), ``finished`` (the jobs folder's record of an abort
    the history already held) or ``backfilled`` (the history's line for an abort the jobs folder held)."""

    job_id: str
    done: str
    lines: list[str] = field(default_factory=list)


def abort_job(config: Config, job_id: str, by: str, reason: str = "") -> AbortOutcome:
    """Abort a proposed job: the apply history's line first, then the jobs folder's decision and manifest.

    Both records are written under the apply lock (a concurrent approve or rollback waits for nothing: it
    is refused, as a second approve is) and the jobs folder's lock; every check of the jobs folder (its lock
    file, the chain of its log, the manifest) passes before the history line is written, so a refusal there
    records nothing anywhere. Run again after a failure, it completes whichever record is missing.
    """
    try:
        job_id = validate_job_id(job_id)
    except JobError as error:
        raise DeployError(str(error)) from None
    note = reason or "aborted, no reason given"
    paths = LivePaths.from_config(config)
    jobs_dir = Path(config.paths.jobs_dir)
    with _lock(paths, by, f"calpolicy abort {job_id}") as lock:
        stale = []
        if lock.stale:
            stale.append(f"note: the previous holder of the lock died mid-command ({_holder(lock.stale)})")
        store = JobStore(jobs_dir, paths.history)
        try:
            state = store.state(job_id)
            recorded = apply_history.aborted(apply_history.read(paths.history), job_id)
        except OSError as error:
            raise DeployError(f"cannot read the apply history {paths.history}: {_reason(error)}") from None
        except JobError as error:
            raise DeployError(str(error)) from None
        if state == "aborted":
            return AbortOutcome(job_id, _complete(paths, jobs_dir, job_id, by, note, recorded), stale)
        if state != "proposed":
            raise AlreadyDecided(f"job {job_id} is already {state}; only a proposed job can be aborted")
        _archive_folder(paths)
        written: list[dict[str, Any]] = []

        def record_outside(step: dict[str, str]) -> None:
            entry = _line(job_id, jobs_dir, step)
            try:
                apply_history.append(paths.history, entry)
            except OSError as error:
                raise NotRecorded(
                    f"cannot record the abort in the apply history {paths.history}: {_reason(error)}"
                ) from None
            written.append(entry)

        try:
            store.transition(job_id, "aborted", by, note=note, before_record=record_outside)
        except (JobError, OSError) as error:
            if not written:
                raise DeployError(_reason(error)) from None
            raise HalfRecorded(_half(job_id, paths, error)) from None
    return AbortOutcome(job_id, "aborted", stale)


def _complete(paths: LivePaths, jobs_dir: Path, job_id: str, by: str, note: str, recorded: dict | None) -> str:
    """An already aborted job: add whichever of the two records is missing, or say it is decided."""
    jobs_only = JobStore(jobs_dir)  # the jobs folder's own view, without the history's line
    try:
        own = jobs_only.state(job_id)
        mirror = jobs_only.manifest(job_id).get("state")
    except JobError as error:
        raise DeployError(str(error)) from None
    if recorded is not None and (own != "aborted" or mirror != "aborted"):
        # an earlier abort wrote the history's line, then failed or was killed before the jobs folder's record
        # or its manifest mirror (or that record was cut since): finish() adds only what is missing
        try:
            jobs_only.finish(job_id, "aborted", str(recorded.get("by") or by), note=str(recorded.get("note") or note))
        except (JobError, OSError) as error:
            raise HalfRecorded(_half(job_id, paths, error)) from None
        return "finished"
    if recorded is None:
        _archive_folder(paths)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        step = {"state": "aborted", "by": str(by), "at": at, "note": f"recorded late: {note}"}
        try:  # aborted before the history held aborts: record it there now, so a cut log cannot undo it
            apply_history.append(paths.history, _line(job_id, jobs_dir, step))
        except OSError as error:
            raise NotRecorded(
                f"job {job_id} is already aborted, but the apply history {paths.history} cannot record it: "
                f"{_reason(error)}"
            ) from None
        return "backfilled"
    raise AlreadyDecided(f"job {job_id} is already aborted; only a proposed job can be aborted")


def _line(job_id: str, jobs_dir: Path, step: dict[str, str]) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "phase": apply_history.ABORT,
        "event": "abort",
        "job_id": job_id,
        "jobs_dir": str(jobs_dir),
        "by": step["by"],
        "at": step["at"],
        "note": step["note"],
        "pid": os.getpid(),
    }


def _archive_folder(paths: LivePaths) -> None:
    """The history's folder, created on a fresh host as approve creates it; never a link or a file."""
    try:
        paths.archive_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotRecorded(f"cannot create the archive folder {paths.archive_dir}: {_reason(error)}") from None
    if paths.archive_dir.is_symlink() or not paths.archive_dir.is_dir():
        raise NotRecorded(f"the archive path {paths.archive_dir} is not a folder; the abort cannot be recorded")


def _half(job_id: str, paths: LivePaths, error: Exception) -> str:
    return (
        f"job {job_id} IS ABORTED (the apply history {paths.history} records it; approve refuses it), but the "
        f"jobs folder's own record could not be written: {_reason(error)}; fix that and run "
        f"`calpolicy abort {job_id}` again to complete it"
    )
