"""Checklist 4.1 — atomic update: a new version, the old one archived intact, at most one restart, the
version in the engine's log. Judged on the real result: the live file, the archive, the history, the
unit's start time and its journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.apply.deploy import LivePaths
from calpolicy.files.atomic_io import sha256_bytes
from calpolicy.loader import CalibrationError, parse_calibration
from calpolicy.preflight.probes.command import run_command
from calpolicy.vocabulary.config import Config
from policy_tests.live import probe

pytestmark = pytest.mark.apply

SHAPE = {  # REAL_SYSTEM.md §5: the keys the existing loader needs, and their JSON types
    "version": str,
    "created_at": str,
    "based_on_trades": int,
    "confidence_calibration": dict,
    "ensemble_weights": dict,
    "hold_bias": dict,
    "metadata": dict,
    "validation_checks": list,
}


@pytest.mark.control("P4.1.a")
def test_change_is_stored_as_a_new_version(
    live_paths: LivePaths,
    live_document: dict[str, Any],
    applied_version: str,
    apply_record: dict[str, Any],
    job_dir: Path | None,
) -> None:
    """calibration.json is the approved version, exactly as written, in the engine's shape, weights untouched."""
    data = live_paths.calibration_file.read_bytes()
    try:
        snap = parse_calibration(data, str(live_paths.calibration_file))
    except CalibrationError as error:
        pytest.fail(f"the live config does not validate: {error}", pytrace=False)
    problems = []
    if snap.version != applied_version:
        problems.append(f"the live version is {snap.version}, not the applied {applied_version}")
    if apply_record.get("from") == applied_version:
        problems.append(f"{applied_version} replaced itself: not a new version")
    if sha256_bytes(data) != apply_record.get("to_sha256"):
        problems.append("the live file's bytes differ from what approve wrote (sha256 mismatch)")
    for key, kind in SHAPE.items():
        if not isinstance(live_document.get(key), kind):
            problems.append(f"'{key}' is missing or not a {kind.__name__} (the existing loader needs it)")
    if not live_document.get("approved_by") or not live_document.get("approved_at"):
        problems.append("approved_by / approved_at are not set")
    if (live_document.get("ensemble_weights") or {}).get("enabled") is not False:
        problems.append("ensemble_weights.enabled is not false: a calibration must never change weights")
    if job_dir is not None and (job_dir / "proposal.json").is_file():
        from calpolicy.calibrate import Proposal

        scored = Proposal.from_json((job_dir / "proposal.json").read_bytes()).engine_mapping()
        if live_document["confidence_calibration"].get("mapping") != scored:
            problems.append("confidence_calibration.mapping is not exactly the map that was scored")
    assert not problems, "P4.1.a FAIL: " + "; ".join(problems)


@pytest.mark.control("P4.1.b")
def test_old_version_is_intact_in_the_archive(apply_record: dict[str, Any]) -> None:
    """The config that was live before is in the archive, byte for byte, and still loads."""
    if apply_record.get("from") == "none":
        assert apply_record.get("from_sha256") is None, "P4.1.b FAIL: history says nothing was live, yet has a digest"
        return  # nothing was live before this apply: there is nothing to archive
    archived = apply_record.get("archived")
    assert archived, f"P4.1.b FAIL: no archive copy is recorded for the previous version {apply_record.get('from')}"
    path = Path(archived)
    assert path.is_file(), f"P4.1.b FAIL: the archived previous version {path} is gone"
    data = path.read_bytes()
    assert sha256_bytes(data) == apply_record.get("from_sha256"), (
        f"P4.1.b FAIL: {path} is not the config that was live before (sha256 differs)"
    )
    assert parse_calibration(data, str(path)).version == apply_record["from"], (
        f"P4.1.b FAIL: {path} does not carry version {apply_record['from']}"
    )
    assert (
        path.name == f"calibration_{apply_record['from']}.json"
        or "unversioned" in path.name
        or (path.name.startswith(f"calibration_{apply_record['from']}_"))
    ), f"P4.1.b FAIL: {path.name} is not named calibration_<version>.json"


