"""The job store as CONTRACTS.md defines it, for ``deploy`` to use until ``calpolicy.jobs`` (branch i10) lands.

``deploy`` imports ``calpolicy.jobs`` first and falls back to this module only when it is absent, so once
the real job store is merged this file is unused and can be deleted. It implements exactly the agreed
surface: ``JobError``, ``validate_job_id``, ``JobStore(path, manifest, transition, list, latest)``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.atomic_io import write_atomic

JOB_ID_PATTERN = re.compile(r"^cal_\d{8}_\d{6}(_\d{1,3})?$")
TRANSITIONS = {"proposed": {"approved", "aborted"}, "approved": {"applied"}, "applied": {"rolled_back"}}


class JobError(Exception):
    """Unknown or malformed job ID, unreadable job, or a state change the state machine forbids."""


def validate_job_id(raw: str) -> str:
    if not isinstance(raw, str) or "\x00" in raw or "/" in raw or ".." in raw or not JOB_ID_PATTERN.match(raw):
        raise JobError(f"invalid job ID {raw!r}: expected cal_YYYYMMDD_HHMMSS with an optional _N suffix")
    return raw


class JobStore:
    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = Path(jobs_dir)

    def path(self, job_id: str) -> Path:
        folder = self.jobs_dir / validate_job_id(job_id)
        if not (folder / "manifest.json").is_file():
            raise JobError(f"no job {job_id} in {self.jobs_dir}")
        return folder

    def manifest(self, job_id: str) -> dict[str, Any]:
        path = self.path(job_id) / "manifest.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise JobError(f"cannot read {path}: {error}") from None
        if not isinstance(raw, dict):
            raise JobError(f"{path} is not a JSON object")
        return raw

    def transition(self, job_id: str, state: str, by: str, **fields: Any) -> dict[str, Any]:
        manifest = self.manifest(job_id)
        current = manifest.get("state")
        if state not in TRANSITIONS.get(str(current), set()):
            raise JobError(f"job {job_id} is {current}; it cannot become {state}")
        note = fields.pop("note", "")
        manifest.update(fields)
        manifest["state"] = state
        entry = {"state": state, "by": by, "at": datetime.now(UTC).isoformat(), "note": note}
        manifest.setdefault("history", []).append(entry)
        data = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False).encode() + b"\n"
        write_atomic(self.path(job_id) / "manifest.json", data)
        return manifest

    def list(self) -> list[dict[str, Any]]:
        if not self.jobs_dir.is_dir():
            return []
        ids = sorted((p.name for p in self.jobs_dir.iterdir() if JOB_ID_PATTERN.match(p.name)), reverse=True)
        out = []
        for job_id in ids:
            try:
                out.append(self.manifest(job_id))
            except JobError:
                continue
        return out

    def latest(self) -> dict[str, Any] | None:
        jobs = self.list()
        return jobs[0] if jobs else None
