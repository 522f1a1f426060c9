"""The calibration archive: every config that was ever live, kept byte for byte, findable by version.

Names: calpolicy writes ``calibration_<version>.json`` (the checklist's). The existing tool wrote
``<new_version>_backup_<ts>.json`` (holding the *previous* config under the *new* version's name) and
``<version>_deployed.json``. Because of that mislabelling a file is indexed by the ``version`` inside it,
and also by its file stem, so ``rollback cal_X_backup_20260206_060303`` picks that exact file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from calpolicy.files.atomic_io import sha256_bytes, write_atomic
from calpolicy.files.safe_read import read_bytes
from calpolicy.files.strict_json import parse_json
from calpolicy.loader import CalibrationError, parse_calibration

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", re.ASCII)
RESERVED = {"none", "previous"}


class ArchiveError(RuntimeError):
    """The archive cannot give or keep what was asked; the message says which file and why."""


def validate_version(raw: str) -> str:
    """A version (or archive stem) named on the command line: no separators, no '..', no odd characters."""
    # fullmatch: ``$`` alone also matches before a final newline, and "cal_x\n" is no file name to archive under
    if not isinstance(raw, str) or not VERSION_PATTERN.fullmatch(raw) or ".." in raw:
        raise ValueError(
            f"invalid version {raw!r}: use letters, digits, '_', '-' and '.', no '/' or '..' "
            "(e.g. cal_20260220_143022), or 'none'"
        )
    return raw


@dataclass(frozen=True)
class ArchivedConfig:
    path: Path
    version: str
    sha256: str


def archive_name(version: str, data: bytes) -> str:
    """``calibration_<version>.json``; a version unsafe as a file name is archived under its digest."""
    try:
        safe = validate_version(version)
    except ValueError:
        return f"calibration_unversioned_{sha256_bytes(data)[:16]}.json"
    return f"calibration_{safe}.json"


def store(archive_dir: Path, version: str, data: bytes) -> Path:
    """Archive ``data`` and prove it by reading it back; an existing different file is never overwritten."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    target = archive_dir / archive_name(version, data)
    if _holds(target) is not None and _holds(target) != data:  # another config (or a FIFO, a link) holds it
        target = archive_dir / f"{target.stem}_{sha256_bytes(data)[:12]}.json"
    if _holds(target) != data:
        write_atomic(target, data)  # os.replace: a symlink or FIFO in the name's place is replaced, not followed
    if _holds(target) != data:
        raise ArchiveError(f"the archived copy {target} does not match the live config; nothing was changed")
    return target


def _holds(path: Path) -> bytes | None:
    """The bytes of an archive file; None when absent; ``b""``-distinct sentinel for anything unreadable."""
    try:
        return read_bytes(path, "archive")
    except FileNotFoundError:
        return None
    except OSError:
        return b"\x00unreadable"  # never equal to a config: the name is taken, by something we do not read


def _version_of(path: Path) -> str | None:
    """The version a file claims, read cheaply (the full validation runs on the file actually chosen)."""
    try:
        raw = parse_json(read_bytes(path, "archive"))
    except (OSError, ValueError):
        return None
    version = raw.get("version") if isinstance(raw, dict) else None
    return version if isinstance(version, str) else None


def _validated(path: Path) -> ArchivedConfig | None:
    try:
        data = read_bytes(path, "archive")
        snap = parse_calibration(data, str(path))
    except (OSError, CalibrationError, ValueError, RecursionError, TypeError):
        return None
    return ArchivedConfig(path, snap.version, sha256_bytes(data))


def index(archive_dir: Path) -> list[ArchivedConfig]:
    """Every valid config in the archive (invalid or unreadable files are left out)."""
    if not archive_dir.is_dir():
        return []
    return [entry for path in sorted(archive_dir.glob("*.json")) if (entry := _validated(path)) is not None]


def find(archive_dir: Path, wanted: str) -> ArchivedConfig:
    """The archived config for a version (its own content says so) or a file stem; clear error if none.

    Preference: the file named ``wanted``; then ``calibration_<v>.json``, ``<v>_deployed.json`` and any
    other file whose content carries version ``wanted`` (the existing tool's mislabelled backups). A file
    that does not validate is passed over, never restored.
    """
    wanted = validate_version(wanted)
    paths = sorted(archive_dir.glob("*.json")) if archive_dir.is_dir() else []
    named = [
        archive_dir / f"{wanted}.json",
        archive_dir / f"calibration_{wanted}.json",
        archive_dir / f"{wanted}_deployed.json",
    ]
    for path in named:
        entry = _validated(path)
        if entry is not None and (path == named[0] or entry.version == wanted):
            return entry
    for path in paths:
        if path not in named and _version_of(path) == wanted and (entry := _validated(path)) is not None:
            return entry
    claiming = [p for p in paths if _version_of(p) == wanted or p in named]
    if claiming:  # it is there, but unusable: say why, instead of "no archived config" beside its own name
        why = "; ".join(f"{p.name}: {_why_invalid(p)}" for p in claiming[:3])
        raise ArchiveError(f"no archived config for version {wanted} that validates, so none is restored ({why})")
    known = ", ".join(sorted({v for p in paths if (v := _version_of(p))})) or "none"
    raise ArchiveError(f"no archived config for version {wanted} in {archive_dir} (archived versions: {known})")


def _why_invalid(path: Path) -> str:
    try:
        parse_calibration(read_bytes(path, "archive"), path.name)
    except (OSError, CalibrationError, ValueError, RecursionError, TypeError) as error:
        return str(getattr(error, "reason", None) or error)[:300]
    return "its version does not match"
