"""What approve and rollback share around the swap: the lock, the acknowledgement from the engine, the notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from calpolicy.apply import archive
from calpolicy.apply.deploy.live import DeployError, LivePaths, Locked, Outcome, Say, _fail
from calpolicy.apply.lock import ApplyLock, LockedError
from calpolicy.jobs import history as apply_history
from calpolicy.loader import NO_CALIBRATION
from calpolicy.vocabulary.config import Config


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
