"""What is live: the paths apply touches, the live file as read (version, bytes), and the outcome of a command.

Why a module of its own: the types approve and rollback share, and the lenient reading of a live file
that may be hostile (a FIFO, a symlink, huge, not JSON) — changed when the live system's layout changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calpolicy.apply import archive
from calpolicy.files.atomic_io import sha256_bytes
from calpolicy.files.safe_read import read_optional
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import (
    JobError,
    validate_job_id,
)
from calpolicy.jobs import history as apply_history
from calpolicy.loader import LOADED_MARKER, NO_CALIBRATION, CalibrationError, parse_calibration
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
        raw = parse_json(data)
    except ValueError:
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


def _fail(what: str, error: OSError, target: Path) -> DeployError:
    return DeployError(f"{what} {target}: {error.strerror or error}; the live config was not changed")


def _reason(error: Exception) -> str:
    return (error.strerror or str(error)) if isinstance(error, OSError) else str(error)