def _unit_started(config: Config) -> datetime:
    unit = config.systemd.ai_engine_unit
    argv = ["systemctl", "show", "-p", "ExecMainStartTimestamp", "--value", "--timestamp=unix", unit]
    result = probe(f"the start time of {unit}", lambda: run_command(argv, config.systemd.command_prefix))
    raw = result.stdout.decode().strip().lstrip("@")
    if not raw:
        from calpolicy.plugin import CouldNotCheck

        raise CouldNotCheck(f"{unit} has no start time: it is not running")
    return datetime.fromtimestamp(float(raw), UTC)


@pytest.mark.control("P4.1.c")
def test_at_most_one_restart_and_only_when_reload_failed(
    apply_record: dict[str, Any], calpolicy_config: Config
) -> None:
    """No restart if hot reload worked; at most one, recorded, after the reload went unacknowledged."""
    restarts = [e for e in apply_record["related"] if e.get("phase") == "restart"]
    acks = [e for e in apply_record["related"] if e.get("phase") == "ack"]
    assert len(restarts) <= 1, f"P4.1.c FAIL: approve restarted the AI engine {len(restarts)} times"
    if restarts:
        before = [a for a in acks if not a.get("after_restart")]
        failed_first = bool(before) and before[0].get("acknowledged") is False
        assert failed_first, "P4.1.c FAIL: the AI engine was restarted although hot reload had not been shown to fail"
    started = _unit_started(calpolicy_config)  # whole seconds, rounded down
    unit = calpolicy_config.systemd.ai_engine_unit
    if not restarts and started > apply_record["started"]:
        pytest.fail(
            f"P4.1.c FAIL: {unit} (re)started at {started.isoformat()}, after the apply began "
            f"({apply_record['started'].isoformat()}), and approve recorded no restart",
            pytrace=False,
        )
    if restarts:
        finished = max(datetime.fromisoformat(e["at"]) for e in apply_record["related"])
        if started > finished + timedelta(seconds=1):
            pytest.fail(
                f"P4.1.c FAIL: {unit} started again at {started.isoformat()}, after approve's one restart "
                f"(approve finished at {finished.isoformat()}): a second restart",
                pytrace=False,
            )


@pytest.mark.control("P4.1.d")
def test_version_is_in_the_engine_log(applied_version: str, calpolicy_config: Config) -> None:
    """The AI engine's current run logged loading the applied version, and nothing since.

    Either line counts: the real engine's `[CalibrationLoader] ✅ Loaded calibration: <v>` and the
    checklist's `[CalibrationLoader] ✅ Loaded config version: <v>` (calpolicy's hot-reload loader). Only
    lines of the unit's current run (its InvocationID) from its main process or a child count: a line from
    an earlier run, or from another process, proves nothing about what is served now.
    """
    from calpolicy.apply.confirmation import ConfirmError, run_loader_lines, unit_run
    from calpolicy.plugin import CouldNotCheck

    unit = calpolicy_config.systemd.ai_engine_unit
    try:
        run = unit_run(calpolicy_config.systemd)
        lines = run_loader_lines(run, calpolicy_config.systemd)
    except ConfirmError as error:
        raise CouldNotCheck(f"cannot read what {unit} serves: {error}") from None
    wanted = f"Loaded calibration: {applied_version}' or '...Loaded config version: {applied_version}"
    assert lines, (
        f"P4.1.d FAIL: {run.describe()}: no [CalibrationLoader] line from its current run; expected "
        f"'[CalibrationLoader] ✅ {wanted}'"
    )
    loaded = [i for i, (_, _, state) in enumerate(lines) if state == applied_version]
    assert loaded, (
        f"P4.1.d FAIL: no '[CalibrationLoader] ✅ {wanted}' from {run.describe()}; "
        f"loader lines of its current run: {[text for _, text, _ in lines][-6:]}"
    )
    assert lines[-1][2] == applied_version, (
        f"P4.1.d FAIL: after loading {applied_version}, {unit} logged {lines[-1][1]!r}: it no longer serves it"
    )
