"""The job store: one folder per calibration job under ``paths.jobs_dir``, on disk, never half-written.

A job is built in a hidden temp folder beside its final place (``.cal_<id>.tmp``) and renamed into place
in one step, so a reader sees either no job or a whole one — also after a SIGKILL at any moment. The
job ID is claimed by renaming a private, never-empty folder (holding the owner's PID) to that temp name:
the rename fails when another run holds the name, so two runs in the same second get distinct IDs
(``cal_YYYYMMDD_HHMMSS``, then ``_1``, ``_2`` …) without a lock. Temp folders of dead runs are swept. State
changes rewrite ``manifest.json`` via temp file + fsync + ``os.replace`` under an exclusive lock, and only
along the state machine of DESIGN.md, each with who and when. Jobs live on disk, so ``approve`` from a new
shell finds the job a previous shell made (the existing tool kept them in memory).

The package is the record every phase after the preflight writes to: the job folder (the proposal of
P2.1.d, the report of P2.1.c / P3.1, the decision of P3.2, an ABORT's archived job) and ``history`` — the
append-only history of every apply and rollback (P4.1.a a new version, P4.1.d its ID) from which a job's
state is read. May import: the vocabulary and ``calpolicy.files``. This module stays whole although long
(~530 lines): the claim of an ID, the atomic build of a folder and the manifest's state machine share one
lock discipline, and a split would put the halves of one invariant in two files.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.files.atomic_io import fsync_dir, write_atomic
from calpolicy.files.pids import pid_alive
from calpolicy.files.safe_read import kind_name, open_folder, open_for_append, read_bytes, read_optional
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import history as apply_history

JOB_ID_RE = re.compile(r"^cal_\d{8}_\d{6}(_\d{1,3})?$", re.ASCII)  # ASCII: no look-alike (fullwidth) digits
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "calpolicy.manifest/1"
TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"
OWNER_FILE = ".owner"
LOCK_FILE = ".lock"
DECISIONS_FILE = ".decisions.jsonl"
GENESIS = "0" * 64
MAX_SUFFIX = 999
STATES = ("proposed", "approved", "applied", "rolled_back", "aborted")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "proposed": ("approved", "aborted"),
    "approved": ("applied",),
    "applied": ("rolled_back",),
    "aborted": (),
    "rolled_back": (),
}


class JobError(Exception):
    """Unknown or malformed job ID, a forbidden state change, or a job that cannot be read or written."""


def validate_job_id(raw: str) -> str:
    """The ID itself if it is a well-formed job ID; a path, ``..``, NUL or anything else is refused."""
    if not isinstance(raw, str):
        raise JobError(f"a job ID must be text, got {type(raw).__name__}")
    if "\x00" in raw or "/" in raw or "\\" in raw or ".." in raw:
        raise JobError(f"invalid job ID {raw!r}: it must not contain '/', '..' or NUL")
    if not JOB_ID_RE.fullmatch(raw):
        raise JobError(f"invalid job ID {raw!r}: expected cal_YYYYMMDD_HHMMSS with an optional _N suffix")
    return raw


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def canonical_json(value: Any) -> str:
    """The one serialisation that digests are taken over: sorted keys, no spaces, no NaN, no fallbacks."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_file_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file and fsync it (the folder's own fsync comes with the rename)."""
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class PendingJob:
    """A claimed job ID and its hidden temp folder; ``JobStore.commit`` makes it visible in one rename."""

    def __init__(self, store: JobStore, job_id: str, tmp_dir: Path) -> None:
        self.store = store
        self.job_id = job_id
        self.tmp_dir = tmp_dir

    @property
    def final_dir(self) -> Path:
        return self.store.jobs_dir / self.job_id

    def write(self, name: str, data: bytes | str) -> Path:
        """Add one file to the job (fsynced); names are plain file names, never paths."""
        if "/" in name or name.startswith(".") or not name:
            raise JobError(f"a job file name must be a plain name, got {name!r}")
        target = self.tmp_dir / name
        payload = data.encode("utf-8") if isinstance(data, str) else data
        write_atomic(target, payload)  # whole or absent, also for a reader of the unpublished job
        return target

    def abandon(self) -> None:
        """Forget the job: its temp folder goes, nothing was ever visible."""
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


