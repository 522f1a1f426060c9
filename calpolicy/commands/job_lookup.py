"""The job store as the job commands reach it: one validated ``JobStore`` for the configured jobs folder."""

from __future__ import annotations

from pathlib import Path

from calpolicy.config import Config
from calpolicy.jobs import JobError, JobStore, validate_job_id


def store_for(config: Config) -> JobStore:
    return JobStore(Path(config.paths.jobs_dir))


__all__ = ["JobError", "JobStore", "store_for", "validate_job_id"]
