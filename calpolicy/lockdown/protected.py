"""Digests of the paths a calibration run must never change (checklist 1.1), taken before and after a run.

This is the check behind the sandbox (bubblewrap's read-only view, and the audit hook that names an
attempt): it also sees a change made by another process on the host, or through anything neither
watches. Each file's fingerprint is its type, size, mode, mtime and ctime (the kernel sets ctime on
every write and it cannot be set back from user space) plus the sha256 of its content up to
``HASH_LIMIT`` bytes; larger files (model weights of gigabytes) are fingerprinted by metadata only,
which still catches every write. A path that does not exist is recorded as absent, so creating it is a
change too.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Finding

HASH_LIMIT = 16 << 20
GENERIC_ID = "LOCKDOWN.protected"


@dataclass(frozen=True)
class PathDigest:
    """One protected root: which checklist item it serves and the fingerprint of every file under it."""

    control_id: str
    path: str
    entries: dict[str, str]

    @property
    def sha256(self) -> str:
        body = "\n".join(f"{name}\t{value}" for name, value in sorted(self.entries.items()))
        return hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()


def protected_roots(config: Config) -> list[tuple[str, Path]]:
    """Every protected path with the checklist item a change to it breaks (1.1.a–d)."""
    paths = config.paths
    roots: list[tuple[str, Path]] = [
        ("P1.1.c", paths.calibration_file),
        ("P1.1.c", paths.archive_dir),
        ("P1.1.c", paths.config_dir),
    ]
    roots += [("P1.1.a", p) for p in paths.model_weights]
    roots += [("P1.1.b", p) for p in paths.ensemble_weights]
    roots += [("P1.1.d", p) for p in paths.meta_agent_params]
    roots += [(GENERIC_ID, p) for p in paths.protected_paths]
    return [(cid, Path(os.path.abspath(p))) for cid, p in roots]


def digest_all(config: Config) -> list[PathDigest]:
    skip = Path(os.path.realpath(config.paths.jobs_dir))
    return [digest_path(cid, root, skip) for cid, root in protected_roots(config)]


def digest_path(control_id: str, root: Path, skip: Path | None = None) -> PathDigest:
    entries: dict[str, str] = {}
    _visit(root, ".", entries, skip)
    return PathDigest(control_id, str(root), entries)


def _visit(path: Path, name: str, entries: dict[str, str], skip: Path | None) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        entries[name] = "absent"
        return
    except OSError as error:
        entries[name] = f"unreadable:{error.errno}"
        return
    kind, mode = stat.S_IFMT(info.st_mode), info.st_mode & 0o7777
    meta = f"{kind:o}:{mode:o}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"
    if stat.S_ISLNK(info.st_mode):
        entries[name] = f"link:{os.readlink(path)}:{meta}"
    elif stat.S_ISDIR(info.st_mode):
        entries[name] = f"dir:{info.st_mode & 0o7777:o}"
        if skip is not None and Path(os.path.realpath(path)) == skip:
            return
        try:
            children = sorted(os.listdir(path))
        except OSError as error:
            entries[name + "/"] = f"unlistable:{error.errno}"
            return
        for child in children:
            _visit(path / child, f"{name}/{child}", entries, skip)
    elif stat.S_ISREG(info.st_mode):
        entries[name] = f"file:{meta}:{_content_digest(path, info.st_size)}"
    else:
        entries[name] = f"other:{meta}"


def _content_digest(path: Path, size: int) -> str:
    if size > HASH_LIMIT:
        return "metadata-only"
    digest = hashlib.sha256()
    try:
        # the lstat above saw a regular file, but it may have been swapped since: never follow a link,
        # never wait on a FIFO (a blocking open would hang `run` for good), judge what was opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as error:
        return f"unreadable:{error.errno}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "swapped:not-a-regular-file"
        while block := os.read(fd, 1 << 20):
            digest.update(block)
    except OSError as error:
        return f"unreadable:{error.errno}"
    finally:
        os.close(fd)
    return digest.hexdigest()


def compare(before: list[PathDigest], after: list[PathDigest]) -> list[Finding]:
    """One finding per protected root: pass when nothing under it changed, else fail naming the files."""
    findings = []
    for old, new in zip(before, after, strict=True):
        changed = sorted(k for k in set(old.entries) | set(new.entries) if old.entries.get(k) != new.entries.get(k))
        evidence = {"path": old.path, "sha256_before": old.sha256, "sha256_after": new.sha256}
        if not changed:
            findings.append(Finding(old.control_id, "pass", f"unchanged during the run: {old.path}", evidence))
            continue
        shown = [os.path.normpath(os.path.join(old.path, k)) for k in changed[:10]]
        more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
        findings.append(
            Finding(
                old.control_id,
                "fail",
                f"protected path changed during the calibration run: {', '.join(shown)}{more}",
                {**evidence, "changed": shown},
            )
        )
    return findings


def summary(digests: list[PathDigest]) -> list[dict[str, str]]:
    """What the manifest records: each root, its item and its digest."""
    return [{"id": d.control_id, "path": d.path, "sha256": d.sha256} for d in digests]