class JobStore:
    """The job folders under ``jobs_dir``: create atomically, read, list, and move along the state machine."""

    def __init__(self, jobs_dir: Path, history: Path | None = None) -> None:
        self.jobs_dir = Path(jobs_dir)
        self.history = Path(history) if history is not None else None  # the apply history, when known

    # ------------------------------------------------------------------------------------- creating

    def begin(self, when: datetime | None = None) -> PendingJob:
        """Claim a fresh job ID for ``when`` (UTC, default now) and create its hidden temp folder."""
        try:
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise JobError(f"cannot create the jobs folder {self.jobs_dir}: {error.strerror}") from None
        self.sweep()
        stamp = (when or datetime.now(UTC)).astimezone(UTC).strftime("cal_%Y%m%d_%H%M%S")
        claim = self.jobs_dir / f"{TMP_PREFIX}claim-{os.getpid()}-{os.urandom(4).hex()}{TMP_SUFFIX}"
        try:
            os.mkdir(claim)
            write_file_durably(claim / OWNER_FILE, f"{os.getpid()}\n".encode())
        except OSError as error:
            shutil.rmtree(claim, ignore_errors=True)
            raise JobError(f"cannot create a job in {self.jobs_dir}: {error.strerror}") from None
        for n in range(MAX_SUFFIX + 1):
            job_id = stamp if n == 0 else f"{stamp}_{n}"
            if (self.jobs_dir / job_id).exists():  # a finished job owns it
                continue
            tmp_dir = self.jobs_dir / f"{TMP_PREFIX}{job_id}{TMP_SUFFIX}"
            try:
                # the claim: a rename onto a name another run holds fails (its folder is never empty)
                os.rename(claim, tmp_dir)
            except OSError as error:
                if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                shutil.rmtree(claim, ignore_errors=True)
                raise JobError(f"cannot create a job in {self.jobs_dir}: {error.strerror}") from None
            if (self.jobs_dir / job_id).exists():  # finished between our check and our claim: look on
                os.rename(tmp_dir, claim)
                continue
            return PendingJob(self, job_id, tmp_dir)
        shutil.rmtree(claim, ignore_errors=True)
        raise JobError(f"more than {MAX_SUFFIX} jobs started in the second {stamp}; try again")

    def commit(self, pending: PendingJob) -> Path:
        """Make a pending job visible, whole, in one rename; it must carry its manifest."""
        if not (pending.tmp_dir / MANIFEST).is_file():
            raise JobError(f"job {pending.job_id} has no {MANIFEST}; refusing to publish it")
        try:
            fsync_dir(pending.tmp_dir)
            with self._locked():  # a sweep never sees this folder between losing its owner and its rename
                (pending.tmp_dir / OWNER_FILE).unlink(missing_ok=True)
                os.rename(pending.tmp_dir, pending.final_dir)  # fails if the name is taken by a non-empty folder
            fsync_dir(self.jobs_dir)
        except OSError as error:
            raise JobError(f"cannot publish job {pending.job_id} in {self.jobs_dir}: {error.strerror}") from None
        return pending.final_dir

    def sweep(self) -> list[Path]:
        """Remove temp folders of runs that died (owner process gone, or no owner after a minute)."""
        removed: list[Path] = []
        try:
            entries = list(os.scandir(self.jobs_dir))
        except OSError:
            return removed
        if not any(e.name.endswith(TMP_SUFFIX) for e in entries):
            return removed
        with self._locked():
            return self._sweep_locked(entries)

    def _sweep_locked(self, entries: list[os.DirEntry[str]]) -> list[Path]:
        removed = []
        for entry in entries:
            ours = entry.name.startswith((TMP_PREFIX + "cal_", TMP_PREFIX + "claim-"))
            if not (ours and entry.name.endswith(TMP_SUFFIX)):
                continue
            if self._owner_alive(Path(entry.path)):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        return removed

    @staticmethod
    def _owner_alive(tmp_dir: Path) -> bool:
        named = re.match(r"\.claim-(\d+)-", tmp_dir.name)  # a claim folder carries its owner in its name
        try:
            pid = int(named.group(1)) if named else int(read_bytes(tmp_dir / OWNER_FILE, "lock").strip())
        except (OSError, ValueError):
            # a job folder loses its owner file only inside commit, under the lock we hold: its run died there
            return False
        return pid == os.getpid() or pid_alive(pid)

    # ------------------------------------------------------------------------------------- reading

    def path(self, job_id: str) -> Path:
        """The folder of an existing job; the ID is validated first (no paths, no ``..``)."""
        folder = self.jobs_dir / validate_job_id(job_id)
        if not (folder / MANIFEST).is_file():
            raise JobError(f"no job {job_id} in {self.jobs_dir}")
        return folder

    def _own_folder(self, job_id: str) -> Path:
        """``path``, refusing a folder that is a symbolic link: abort and every state change read and rewrite
        the manifest in it, and a swapped-in link would have them rewrite one anywhere on the host."""
        folder = self.path(job_id)
        try:
            link = stat.S_ISLNK(os.lstat(folder).st_mode)
        except OSError as error:
            raise JobError(f"cannot examine job {job_id}'s folder {folder}: {error.strerror}") from None
        if link:
            raise JobError(f"job {job_id}'s folder {folder} is a symbolic link, not a folder; refusing to use it")
        return folder

    def manifest(self, job_id: str) -> dict[str, Any]:
        path = self._own_folder(job_id) / MANIFEST
        try:
            manifest = parse_json(read_bytes(path, "manifest"))
        except OSError as error:
            raise JobError(f"cannot read {path}: {error.strerror}") from None
        except ValueError as error:
            raise JobError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
            raise JobError(f"{path} is not a calpolicy manifest ({MANIFEST_SCHEMA})")
        if manifest.get("job_id") != job_id:
            raise JobError(f"{path} names job {manifest.get('job_id')!r}, not {job_id!r}")
        return manifest

    def ids(self) -> list[str]:
        """IDs of the visible jobs, newest first (temp folders and anything else are ignored)."""
        try:
            names = [e.name for e in os.scandir(self.jobs_dir) if e.is_dir() and JOB_ID_RE.fullmatch(e.name)]
        except FileNotFoundError:
            return []
        except OSError as error:
            raise JobError(f"cannot list {self.jobs_dir}: {error.strerror}") from None
        return sorted(names, key=_id_order, reverse=True)

    def list(self) -> list[dict[str, Any]]:
        """Every readable job's manifest, newest first (see ``problems`` for the unreadable ones)."""
        out = []
        for job_id in self.ids():
            with contextlib.suppress(JobError):
                out.append(self.manifest(job_id))
        return out

    def problems(self) -> dict[str, str]:
        """Job folders whose manifest cannot be read, with the reason."""
        out = {}
        for job_id in self.ids():
            try:
                self.manifest(job_id)
            except JobError as error:
                out[job_id] = str(error)
        return out

    def latest(self) -> dict[str, Any] | None:
        jobs = self.list()
        return jobs[0] if jobs else None

    # ------------------------------------------------------------------------------------- changing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's exclusive lock: commits, sweeps and state changes never interleave."""
        try:
            # never through a symlink (root would create or open any file it names), never a FIFO (the
            # open would wait for a writer forever): the same refusals as every other file of ours
            fd = open_for_append(self.jobs_dir / LOCK_FILE, 0o644)
        except OSError as error:
            raise JobError(f"cannot lock {self.jobs_dir}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------------------------ the decisions log

    @property
    def decisions_path(self) -> Path:
        return self.jobs_dir / DECISIONS_FILE

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision ever recorded (approve, abort, apply, rollback), checked link by link.

        Each line carries the sha256 of the line before it, so an edited, removed or reordered line breaks
        the chain and is reported (``JobError``) instead of silently changing a job's state.
        """
        return read_decisions(self.decisions_path)

    def _record(self, entry: dict[str, Any]) -> None:
        body = {**entry, "prev": _last_link(self.decisions_path)}
        line = json.dumps({**body, "sha256": _entry_digest(body)}, sort_keys=True, allow_nan=False).encode()
        try:
            fd = open_for_append(self.decisions_path, 0o644)
        except OSError as error:
            raise JobError(f"cannot record the decision in {self.decisions_path}: {error.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # a writer killed mid-line left a torn tail that never counted: cut it, or it would
                # swallow this line and break the chain
                keep = (read_optional(self.decisions_path, "decisions") or b"").rfind(b"\n") + 1
                os.ftruncate(fd, keep)
            written = os.write(fd, line + b"\n")
            if written != len(line) + 1:  # the disk filled mid-line: a torn tail, never a recorded decision
                raise OSError(errno.ENOSPC, f"the disk took only {written} of the line's {len(line) + 1} bytes")
            os.fsync(fd)
        except OSError as error:
            raise JobError(f"cannot record the decision in {self.decisions_path}: {error.strerror}") from None
        finally:
            os.close(fd)

    def state(self, job_id: str, manifest: dict[str, Any] | None = None) -> str:
        """The job's state, derived from the append-only records (see ``derive_state``): the one function
        every view and every command uses."""
        manifest = self.manifest(job_id) if manifest is None else manifest
        history: list[dict[str, Any]] = []
        if self.history is not None:
            try:
                history = apply_history.read(self.history)
            except OSError as error:
                raise JobError(f"cannot read the apply history: {error.strerror}") from None
        return derive_state(job_id, manifest, self.decisions(), history)

    def finish(self, job_id: str, state: str, by: str, **fields: Any) -> dict[str, Any]:
        """Record ``state`` unless the decisions log's last word on the job already is ``state`` (a command
        killed between its decision and the manifest's mirror): then only the mirror is brought up to date."""
        decided = [d.get("state") for d in self.decisions() if d.get("job_id") == job_id]
        if not decided or decided[-1] != state:
            return self.transition(job_id, state, by, **fields)
        note = fields.pop("note", "")
        with self._locked():
            manifest = self.manifest(job_id)
            step = {"state": state, "by": str(by), "at": utc_now_iso(), "note": str(note)}
            return self._mirror(job_id, manifest, fields, step)

    def transition(
        self,
        job_id: str,
        state: str,
        by: str,
        *,
        before_record: Callable[[dict[str, str]], None] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Move a job to ``state`` (only along the state machine), recording who and when; atomic rewrite.

        ``before_record`` (given the step) runs under the store's lock once every check passed and before
        anything is written here: abort records itself outside the jobs folder there, and if it raises,
        nothing is recorded."""
        if not by or not str(by).strip():
            raise JobError("a state change must name who made it")
        if "state" in fields or "history" in fields or "job_id" in fields:
            raise JobError("state, history and job_id are set by the transition itself")
        note = fields.pop("note", "")
        with self._locked():
            manifest = self.manifest(job_id)
            _history_of(job_id, manifest)  # a manifest we could not extend is refused before anything is recorded
            current = self.state(job_id, manifest)
            if state not in TRANSITIONS.get(str(current), ()):
                allowed = ", ".join(TRANSITIONS.get(str(current), ())) or "none"
                raise JobError(f"job {job_id} is {current}; it cannot become {state} (allowed: {allowed})")
            step = {"state": state, "by": str(by), "at": utc_now_iso(), "note": str(note)}
            if before_record is not None:
                before_record(step)
            # the append-only record first: a crash before the manifest's mirror is written still counts
            self._record({"job_id": job_id, **step})
            return self._mirror(job_id, manifest, fields, step)

    def _mirror(
        self, job_id: str, manifest: dict[str, Any], fields: dict[str, Any], step: dict[str, str]
    ) -> dict[str, Any]:
        """Write the manifest's mirror of a recorded state change: ``fields``, the new state and one more
        history ``step``, replaced atomically (a reader sees the old manifest or the new one)."""
        manifest.update(fields)
        manifest["state"] = step["state"]
        manifest["history"] = [*_history_of(job_id, manifest), step]
        try:
            write_atomic(self._own_folder(job_id) / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        except OSError as error:
            raise JobError(f"cannot update job {job_id}: {error.strerror}") from None
        return manifest


def _history_of(job_id: str, manifest: dict[str, Any]) -> list[Any]:
    """The manifest's ``history`` list (absent: empty); any other type is a damaged manifest, refused."""
    history = manifest.get("history")
    if history is None:
        return []
    if not isinstance(history, list):
        raise JobError(f"job {job_id}'s manifest has a history that is {type(history).__name__}, not a list: damaged")
    return history


@dataclass(frozen=True)
class JobFiles:
    """A job folder read once into memory: every regular file's bytes, and every entry that is not one.

    Approve verifies, judges and applies these bytes, never the folder again: replacing a file after
    this read changes nothing that goes live.
    """

    job_id: str
    folder: Path
    files: dict[str, bytes]
    odd: dict[str, str] = field(default_factory=dict)  # name -> why it is not a readable regular file

    def get(self, name: str) -> bytes | None:
        return self.files.get(name)


MAX_JOB_BYTES = 512 << 20


def read_job_files(folder: Path, limit: int = MAX_JOB_BYTES) -> JobFiles:
    """Read every entry of a job folder, without following links, FIFOs never blocking, sizes capped."""
    folder = Path(folder)
    try:
        fd = open_folder(folder)
    except OSError as error:
        raise JobError(f"cannot read the job folder: {error.strerror}") from None
    files: dict[str, bytes] = {}
    odd: dict[str, str] = {}
    total = 0
    try:
        for name in sorted(os.listdir(fd)):
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as error:
                odd[name] = f"cannot be examined: {error.strerror}"
                continue
            if not stat.S_ISREG(info.st_mode):
                odd[name] = f"is {kind_name(info.st_mode)}"
                continue
            kind = "manifest" if name == MANIFEST else "statement" if name.startswith("statement.") else "job"
            try:
                data = read_bytes(name, kind, folder_fd=fd)
            except OSError as error:
                odd[name] = getattr(error, "reason", None) or f"cannot be read: {error.strerror}"
                continue
            total += len(data)
            if total > limit:
                raise JobError(f"the job folder {folder} holds more than {limit} bytes; refusing to read it")
            files[name] = data
    except OSError as error:
        raise JobError(f"cannot list the job folder {folder}: {error.strerror}") from None
    finally:
        os.close(fd)
    return JobFiles(folder.name, folder, files, odd)


def unfinished_apply(state: str, manifest: dict[str, Any]) -> bool:
    """The job went live (the apply history says so) but the command was killed before its own record was
    finished (the manifest still says ``approved``): approve may finish the record, never apply again."""
    return state == "applied" and manifest.get("state") == "approved"


def read_decisions(path: Path) -> list[dict[str, Any]]:
    """The decisions log's entries after checking every link; a torn last line (a writer killed mid-write)
    is ignored, anything else that does not chain is an error."""
    try:
        data = read_optional(path, "decisions")
    except OSError as error:
        raise JobError(f"cannot read the decisions log {path}: {error.strerror}") from None
    if not data:
        return []
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" after a final newline; otherwise a line whose write was cut short
    entries: list[dict[str, Any]] = []
    previous = GENESIS
    for number, line in enumerate(lines, 1):
        try:
            entry = parse_json(line)
        except ValueError:
            entry = None
        try:
            chained = (
                isinstance(entry, dict)
                and entry.get("prev") == previous
                and entry.get("sha256") == _entry_digest({k: v for k, v in entry.items() if k != "sha256"})
            )
        except ValueError:  # NaN or Infinity, which json.loads takes but _record never writes
            chained = False
        if not chained:
            raise JobError(
                f"the decisions log {path} was altered at line {number}: it does not chain to the line before; "
                "job states cannot be trusted until it is restored"
            )
        previous = hashlib.sha256(line).hexdigest()
        entries.append(entry)
    del torn
    return entries


def _entry_digest(body: dict[str, Any]) -> str:
    """A decision's own digest, over its content and its link to the line before."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _last_link(path: Path) -> str:
    """The ``prev`` value for the next line: the sha256 of the last complete line (genesis when none)."""
    read_decisions(path)  # refuse to extend a chain that is already broken (or a file we must not read)
    try:
        entries_data = read_optional(path, "decisions") or b""
    except OSError as error:
        raise JobError(f"cannot read the decisions log {path}: {error.strerror}") from None
    complete = entries_data[: entries_data.rfind(b"\n") + 1] if b"\n" in entries_data else b""
    lines = complete.split(b"\n")[:-1]
    return hashlib.sha256(lines[-1]).hexdigest() if lines else GENESIS


_RANK = {"proposed": 0, "approved": 1, "applied": 2, "rolled_back": 3, "aborted": 3}


def derive_state(
    job_id: str, manifest: dict[str, Any], decisions: list[dict[str, Any]], history: list[dict[str, Any]]
) -> str:
    """A job's state from its records, never from one mutable field alone.

    The apply history (written by approve and rollback beside the live config) says whether the job's
    version went live and whether a rollback later left it: ``applied`` / ``rolled_back``. Otherwise the
    furthest state that the decisions log *or* the manifest shows counts: editing the manifest's ``state``
    back to ``proposed`` cannot undo an abort, an approval or an apply recorded in the log, and editing it
    forward only blocks the job (fail closed).
    """
    rows = apply_history.completed(history)
    applied_at = None
    for index, row in enumerate(rows):
        if row.get("event") == "approve" and row.get("to") == job_id and row.get("completed"):
            applied_at = index
    seen = [str(d.get("state")) for d in decisions if d.get("job_id") == job_id]
    seen.append(str(manifest.get("state") or "proposed"))
    known = [s for s in seen if s in _RANK]
    if len(known) != len(seen):
        odd = next(s for s in seen if s not in _RANK)
        raise JobError(f"job {job_id} records an unknown state {odd!r}")
    if applied_at is not None:
        left = any(
            row.get("event") == "rollback" and row.get("from") == job_id and row.get("completed")
            for row in rows[applied_at + 1 :]
        )
        # the history cannot undo a rollback the chained decisions log recorded: a history with the
        # rollback's lines cut out would otherwise make a rolled-back job "applied" again (and its version
        # restorable by `rollback VERSION`, past approve's checks)
        return "rolled_back" if left or "rolled_back" in known else "applied"
    if "aborted" in known or apply_history.aborted(history, job_id) is not None:
        return "aborted"  # the history's abort line outlives a decisions log cut in the jobs folder
    return max(known, key=lambda s: _RANK[s])


def _id_order(job_id: str) -> tuple[str, int]:
    """Newest first means by timestamp, then by same-second suffix (``_10`` after ``_9``)."""
    parts = job_id.split("_")
    return ("_".join(parts[:3]), int(parts[3]) if len(parts) == 4 else 0)
