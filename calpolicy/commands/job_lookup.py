"""The job store as the job commands reach it: one validated ``JobStore`` for the configured jobs folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from calpolicy.jobs import JobError, JobStore, validate_job_id

if TYPE_CHECKING:
    from calpolicy.config import Config  # pydantic: the parser must not pay for it


def store_for(config: Config) -> JobStore:
    return JobStore(Path(config.paths.jobs_dir))


__all__ = ["JobError", "JobStore", "store_for", "validate_job_id"]
