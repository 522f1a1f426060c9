"""Find a job folder by its validated ID and move its state — the one place the job store is reached.

Branch i10 owns ``calpolicy/jobs.py`` (``JobStore``). When it is present it is used; until then this
module does the few things ``verify`` and ``abort`` need, to the same contract (docs: CONTRACTS.md), so
the lead can delete the fallback and keep the call sites unchanged.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.config import Config

JOB_ID = re.compile(r"^cal_\d{8}_\d{6}(_\d{1,3})?$")
TRANSITIONS = {"proposed": ("approved", "aborted"), "approved": ("applied",), "applied": ("rolled_back",)}

try:  # pragma: no cover - depends on which branch is merged
    from calpolicy.jobs import JobError, JobStore  # type: ignore[import-not-found]
except ImportError:

    class JobError(Exception):  # type: ignore[no-redef]
        """Unknown or malformed job ID, unreadable job, or a state change the state machine refuses."""

    class JobStore:  # type: ignore[no-redef]
        """Minimal stand-in for ``calpolicy.jobs.JobStore`` (path, manifest, transition)."""

        def __init__(self, jobs_dir: Path) -> None:
            self.jobs_dir = Path(jobs_dir)

        def path(self, job_id: str) -> Path:
            job_id = validate_job_id(job_id)
            folder = self.jobs_dir / job_id
            if not (folder / "manifest.json").is_file():
                raise JobError(f"no job {job_id} in {self.jobs_dir}")
            return folder

        def manifest(self, job_id: str) -> dict[str, Any]:
            path = self.path(job_id) / "manifest.json"
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise JobError(f"job {job_id}: manifest.json cannot be read: {error}") from None
            if not isinstance(manifest, dict):
                raise JobError(f"job {job_id}: manifest.json is not a JSON object")
            return manifest

        def transition(self, job_id: str, state: str, by: str, **fields: Any) -> dict[str, Any]:
            manifest = self.manifest(job_id)
            current = manifest.get("state")
            if state not in TRANSITIONS.get(str(current), ()):
                raise JobError(f"job {job_id} is {current}: it cannot become {state}")
            note = fields.pop("note", None)
            entry = {"state": state, "by": by, "at": datetime.now(UTC).isoformat(timespec="seconds")}
            if note:
                entry["note"] = note
            manifest["state"] = state
            manifest["history"] = [*manifest.get("history", []), entry]
            manifest.update(fields)
            _atomic_json(self.path(job_id) / "manifest.json", manifest)
            return manifest


def validate_job_id(raw: str) -> str:
    """A job ID from the command line: exactly ``cal_YYYYMMDD_HHMMSS[_N]``, so never a path."""
    if not isinstance(raw, str) or not JOB_ID.fullmatch(raw):
        raise JobError(f"not a job ID: {raw!r} (expected cal_YYYYMMDD_HHMMSS or cal_YYYYMMDD_HHMMSS_N)")
    return raw


def store_for(config: Config) -> JobStore:
    return JobStore(Path(config.paths.jobs_dir))


def _atomic_json(path: Path, value: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(value, indent=1) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
