"""How a run ends: its verdict, the job it made (or none) and where it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calpolicy.jobs import (
    JobStore,
)
from calpolicy.preflight import PreflightRun
from calpolicy.vocabulary.verdict import Finding, Verdict

RUN_ID = "run.job"
SIGNING_ID = "run.signing"
SANDBOX_ID = "run.sandbox"


@dataclass(frozen=True)
class RunOutcome:
    """The run's verdict, the job it made (None when it stopped before one could be made) and timings."""

    verdict: Verdict
    job_id: str | None
    job_dir: Path | None
    stage: str  # where the run ended: preflight | sandbox | lockdown | job | done
    preflight: PreflightRun | None = None
    written: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        document = self.verdict.to_dict()
        document["job_id"] = self.job_id
        document["job_dir"] = None if self.job_dir is None else str(self.job_dir)
        document["stage"] = self.stage
        document["written"] = list(self.written)
        document["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        if self.details.get("approve_blocker"):  # why approve will STOP on this host whatever the job
            document["approve_blocker"] = self.details["approve_blocker"]
        return document


def _job_failed(message: str, store: JobStore, preflight: PreflightRun, timings: dict[str, float]) -> RunOutcome:
    """The job could not be written (full disk, read-only folder): could not check, exit 3, no job."""
    return _stopped(Finding(RUN_ID, "error", message, {"jobs_dir": str(store.jobs_dir)}), "job", preflight, timings)


def _stopped(finding: Finding, stage: str, preflight: PreflightRun | None, timings: dict[str, float]) -> RunOutcome:
    return _stopped_many([finding], stage, preflight, timings)


def _stopped_many(
    findings: list[Finding], stage: str, preflight: PreflightRun | None, timings: dict[str, float]
) -> RunOutcome:
    return RunOutcome(Verdict(tuple(findings)), None, None, stage, preflight, timings=timings)
