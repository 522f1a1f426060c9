"""``calpolicy rollback``: make an archived version live again, walking back the recorded lineage (P4.2 → 4.1).

Why a module of its own: which version a rollback goes to (the lineage, a named version, ``none``) and how
the job that was live is told are rollback's own rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.apply import archive
from calpolicy.apply.deploy.common import _acknowledge, _holder, _known, _lock, _summary
from calpolicy.apply.deploy.live import DeployError, Live, LivePaths, NothingToDo, Outcome, Say, _fail, read_live
from calpolicy.apply.deploy.swap import swap
from calpolicy.files.atomic_io import sha256_bytes
from calpolicy.files.safe_read import read_bytes
from calpolicy.jobs import (
    JOB_ID_RE,
    JobError,
    JobStore,
    derive_state,
)
from calpolicy.jobs import history as apply_history
from calpolicy.loader import NO_CALIBRATION
from calpolicy.lockdown import engine_weights
from calpolicy.vocabulary.config import Config


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
            # a target or a recorded digest comes from the history: fail closed; and a FIFO or a link in its
            # place could not take `rollback none`'s own lines either
            if target != NO_CALIBRATION or paths.history.is_symlink() or not paths.history.is_file():
                reason = f"cannot read the apply history: {error.strerror}; the live config unchanged"
                raise DeployError(reason) from None
            # `rollback none` needs nothing from it (a history grown past its cap closed the emergency exit);
            # its lines are still appended, never read
            say(f"note: the apply history cannot be read ({error.strerror}); `rollback none` goes ahead without it")
            entries = []
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
            _refuse_rolled_back(config, paths, wanted, entries)
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
    known = {sha for version, sha in recorded.values() if version == wanted}
    if known and found.sha256 not in known:
        # the history knows what `wanted` held when calpolicy archived it; every copy it recorded is gone, and
        # another file that merely claims the version (planted, or edited) is not what was live
        raise DeployError(
            f"the archived copies of {wanted} that the history recorded are gone, and {found.path} is not one of "
            f"them (sha256 {found.sha256[:12]}…, recorded {', '.join(s[:12] + '…' for s in sorted(known))}); "
            "refusing to restore it; the live config was not changed (name the file's stem to restore it anyway)"
        )
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


def _refuse_rolled_back(config: Config, paths: LivePaths, version: str, entries: list[dict[str, Any]]) -> None:
    """A rolled-back job's version does not go live again without approve's checks."""
    if not JOB_ID_RE.fullmatch(version):
        return
    store = JobStore(Path(config.paths.jobs_dir), paths.history)
    try:
        store.path(version)
    except JobError:
        # no such job folder (never one of this host's, or removed): the apply history alone still says
        # whether this version went live through approve and was rolled back
        state = derive_state(version, {}, [], entries)
    else:
        try:
            state = store.state(version)
        except JobError as error:  # was: taken as "not rolled back" — an edited decisions log let it through
            raise DeployError(
                f"cannot tell whether job {version} was rolled back ({error}); it is not restored by rollback, "
                "the live config was not changed"
            ) from None
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
