"""The job store as the job commands reach it: one validated ``JobStore`` for the configured jobs folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from calpolicy.jobs import JobError, JobStore, validate_job_id

if TYPE_CHECKING:
    from calpolicy.vocabulary.config import Config  # pydantic: the parser must not pay for it


def store_for(config: Config) -> JobStore:
    """The store with the apply history beside it, so that every view derives a job's state the same way."""
    from calpolicy.jobs.history import HISTORY_NAME

    return JobStore(Path(config.paths.jobs_dir), Path(config.paths.archive_dir) / HISTORY_NAME)


__all__ = ["JobError", "JobStore", "store_for", "validate_job_id"]
