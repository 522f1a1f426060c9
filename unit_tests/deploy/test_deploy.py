"""approve and rollback on a real config folder: archive first, atomic write, lineage without toggling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calpolicy.apply.deploy import DeployError, Locked, NothingToDo, approve_job, rollback
from calpolicy.apply.lock import ApplyLock
from calpolicy.calibrate import Proposal
from calpolicy.jobs import history as apply_history
from calpolicy.loader import CalibrationLoader, parse_calibration, wait_for_version
from unit_tests.deploy.site import EXISTING_TOOL_FILE, EXISTING_VERSION, Site, make_site

JOB_A = "cal_20261101_120000"
JOB_B = "cal_20261102_120000"
JOB_C = "cal_20261103_120000"


def quiet(_: str) -> None:
    pass


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    site = make_site(tmp_path)
    for job in (JOB_A, JOB_B, JOB_C):
        site.add_job(job, proposal_json)
    return site


def approve(site: Site, job: str, **kwargs: object) -> object:
    return approve_job(site.config, job, "alice", say=quiet, wait=False, **kwargs)


def test_approve_archives_first_and_writes_the_engine_shape(site: Site, proposal_json: str) -> None:
    old = EXISTING_TOOL_FILE.read_bytes()
    outcome = approve(site, JOB_A)
    archived = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}.json"
    assert outcome.archived == archived
    assert archived.read_bytes() == old
    doc = json.loads(site.live.read_bytes())
    assert doc["version"] == JOB_A
    assert doc["confidence_calibration"]["mapping"] == Proposal.from_json(proposal_json).engine_mapping()
    assert doc["confidence_calibration"]["enabled"] is True
    assert doc["ensemble_weights"] == {**doc["ensemble_weights"], "enabled": False}
    assert doc["ensemble_weights"]["weights"] == json.loads(old)["ensemble_weights"]["weights"]
    assert doc["approved_by"] == "alice"
    assert doc["approved_at"]
    assert doc["calpolicy"]["job_id"] == JOB_A
    assert set(doc["calpolicy"]["models"]) == {"xgb", "lgbm", "nhits", "patchtst"}
    assert parse_calibration(site.live.read_bytes()).version == JOB_A
    manifest = site.manifest(JOB_A)
    assert manifest["state"] == "applied"
    assert manifest["applied_version"] == JOB_A
    assert [h["state"] for h in manifest["history"]] == ["proposed", "approved", "applied"]
    assert not [p for p in site.live.parent.iterdir() if p.name.startswith(".calpolicy-tmp-")]


def test_a_job_is_applied_once(site: Site) -> None:
    approve(site, JOB_A)
    with pytest.raises(DeployError, match="is applied; only a proposed job"):
        approve(site, JOB_A)


def test_rollback_walks_back_and_never_toggles(site: Site) -> None:
    approve(site, JOB_A)
    approve(site, JOB_B)
    approve(site, JOB_C)
    assert rollback(site.config, by="bob", wait=False, say=quiet).to_version == JOB_B
    assert rollback(site.config, by="bob", wait=False, say=quiet).to_version == JOB_A
    assert rollback(site.config, by="bob", wait=False, say=quiet).to_version == EXISTING_VERSION
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()  # restored byte for byte
    with pytest.raises(DeployError, match="no rollback target is recorded"):
        rollback(site.config, by="bob", wait=False, say=quiet)
    assert site.manifest(JOB_C)["state"] == "rolled_back"
    assert site.manifest(JOB_C)["rolled_back_to"] == JOB_B


def test_rollback_to_a_named_version_then_previous_follows_its_own_lineage(site: Site) -> None:
    approve(site, JOB_A)
    approve(site, JOB_B)
    approve(site, JOB_C)
    assert rollback(site.config, JOB_A, "bob", wait=False, say=quiet).to_version == JOB_A
    # JOB_A's own rollback target is the existing tool's version, not JOB_C that we just left
    assert rollback(site.config, by="bob", wait=False, say=quiet).to_version == EXISTING_VERSION


def test_rollback_none_and_back(site: Site) -> None:
    approve(site, JOB_A)
    outcome = rollback(site.config, "none", "bob", wait=False, say=quiet)
    assert outcome.to_version == "none"
    assert not site.live.exists()
    with pytest.raises(NothingToDo):
        rollback(site.config, "none", "bob", wait=False, say=quiet)
    with pytest.raises(DeployError, match="no rollback target is recorded for the live version none"):
        rollback(site.config, by="bob", wait=False, say=quiet)
    # a rolled-back job's version goes live again only through a new job and approve's checks
    with pytest.raises(DeployError, match=f"version {JOB_A} is job {JOB_A}'s, which was rolled back"):
        rollback(site.config, JOB_A, "bob", wait=False, say=quiet)
    assert not site.live.exists()


def test_rollback_reads_the_existing_tools_archive_names(site: Site) -> None:
    archive = site.paths.archive_dir
    archive.mkdir(parents=True)
    old = json.loads(EXISTING_TOOL_FILE.read_bytes())
    older = {**old, "version": "cal_20260101_000000"}
    # the existing tool names the backup after the NEW version it was replaced by
    (archive / "cal_20260206_060303_backup_20260206_060303.json").write_text(json.dumps(older))
    (archive / "cal_20260120_000000_deployed.json").write_text(json.dumps({**old, "version": "cal_20260120_000000"}))
    assert rollback(site.config, "cal_20260101_000000", "bob", wait=False, say=quiet).to_version == (
        "cal_20260101_000000"
    )
    assert rollback(site.config, "cal_20260120_000000", "bob", wait=False, say=quiet).to_version == (
        "cal_20260120_000000"
    )
    by_stem = rollback(site.config, "cal_20260206_060303_backup_20260206_060303", "bob", wait=False, say=quiet)
    assert by_stem.to_version == "cal_20260101_000000"
    # every config that was live is in the archive under the checklist's name
    for version in (EXISTING_VERSION, "cal_20260101_000000", "cal_20260120_000000"):
        assert (archive / f"calibration_{version}.json").is_file()


def test_history_is_append_only_and_complete(site: Site) -> None:
    approve(site, JOB_A)
    before = site.paths.history.read_bytes()
    rollback(site.config, by="bob", wait=False, say=quiet)
    after = site.paths.history.read_bytes()
    assert after.startswith(before)
    rows = apply_history.completed(apply_history.read(site.paths.history))
    assert [(r["event"], r["from"], r["to"], r["completed"]) for r in rows] == [
        ("approve", EXISTING_VERSION, JOB_A, True),
        ("rollback", JOB_A, EXISTING_VERSION, True),
    ]


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "..", "cal_1;rm -rf", "x\x00y", "", " cal_1", "cal..x"])
def test_bad_versions_are_refused_and_nothing_changes(site: Site, bad: str) -> None:
    before = site.live_bytes()
    with pytest.raises(DeployError, match="invalid version"):
        rollback(site.config, bad, "bob", wait=False, say=quiet)
    assert site.live_bytes() == before


@pytest.mark.parametrize("bad", ["../cal_20261101_120000", "cal_20261101_120000/..", "cal_x", "cal_20261101_1200000"])
def test_bad_job_ids_are_refused_and_nothing_changes(site: Site, bad: str) -> None:
    before = site.live_bytes()
    with pytest.raises(DeployError, match="invalid job ID"):
        approve(site, bad)
    assert site.live_bytes() == before


def test_missing_archive_is_a_clear_error(site: Site) -> None:
    before = site.live_bytes()
    with pytest.raises(DeployError, match=r"no archived config for version cal_20250101_000000 .*not changed"):
        rollback(site.config, "cal_20250101_000000", "bob", wait=False, say=quiet)
    approve(site, JOB_A)
    for archived in site.paths.archive_dir.glob("calibration_*.json"):
        archived.unlink()  # somebody emptied the archive
    before = site.live_bytes()
    with pytest.raises(DeployError, match=f"no archived config for version {EXISTING_VERSION}"):
        rollback(site.config, by="bob", wait=False, say=quiet)
    assert site.live_bytes() == before


def test_an_invalid_archived_file_is_never_restored(site: Site) -> None:
    archive = site.paths.archive_dir
    archive.mkdir(parents=True)
    invalid = '{"version": "cal_20250101_000000", "confidence_calibration": {"enabled": true}}'  # no mapping
    (archive / "calibration_cal_20250101_000000.json").write_text(invalid)
    before = site.live_bytes()
    with pytest.raises(DeployError, match="no archived config"):
        rollback(site.config, "cal_20250101_000000", "bob", wait=False, say=quiet)
    assert site.live_bytes() == before


def test_locked_by_names_the_holder(site: Site) -> None:
    holder = ApplyLock(site.live.parent, "carol", "calpolicy approve cal_x")
    expected = r"locked by carol running `calpolicy approve cal_x` since .*PID \d+"
    with holder, pytest.raises(Locked, match=expected):
        approve(site, JOB_A)
    approve(site, JOB_A)  # released: the next command goes ahead


def test_without_an_engine_unit_nothing_is_confirmed(site: Site) -> None:
    """No systemd here: the engine cannot be seen, so the written version is not called live (fail closed)."""
    outcome = approve_job(site.config, JOB_A, "alice", allow_restart=True, say=quiet)
    assert outcome.acknowledged is False
    assert outcome.restarted is False
    assert any(line.startswith("NOT CONFIRMED: cannot see the AI engine unit") for line in outcome.lines)
    acks = [e for e in apply_history.read(site.paths.history) if e.get("phase") == "ack"]
    assert acks[-1]["acknowledged"] is False


def test_an_in_process_loader_hot_reloads_but_cannot_confirm_for_the_engine(site: Site) -> None:
    """The loader follows approve and rollback; its acknowledgement is not the engine unit's (issue 20.6)."""
    loader = CalibrationLoader(site.live, poll_interval_s=0.05)
    try:
        outcome = approve_job(site.config, JOB_A, "alice", say=quiet)
        assert outcome.acknowledged is False, outcome.lines
        assert wait_for_version(site.paths.marker, JOB_A, 5)
        assert loader.version == JOB_A
        rollback(site.config, by="bob", wait=False, say=quiet)
        assert wait_for_version(site.paths.marker, EXISTING_VERSION, 5)
        assert loader.version == EXISTING_VERSION
        rollback(site.config, "none", "bob", wait=False, say=quiet)
        assert wait_for_version(site.paths.marker, "none", 5)
        assert loader.version == "none"
        assert loader.apply(0.7) == 0.7
    finally:
        loader.close()
