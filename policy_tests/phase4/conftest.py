"""Fixtures for Phase 4.1: the apply under review, read back from the live system itself.

The apply is identified by ``--job DIR`` (its manifest's ``applied_version``) or, without it, by the
live ``calibration.json``'s ``calpolicy.job_id``. Its record is the history's ``begin`` line for that
version; everything else (the live file, the archive, the unit's journal and start time) is probed fresh.
Anything that cannot be read is "could not check" — a STOP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from calpolicy.apply.deploy import LivePaths
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import history as apply_history
from calpolicy.plugin import CouldNotCheck
from calpolicy.vocabulary.config import Config


@pytest.fixture(scope="session")
def live_paths(calpolicy_config: Config) -> LivePaths:
    return LivePaths.from_config(calpolicy_config)


@pytest.fixture(scope="session")
def live_document(live_paths: LivePaths) -> dict[str, Any]:
    try:
        raw = parse_json(live_paths.calibration_file.read_bytes())
    except FileNotFoundError:
        raise CouldNotCheck(f"there is no live config at {live_paths.calibration_file}") from None
    except (OSError, ValueError) as error:
        raise CouldNotCheck(f"the live config {live_paths.calibration_file} cannot be read: {error}") from None
    if not isinstance(raw, dict):
        raise CouldNotCheck(f"the live config {live_paths.calibration_file} is not a JSON object")
    return raw


@pytest.fixture(scope="session")
def job_dir(pytestconfig: pytest.Config) -> Path | None:
    job = pytestconfig.getoption("--job")
    return Path(job) if job else None


@pytest.fixture(scope="session")
def applied_version(job_dir: Path | None, live_document: dict[str, Any]) -> str:
    if job_dir is not None:
        try:
            manifest = parse_json((job_dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CouldNotCheck(f"cannot read the job's manifest in {job_dir}: {error}") from None
        version = manifest.get("applied_version")
        if not version:
            raise CouldNotCheck(f"job {job_dir.name} records no applied_version (state {manifest.get('state')})")
        return str(version)
    block = live_document.get("calpolicy")
    if not isinstance(block, dict) or not block.get("job_id"):
        raise CouldNotCheck("the live config carries no calpolicy.job_id and no --job was given")
    return str(block["job_id"])


@pytest.fixture(scope="session")
def history_entries(live_paths: LivePaths) -> list[dict[str, Any]]:
    return apply_history.read(live_paths.history)


@pytest.fixture(scope="session")
def apply_record(applied_version: str, history_entries: list[dict[str, Any]], live_paths: LivePaths) -> dict[str, Any]:
    """The history's begin line of the approve that made ``applied_version`` live, with its other lines."""
    begins = [
        e
        for e in history_entries
        if e.get("phase") == "begin" and e.get("event") == "approve" and e.get("to") == applied_version
    ]
    if not begins:
        raise CouldNotCheck(f"{live_paths.history} records no approve of {applied_version}")
    begin = begins[-1]
    related = [e for e in history_entries if e.get("id") == begin.get("id") and e is not begin]
    return {**begin, "related": related, "started": datetime.fromisoformat(begin["at"]).astimezone(UTC)}
