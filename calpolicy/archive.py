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

from calpolicy.atomic_io import sha256_bytes, write_atomic
from calpolicy.loader import CalibrationError, parse_calibration

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RESERVED = {"none", "previous"}


class ArchiveError(RuntimeError):
    """The archive cannot give or keep what was asked; the message says which file and why."""


def validate_version(raw: str) -> str:
    """A version (or archive stem) named on the command line: no separators, no '..', no odd characters."""
    if not isinstance(raw, str) or not VERSION_PATTERN.match(raw) or ".." in raw:
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
    if target.exists() and target.read_bytes() != data:
        target = archive_dir / f"{target.stem}_{sha256_bytes(data)[:12]}.json"
    if not target.exists() or target.read_bytes() != data:
        write_atomic(target, data)
    if target.read_bytes() != data:
        raise ArchiveError(f"the archived copy {target} does not match the live config; nothing was changed")
    return target


def index(archive_dir: Path) -> list[ArchivedConfig]:
    """Every valid config in the archive (invalid or unreadable files are left out)."""
    found = []
    if not archive_dir.is_dir():
        return found
    for path in sorted(archive_dir.glob("*.json")):
        try:
            data = path.read_bytes()
            snap = parse_calibration(data, str(path))
        except (OSError, CalibrationError):
            continue
        found.append(ArchivedConfig(path, snap.version, sha256_bytes(data)))
    return found


def find(archive_dir: Path, wanted: str) -> ArchivedConfig:
    """The archived config for a version (its own content says so) or a file stem; clear error if none."""
    wanted = validate_version(wanted)
    entries = index(archive_dir)
    by_stem = [e for e in entries if e.path.stem == wanted]
    if by_stem:
        return by_stem[0]
    by_version = [e for e in entries if e.version == wanted]
    if not by_version:
        known = ", ".join(sorted({e.version for e in entries})) or "none"
        raise ArchiveError(f"no archived config for version {wanted} in {archive_dir} (archived versions: {known})")
    preferred = [e for e in by_version if e.path.name == f"calibration_{wanted}.json"]
    preferred += [e for e in by_version if e.path.name == f"{wanted}_deployed.json"]
    return (preferred or by_version)[0]
