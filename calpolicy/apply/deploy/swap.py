"""The swap: archive the live file, record ``begin``, write atomically, record ``done`` — in that order (P4.1.a-b).

Why a module of its own: this order is the crash-safety argument (a SIGKILL at any instant leaves the old
or the new bytes and every config ever live in the archive); it changes only with that argument.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime

from calpolicy.apply import archive
from calpolicy.apply.deploy.live import PARSE_ERRORS, DeployError, LivePaths, Outcome, _fail, _reason, read_live
from calpolicy.files.atomic_io import clean_stale_temps, remove_durably, sha256_bytes, write_atomic
from calpolicy.jobs import history as apply_history
from calpolicy.loader import parse_calibration


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
