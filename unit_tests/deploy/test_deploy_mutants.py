"""What approve, rollback and the swap write and say, exactly (issue 21 §5: deploy.py under mutation testing).

Fast and in-process on real parts only: a config folder in tmp_path, real fsync and os.replace, real FIFOs,
symlinks and folders where a file should be, a real dead PID in the lock. Each test pins something an
operator or a caller sees — the bytes of the live file and of the history, the outcome, the exact message —
that a plausible one-token bug in ``calpolicy/apply/deploy/*`` would change (docs/mutation.md lists the survivors
these were written for).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from calpolicy.apply.deploy.approve import approve_job, build_calibration, serialize
from calpolicy.apply.deploy.live import (
    DEFAULT_WEIGHTS,
    SCHEMA,
    UNREADABLE,
    DeployError,
    Live,
    LivePaths,
    Locked,
    NothingToDo,
    Outcome,
    read_live,
)
from calpolicy.apply.deploy.rollback import rollback
from calpolicy.apply.deploy.swap import swap
from calpolicy.apply.lock import LOCK_NAME
from calpolicy.calibrate import Proposal
from calpolicy.calibrate.models import ENSEMBLE
from calpolicy.files.atomic_io import TEMP_PREFIX
from calpolicy.jobs import JobStore, read_job_files
from calpolicy.jobs import history as apply_history
from calpolicy.loader import parse_calibration
from unit_tests.deploy.site import EXISTING_TOOL_FILE, EXISTING_VERSION, Site, make_site

JOB_A = "cal_20261101_120000"
JOB_B = "cal_20261102_120000"
ENGINE_ONLY = b'{"version": "cal_20260206_060303", "ensemble_weights": {"enabled": false}}\n'
# the real engine's loader reads it (it takes any true value as "enabled"); calpolicy's parser refuses it.
# (`"confidence_calibration": 5` was used here, but the real loader fails on that one and serves nothing.)
REFUSED = b'{"version": "cal_20260206_060303", "confidence_calibration": {"enabled": "yes"}}\n'
SHA = re.compile(r"[0-9a-f]{64}")


def quiet(_: str) -> None:
    pass


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    site = make_site(tmp_path)
    for job in (JOB_A, JOB_B):
        site.add_job(job, proposal_json)
    return site


def approve(site: Site, job: str, **kwargs: Any) -> Outcome:
    kwargs.setdefault("say", quiet)
    return approve_job(site.config, job, "alice", wait=False, **kwargs)


def back(site: Site, target: str = "previous", **kwargs: Any) -> Outcome:
    kwargs.setdefault("say", quiet)
    return rollback(site.config, target, "bob", wait=False, **kwargs)


def history(site: Site) -> list[dict[str, Any]]:
    return apply_history.read(site.paths.history)


def begins(site: Site) -> list[dict[str, Any]]:
    return [e for e in history(site) if e.get("phase") == "begin"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ============================================================================== read_live


def test_read_live_says_what_is_there_and_why_it_cannot_be_parsed(tmp_path: Path) -> None:
    paths = LivePaths(tmp_path / "calibration.json", tmp_path / "archive")
    absent = read_live(paths)
    assert absent == Live(None, "none")
    assert absent.present is False
    paths.calibration_file.write_bytes(EXISTING_TOOL_FILE.read_bytes())
    good = read_live(paths)
    assert good.data == EXISTING_TOOL_FILE.read_bytes()
    assert good.version == EXISTING_VERSION
    assert good.problem is None
    assert good.document == json.loads(EXISTING_TOOL_FILE.read_bytes())
    assert good.present is True
    paths.calibration_file.write_bytes(REFUSED)
    refused = read_live(paths)
    assert (refused.data, refused.version, refused.document) == (REFUSED, EXISTING_VERSION, {})
    assert refused.problem == (
        f"{paths.calibration_file}: confidence_calibration.enabled must be true or false, got 'yes'"
    )
    paths.calibration_file.unlink()
    os.mkfifo(paths.calibration_file)
    fifo = read_live(paths)
    assert (fifo.data, fifo.version) == (None, UNREADABLE)
    assert fifo.problem == f"{paths.calibration_file}: is a FIFO (named pipe), not a regular file"
    assert fifo.present is True  # something is there, though it cannot be read: never "no calibration"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"version": "../etc/passwd", "confidence_calibration": 5}',
        b'{"version": 7}',
        b'["cal_20260101_000000"]',
        b'{"version": "cal..x", "confidence_calibration": 5}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_a_live_file_naming_no_usable_version_is_named_by_its_digest(tmp_path: Path, content: bytes) -> None:
    paths = LivePaths(tmp_path / "calibration.json", tmp_path / "archive")
    paths.calibration_file.write_bytes(content)
    live = read_live(paths)
    assert live.version == f"unparsable_{sha(content)[:12]}"
    assert live.data == content
    assert live.problem


# ============================================================================== build_calibration, serialize


def test_the_built_config_is_the_engine_shape_with_the_calpolicy_block(proposal_json: str) -> None:
    proposal = Proposal.from_json(proposal_json)
    ens = proposal.models[ENSEMBLE]
    manifest = {"created_at": "2026-11-01T12:00:00+00:00", "_proposal_sha256": "ab" * 32, "_on_call_until": "U"}
    weights = {"xgb": 0.25, "lgbm": 0.25, "nhits": 0.25, "patchtst": 0.25}
    doc = build_calibration(proposal, manifest, JOB_A, "alice", "2026-11-02T00:00:00+00:00", "cd" * 32, weights)
    assert doc == {
        "version": JOB_A,
        "created_at": "2026-11-01T12:00:00+00:00",
        "based_on_trades": ens.n,
        "approved_by": "alice",
        "approved_at": "2026-11-02T00:00:00+00:00",
        "confidence_calibration": {
            "enabled": True,
            "method": "isotonic",
            "mapping": proposal.engine_mapping(),
            "mse_before": ens.brier_before,
            "mse_after": ens.brier_after,
            "improvement_pct": round(ens.improvement * 100, 4),
            "sample_size": ens.n,
        },
        "ensemble_weights": {"enabled": False, "weights": weights, "changes": [], "total_delta": 0.0, "sample_size": 0},
        "hold_bias": {
            "enabled": False,
            "adjustment_factor": 1.0,
            "hold_accuracy": 0.0,
            "missed_opportunities": 0,
            "sample_size": 0,
        },
        "metadata": {
            "win_rate_improvement": None,
            "confidence_mse_before": ens.brier_before,
            "confidence_mse_after": ens.brier_after,
            "weight_stability": 0.0,
            "validation_status": "passed",
            "risk_score": 0.0,
        },
        "validation_checks": [
            {
                "name": "calpolicy_policy_suite",
                "passed": True,
                "severity": "info",
                "description": "every calpolicy policy test of the job passed (out-of-fold Brier, ±band, all models)",
                "result": "passed",
                "details": f"job {JOB_A}",
            }
        ],
        "calpolicy": {
            "schema": SCHEMA,
            "job_id": JOB_A,
            "statement_sha256": "cd" * 32,
            "proposal_sha256": "ab" * 32,
            "models": {n: {"x": list(r.x), "y": list(r.y)} for n, r in proposal.models.items() if n != ENSEMBLE},
            "on_call_until": "U",
        },
    }
    assert SCHEMA == "calpolicy.calibration/1"
    assert set(doc["calpolicy"]["models"]) == {"xgb", "lgbm", "nhits", "patchtst"}
    assert type(doc["based_on_trades"]) is int
    assert parse_calibration(serialize(doc)).version == JOB_A


def test_the_built_config_falls_back_to_approval_time_default_weights_and_no_improvement(proposal_json: str) -> None:
    proposal = Proposal.from_json(proposal_json)
    ens = dataclasses.replace(proposal.models[ENSEMBLE], improvement=None, n=1234)
    proposal = dataclasses.replace(proposal, models={**proposal.models, ENSEMBLE: ens})
    doc = build_calibration(proposal, {"created_at": ""}, JOB_A, "alice", "2026-11-02T00:00:00+00:00", None)
    assert doc["created_at"] == "2026-11-02T00:00:00+00:00"
    assert doc["ensemble_weights"]["weights"] == {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}
    assert doc["ensemble_weights"]["weights"] is not DEFAULT_WEIGHTS  # a copy: the module's default is never shared
    assert doc["confidence_calibration"]["improvement_pct"] is None
    assert doc["confidence_calibration"]["sample_size"] == doc["based_on_trades"] == 1234
    assert doc["calpolicy"]["statement_sha256"] is None
    assert doc["calpolicy"]["proposal_sha256"] is None
    assert doc["calpolicy"]["on_call_until"] is None


def test_improvement_is_a_percentage_rounded_to_four_places(proposal_json: str) -> None:
    proposal = Proposal.from_json(proposal_json)
    ens = dataclasses.replace(proposal.models[ENSEMBLE], improvement=0.123456789)
    proposal = dataclasses.replace(proposal, models={**proposal.models, ENSEMBLE: ens})
    doc = build_calibration(proposal, {}, JOB_A, "alice", "2026-11-02T00:00:00+00:00", None)
    assert doc["confidence_calibration"]["improvement_pct"] == 12.3457


def test_serialize_is_two_space_ascii_json_with_one_final_newline() -> None:
    assert serialize({"b": [1], "a": "é"}) == b'{\n  "b": [\n    1\n  ],\n  "a": "\\u00e9"\n}\n'
    try:  # NaN is never written (the engine's JSON reader would refuse it); json's own words are not ours
        serialize({"x": float("nan")})
    except ValueError:
        pass
    else:
        pytest.fail("serialize wrote NaN")


# ============================================================================== the swap


def test_swap_records_begin_and_done_then_writes_exactly_the_new_bytes(site: Site) -> None:
    old = site.live_bytes()
    assert old is not None
    new = site.jobs.joinpath(JOB_A, "proposal.json").read_bytes()  # any bytes the loader accepts will do:
    new = serialize(build_calibration(Proposal.from_json(new), {}, JOB_A, "alice", "T", None))
    stale = site.paths.folder / f"{TEMP_PREFIX}left-by-a-kill"
    stale.write_bytes(b"half")
    site.paths.archive_dir.mkdir()
    stale_archive = site.paths.archive_dir / f"{TEMP_PREFIX}x"
    stale_archive.write_bytes(b"half")
    outcome = swap(
        site.paths, new, event="approve", to_version=JOB_A, then_previous="prev", by="carol", job_id=JOB_A, note="n"
    )
    assert site.live_bytes() == new
    assert not stale.exists()
    assert not stale_archive.exists()
    archived = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}.json"
    assert archived.read_bytes() == old
    assert outcome == Outcome("approve", EXISTING_VERSION, JOB_A, archived, "prev", entry_id=outcome.entry_id)
    assert outcome.entry_id
    assert re.fullmatch(r"[0-9a-f]{32}", outcome.entry_id)
    entries = history(site)
    assert [e["phase"] for e in entries] == ["begin", "done"]
    begin, done = entries
    assert set(begin) == {"id", "phase", "event", "from", "to", "then_previous", "by", "job_id", "note", "pid", "at",
                          "archived", "from_sha256", "from_problem", "to_sha256"}  # fmt: skip
    assert {k: v for k, v in begin.items() if k != "at"} == {
        "id": outcome.entry_id,
        "phase": "begin",
        "event": "approve",
        "from": EXISTING_VERSION,
        "to": JOB_A,
        "then_previous": "prev",
        "by": "carol",
        "job_id": JOB_A,
        "note": "n",
        "pid": os.getpid(),
        "archived": str(archived),
        "from_sha256": sha(old),
        "from_problem": None,
        "to_sha256": sha(new),
    }
    assert set(done) == {"id", "phase", "at"}
    assert done["id"] == outcome.entry_id
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", entry["at"]), entry["at"]


def test_swap_to_no_file_removes_it_and_records_no_new_digest(site: Site) -> None:
    outcome = swap(site.paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert not site.live.exists()
    begin = begins(site)[-1]
    assert (begin["to"], begin["to_sha256"], begin["then_previous"], begin["job_id"], begin["note"]) == (
        "none", None, None, None, ""
    )  # fmt: skip
    assert outcome.to_version == "none"
    # nothing live and nothing to remove: still a clean, recorded change
    again = swap(site.paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert again.archived is None
    assert again.from_version == "none"
    last = begins(site)[-1]
    assert (last["archived"], last["from_sha256"], last["from"]) == (None, None, "none")
    assert [e["phase"] for e in history(site)] == ["begin", "done", "begin", "done"]


def test_swap_removes_a_symlink_in_the_live_files_place_without_following_it(site: Site, tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_bytes(b"precious")
    site.live.unlink()
    site.live.symlink_to(victim)
    swap(site.paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert not site.live.is_symlink()
    assert not site.live.exists()
    assert victim.read_bytes() == b"precious"
    begin = begins(site)[-1]
    assert begin["from"] == UNREADABLE
    assert begin["from_problem"] == f"{site.live}: is a symbolic link; refusing to follow it"


def test_a_restore_is_written_byte_for_byte_only_with_the_recorded_digest(site: Site) -> None:
    before = site.live_bytes()
    with pytest.raises(DeployError) as raised:
        swap(site.paths, ENGINE_ONLY, event="rollback", to_version=EXISTING_VERSION, then_previous=None, by="b",
             restore_sha256=sha(b"other"))  # fmt: skip
    assert str(raised.value) == (
        "the config to restore is not the one that was archived; the live config was not changed"
    )
    assert site.live_bytes() == before
    assert not site.paths.history.exists()
    # the recorded digest: restored even though calpolicy's parser refuses the file (it was live)
    swap(site.paths, ENGINE_ONLY, event="rollback", to_version=EXISTING_VERSION, then_previous=None, by="b",
         restore_sha256=sha(ENGINE_ONLY))  # fmt: skip
    assert site.live_bytes() == ENGINE_ONLY


def test_swap_refuses_an_invalid_config_naming_the_reason(site: Site) -> None:
    with pytest.raises(DeployError) as raised:
        swap(site.paths, b"{not json", event="approve", to_version="x", then_previous=None, by="t")
    message = str(raised.value)
    assert message.endswith("; the new config is not valid, the live config was not changed")
    assert message.startswith("the new config is not valid JSON: ")  # the parser names what it read
    assert len(message) > len("; the new config is not valid, the live config was not changed") + 5


def test_an_archive_folder_that_is_a_symlink_is_refused(site: Site, tmp_path: Path) -> None:
    real = tmp_path / "real_archive"
    real.mkdir()
    site.paths.archive_dir.symlink_to(real)
    before = site.live_bytes()
    with pytest.raises(DeployError) as raised:
        swap(site.paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert str(raised.value) == (
        f"the archive path {site.paths.archive_dir} is not a folder; the live config was not changed"
    )
    assert site.live_bytes() == before
    assert list(real.iterdir()) == []


def test_an_archive_folder_that_cannot_be_created_is_a_clear_stop(site: Site, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    paths = LivePaths(site.live, blocker / "archive")
    with pytest.raises(DeployError) as raised:
        swap(paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert str(raised.value) == (
        f"cannot create the archive folder {blocker / 'archive'}: Not a directory; the live config was not changed"
    )
    assert site.live_bytes() is not None


def test_a_live_config_that_cannot_be_archived_is_never_replaced(site: Site) -> None:
    archive = site.paths.archive_dir
    digest = sha(site.live_bytes() or b"")[:12]
    for name in (f"calibration_{EXISTING_VERSION}.json", f"calibration_{EXISTING_VERSION}_{digest}.json"):
        (archive / name / "occupied").mkdir(parents=True)  # a folder where the copy would go
    before = site.live_bytes()
    with pytest.raises(DeployError) as raised:
        swap(site.paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert str(raised.value) == (
        f"cannot archive the live config to {archive}: Is a directory; the live config was not changed"
    )
    assert site.live_bytes() == before
    assert not site.paths.history.exists()


def test_a_history_that_cannot_be_written_stops_before_the_swap(site: Site) -> None:
    site.paths.history.mkdir(parents=True)
    before = site.live_bytes()
    with pytest.raises(DeployError) as raised:
        swap(site.paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert str(raised.value).startswith(f"cannot record the change in {site.paths.history}: ")
    assert str(raised.value).endswith("; the live config was not changed")
    assert site.live_bytes() == before


def test_a_live_file_that_cannot_be_replaced_is_recorded_as_failed(site: Site) -> None:
    site.live.unlink()
    (site.live / "occupied").mkdir(parents=True)  # os.replace cannot put a file over a non-empty folder
    new = ENGINE_ONLY
    with pytest.raises(DeployError) as raised:
        swap(site.paths, new, event="rollback", to_version="v", then_previous=None, by="b", restore_sha256=sha(new))
    assert str(raised.value) == (
        f"cannot write the live config {site.live}: Is a directory; the live config was not changed"
    )
    entries = history(site)
    assert [e["phase"] for e in entries] == ["begin", "failed"]
    assert entries[1]["id"] == entries[0]["id"]
    assert "Is a directory" in entries[1]["error"]
    assert set(entries[1]) == {"id", "phase", "error"}
    assert entries[0]["from"] == UNREADABLE
    assert not [p for p in site.paths.folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert apply_history.completed(entries)[0]["completed"] is False


# ============================================================================== approve


def test_approve_records_the_approval_and_the_apply_in_the_manifest(site: Site, proposal_json: str) -> None:
    notes: list[str] = []
    outcome = approve(site, JOB_A, on_call_until="2099-01-01T00:00:00+00:00", say=notes.append)
    assert notes == []
    manifest = site.manifest(JOB_A)
    approval = manifest["approval"]
    assert set(approval) == {"by", "at", "on_call_until", "reviewed_report", "on_call_24h"}
    assert (approval["by"], approval["on_call_until"], approval["reviewed_report"], approval["on_call_24h"]) == (
        "alice", "2099-01-01T00:00:00+00:00", True, True
    )  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", approval["at"])  # whole seconds
    states = [(h["state"], h["by"], h["note"]) for h in manifest["history"]]
    assert states[1:] == [
        ("approved", "alice", "approved for apply"),
        ("applied", "alice", f"live; rollback target {EXISTING_VERSION}"),
    ]
    doc = json.loads(site.live_bytes() or b"")
    assert doc["approved_at"] == approval["at"]
    assert doc["created_at"] == site.manifest(JOB_A)["created_at"]
    assert doc["calpolicy"]["proposal_sha256"] == sha(proposal_json.encode())
    assert doc["calpolicy"]["statement_sha256"] is None  # the job has no statement.json
    assert doc["calpolicy"]["on_call_until"] == "2099-01-01T00:00:00+00:00"
    assert site.live_bytes() == serialize(doc)
    assert outcome.lines == [
        f"approve: {site.live} now holds {JOB_A} (was {EXISTING_VERSION}); previous config archived as "
        f"{site.paths.archive_dir / f'calibration_{EXISTING_VERSION}.json'}; `calpolicy rollback` would return "
        f"to {EXISTING_VERSION}"
    ]
    assert (outcome.acknowledged, outcome.restarted, outcome.confirmation) == (None, False, None)


def test_approve_digests_the_statement_it_read(site: Site) -> None:
    statement = b'{"statement": "as signed"}\n'
    (site.jobs / JOB_A / "statement.json").write_bytes(statement)
    approve(site, JOB_A)
    assert json.loads(site.live_bytes() or b"")["calpolicy"]["statement_sha256"] == sha(statement)


def test_approve_reads_the_job_it_was_given_and_only_that(site: Site) -> None:
    other = read_job_files(site.jobs / JOB_B)
    with pytest.raises(DeployError) as raised:
        approve(site, JOB_A, files=other)
    assert str(raised.value) == f"cannot read job {JOB_A}: the job read is {JOB_B}, not {JOB_A}"
    manifest = site.manifest(JOB_A)
    manifest["job_id"] = JOB_B
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DeployError) as raised:
        approve(site, JOB_A)
    assert str(raised.value) == f"cannot read job {JOB_A}: job {JOB_A}'s manifest does not name job {JOB_A}"
    (site.jobs / JOB_A / "manifest.json").write_text("[1]")
    with pytest.raises(DeployError, match=f"manifest does not name job {JOB_A}"):
        approve(site, JOB_A)
    (site.jobs / JOB_A / "manifest.json").unlink()
    with pytest.raises(DeployError, match=f"^cannot read job {JOB_A}: "):
        approve(site, JOB_A)
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()
    assert not site.paths.history.exists()


def test_approve_without_a_proposal_applies_nothing(site: Site) -> None:
    (site.jobs / JOB_A / "proposal.json").unlink()
    with pytest.raises(DeployError) as raised:
        approve(site, JOB_A)
    assert str(raised.value) == (
        f"job {JOB_A}'s proposal fails its checks; nothing was applied or recorded: "
        "the job has no readable proposal.json"
    )
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()
    assert site.manifest(JOB_A)["state"] == "proposed"


def test_approve_says_when_it_takes_over_a_dead_holders_lock(site: Site) -> None:
    lock = site.paths.folder / LOCK_NAME
    pid = dead_pid()
    lock.write_text(json.dumps({"who": "mallory", "command": "calpolicy approve x", "pid": pid, "since": "S",
                                "host": "h"}))  # fmt: skip
    notes: list[str] = []
    approve(site, JOB_A, say=notes.append)
    assert notes == [
        "note: the previous holder of the lock died mid-command "
        f"(mallory running `calpolicy approve x` since S (PID {pid} on h)); taking over"
    ]
    lock.write_text(json.dumps({"who": "mallory", "command": "c", "pid": pid, "since": "S", "host": "h"}))
    notes.clear()
    back(site, say=notes.append)
    assert notes[0] == (
        f"note: the previous holder of the lock died mid-command (mallory running `c` since S (PID {pid} on h)); "
        "taking over"
    )
    assert lock.read_bytes() == b""  # released and cleared


def test_a_held_lock_names_its_holder_and_the_command_waits_for_nothing(site: Site) -> None:
    from calpolicy.apply.lock import ApplyLock

    with ApplyLock(site.paths.folder, "carol", "calpolicy rollback"), pytest.raises(Locked) as raised:
        back(site, "none")
    assert str(raised.value).startswith("the live calibration is locked by carol running `calpolicy rollback` since ")
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()


def test_a_lock_that_cannot_be_opened_is_a_clear_stop(site: Site) -> None:
    (site.paths.folder / LOCK_NAME).mkdir()
    with pytest.raises(DeployError) as raised:
        approve(site, JOB_A)
    assert str(raised.value) == (
        f"cannot take the apply lock in {site.paths.folder}: Is a directory; the live config was not changed"
    )
    assert site.manifest(JOB_A)["state"] == "proposed"


def test_without_a_config_folder_nothing_is_locked_or_written(tmp_path: Path, proposal_json: str) -> None:
    site = make_site(tmp_path, existing=False)
    site.add_job(JOB_A, proposal_json)
    gone = tmp_path / "nowhere" / "calibration.json"
    config = site.config.with_overrides({"paths.calibration_file": str(gone)}, "test")
    for call in (lambda: approve_job(config, JOB_A, "alice", wait=False, say=quiet),
                 lambda: rollback(config, "none", "bob", wait=False, say=quiet)):  # fmt: skip
        with pytest.raises(DeployError) as raised:
            call()
        assert str(raised.value) == f"the config folder {gone.parent} does not exist"
    assert not gone.parent.exists()


def test_an_interrupted_approve_is_resumed_and_applied_once(site: Site) -> None:
    store = JobStore(site.jobs, site.paths.history)
    store.transition(JOB_A, "approved", "alice", note="approved for apply")  # killed right after this
    notes: list[str] = []
    outcome = approve(site, JOB_A, say=notes.append)
    assert notes == [f"note: job {JOB_A} was approved by an earlier, interrupted command; resuming it"]
    assert json.loads(site.live_bytes() or b"")["version"] == JOB_A
    assert outcome.rollback_target == EXISTING_VERSION
    assert [h["state"] for h in site.manifest(JOB_A)["history"]] == ["proposed", "approved", "applied"]
    assert len(begins(site)) == 1


def test_a_job_made_live_before_the_interruption_is_only_recorded(site: Site) -> None:
    """Killed after the swap's done line, before the manifest said applied: the history says applied."""
    first = approve(site, JOB_A)
    manifest = site.manifest(JOB_A)
    manifest["state"] = "approved"  # the mirror as the killed command left it
    manifest["history"] = manifest["history"][:2]
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))
    live = site.live_bytes()
    inode = site.live.stat().st_ino
    notes: list[str] = []
    outcome = approve(site, JOB_A, say=notes.append)
    assert notes == [
        f"note: job {JOB_A} was approved by an earlier, interrupted command; resuming it",
        f"version {JOB_A} was made live before the interruption; recording it",
    ]
    assert site.live_bytes() == live
    assert site.live.stat().st_ino == inode
    assert len(begins(site)) == 1
    assert (outcome.event, outcome.from_version, outcome.to_version) == ("approve", EXISTING_VERSION, JOB_A)
    assert (outcome.archived, outcome.rollback_target, outcome.entry_id) == (
        first.archived, EXISTING_VERSION, first.entry_id
    )  # fmt: skip
    assert site.manifest(JOB_A)["state"] == "applied"


def test_a_swap_killed_before_its_done_line_is_recorded_not_repeated(site: Site) -> None:
    """Killed between the write and the done line: the job is approved, its version live; approve records it."""
    first = approve(site, JOB_A)
    lines = site.paths.history.read_bytes().splitlines(keepends=True)
    site.paths.history.write_bytes(b"".join(line for line in lines if b'"done"' not in line))
    manifest = site.manifest(JOB_A)
    manifest["state"] = "approved"
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))
    decisions = site.jobs / ".decisions.jsonl"
    kept = decisions.read_bytes().splitlines(keepends=True)[:-1]  # the 'applied' decision was never written
    decisions.write_bytes(b"".join(kept))
    assert JobStore(site.jobs, site.paths.history).state(JOB_A) == "approved"
    notes: list[str] = []
    outcome = approve(site, JOB_A, say=notes.append)
    assert notes == [
        f"note: job {JOB_A} was approved by an earlier, interrupted command; resuming it",
        f"version {JOB_A} was made live before the interruption; recording it",
    ]
    assert len(begins(site)) == 1
    assert outcome.entry_id == first.entry_id
    assert outcome.archived == first.archived


# ============================================================================== rollback


def test_rollback_records_its_lineage_and_the_left_jobs_state(site: Site) -> None:
    approve(site, JOB_A)
    approve(site, JOB_B)
    outcome = back(site)
    assert outcome.to_version == JOB_A
    assert outcome.from_version == JOB_B
    assert outcome.rollback_target == EXISTING_VERSION  # JOB_A's own target, as recorded when it went live
    begin = begins(site)[-1]
    assert (begin["event"], begin["from"], begin["to"], begin["then_previous"], begin["by"], begin["job_id"]) == (
        "rollback", JOB_B, JOB_A, EXISTING_VERSION, "bob", JOB_B
    )  # fmt: skip
    assert begin["note"] == f"requested: previous; restored calibration_{JOB_A}.json"
    left = site.manifest(JOB_B)
    assert (left["state"], left["rolled_back_to"]) == ("rolled_back", JOB_A)
    assert (left["history"][-1]["by"], left["history"][-1]["note"]) == ("bob", f"rolled back to {JOB_A}")
    assert site.manifest(JOB_A)["state"] == "applied"
    assert outcome.lines == [
        f"rollback: {site.live} now holds {JOB_A} (was {JOB_B}); previous config archived as "
        f"{site.paths.archive_dir / f'calibration_{JOB_B}.json'}; `calpolicy rollback` would return to "
        f"{EXISTING_VERSION}"
    ]
    none = back(site, "none")
    assert none.lines[0] == (
        f"rollback: {site.live} removed: NO calibration is applied (was {JOB_A}); previous config archived as "
        f"{site.paths.archive_dir / f'calibration_{JOB_A}.json'}; `calpolicy rollback` would return to nothing "
        "recorded (name a version, or none)"
    )
    last = begins(site)[-1]
    assert (last["to"], last["job_id"], last["note"], last["then_previous"]) == ("none", JOB_A, "requested: none", None)
    assert site.manifest(JOB_A)["state"] == "rolled_back"


def test_rollback_of_a_broken_live_file_uses_the_last_version_calpolicy_made_live(site: Site) -> None:
    approve(site, JOB_A)
    site.live.write_bytes(b'{"version": "cal_20261101_120000", "confidence_calibration": 5}')
    notes: list[str] = []
    assert back(site, say=notes.append).to_version == EXISTING_VERSION  # its own version's target
    assert len(notes) == 1
    approve(site, JOB_B)
    site.live.write_bytes(b"{broken")  # names no version: the last one calpolicy made live decides
    notes.clear()
    outcome = back(site, say=notes.append)
    assert notes[0].startswith("note: the live config is not one calpolicy can read (")
    assert notes[0].endswith("); it is replaced, not parsed")
    assert notes[1:] == [f"note: using the rollback target of {JOB_B}, the last version calpolicy made live"]
    assert outcome.to_version == EXISTING_VERSION
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()


def test_rollback_of_an_unparsable_file_with_nothing_made_live_names_the_archive(site: Site) -> None:
    site.live.write_bytes(b"{broken")
    with pytest.raises(DeployError) as raised:
        back(site)
    version = f"unparsable_{sha(b'{broken')[:12]}"
    assert str(raised.value) == (
        f"no rollback target is recorded for the live version {version}; name one: "
        "calpolicy rollback VERSION|none (archived: none)"
    )
    archive = site.paths.archive_dir
    archive.mkdir()
    doc = json.loads(EXISTING_TOOL_FILE.read_bytes())
    for version_name in ("cal_20260102_000000", "cal_20260101_000000"):
        (archive / f"calibration_{version_name}.json").write_text(json.dumps({**doc, "version": version_name}))
    (archive / "calibration_again.json").write_text(json.dumps({**doc, "version": "cal_20260101_000000"}))
    with pytest.raises(DeployError, match=re.escape("(archived: cal_20260101_000000, cal_20260102_000000)")):
        back(site)


def test_a_rollback_to_what_is_live_does_nothing(site: Site) -> None:
    approve(site, JOB_A)
    back(site)
    with pytest.raises(NothingToDo) as raised:
        back(site, EXISTING_VERSION)
    assert str(raised.value) == (
        f"version {EXISTING_VERSION} (calibration_{EXISTING_VERSION}.json) is live already; nothing to do"
    )
    assert len(begins(site)) == 2
    site.live.unlink()
    with pytest.raises(NothingToDo) as raised:
        back(site, "none")
    assert str(raised.value) == "no calibration is live already; nothing to do"
    os.mkfifo(site.live)  # something unreadable is there: rollback none removes it
    assert back(site, "none").from_version == UNREADABLE
    assert not site.live.exists()


def test_a_recorded_archive_copy_that_was_edited_is_refused_naming_both_digests(site: Site) -> None:
    approve(site, JOB_A)
    archived = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}.json"
    recorded = sha(archived.read_bytes())
    edited = archived.read_bytes().replace(b'"enabled": true', b'"enabled": false ')
    assert edited != archived.read_bytes()
    archived.write_bytes(edited)
    before = site.live_bytes()
    with pytest.raises(DeployError) as raised:
        back(site)
    assert str(raised.value) == (
        f"the archived copy {archived} of {EXISTING_VERSION} was changed after archiving (sha256 "
        f"{sha(edited)[:12]}… ≠ recorded {recorded[:12]}…); refusing to restore it; the live config was not changed"
    )
    assert site.live_bytes() == before


def test_a_recorded_copy_that_is_gone_is_found_in_the_archives_index(site: Site) -> None:
    approve(site, JOB_A)
    archive = site.paths.archive_dir
    original = archive / f"calibration_{EXISTING_VERSION}.json"
    data = original.read_bytes()
    original.unlink()
    (archive / f"{EXISTING_VERSION}_deployed.json").write_bytes(data)  # the existing tool's name for it
    outcome = back(site)
    assert outcome.to_version == EXISTING_VERSION
    assert site.live_bytes() == data
    assert begins(site)[-1]["note"] == f"requested: previous; restored {EXISTING_VERSION}_deployed.json"


def test_an_archived_file_the_history_recorded_otherwise_is_refused(site: Site) -> None:
    """The copy is found through the archive's index (not by the recorded version), but its name is one the
    history recorded with another digest: edited after archiving."""
    approve(site, JOB_A)
    archive = site.paths.archive_dir
    archived = archive / f"calibration_{EXISTING_VERSION}.json"
    doc = json.loads(archived.read_bytes())
    archived.write_text(json.dumps({**doc, "version": "cal_20250101_000000"}))  # valid, but not what was kept
    before = site.live_bytes()
    with pytest.raises(DeployError) as raised:
        back(site, "cal_20250101_000000")
    assert str(raised.value) == (
        f"the archived copy {archived} was changed after archiving (its sha256 is not the one the history "
        "recorded); refusing to restore it; the live config was not changed"
    )
    assert site.live_bytes() == before


def test_the_newest_recorded_copy_of_a_version_is_the_one_restored(site: Site) -> None:
    """The same version archived twice under two names (its bytes differ): the later record wins."""
    old = site.live_bytes() or b""
    approve(site, JOB_A)
    back(site)  # the existing tool's file is live again
    changed = old.replace(b"\n", b"\n ", 1)  # same config, other bytes
    assert changed != old
    site.live.write_bytes(changed)
    approve(site, JOB_B)  # archives the changed bytes under a digest-suffixed name
    names = [Path(b["archived"]).name for b in begins(site) if b["from"] == EXISTING_VERSION]
    assert names[0] != names[-1]
    outcome = back(site)
    assert outcome.to_version == EXISTING_VERSION
    assert site.live_bytes() == changed
    assert begins(site)[-1]["note"] == f"requested: previous; restored {names[-1]}"


def test_a_version_named_like_a_job_of_no_folder_is_restored_from_the_archive(site: Site) -> None:
    archive = site.paths.archive_dir
    archive.mkdir()
    other = "cal_20250101_000000"
    doc = {**json.loads(EXISTING_TOOL_FILE.read_bytes()), "version": other}
    (archive / f"calibration_{other}.json").write_text(json.dumps(doc))
    outcome = back(site, other)
    assert outcome.to_version == other
    assert json.loads(site.live_bytes() or b"")["version"] == other


def test_a_rollback_whose_job_record_cannot_be_updated_says_so(site: Site) -> None:
    approve(site, JOB_A)
    manifest = site.jobs / JOB_A / "manifest.json"
    manifest.write_text("[1]")  # the job's record is broken; the rollback itself must still happen
    notes: list[str] = []
    outcome = back(site, say=notes.append)
    assert outcome.to_version == EXISTING_VERSION
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()
    assert len(notes) == 1
    assert notes[0].startswith(f"note: the rollback is done, but job {JOB_A}'s record could not be updated: ")


def test_rollback_names_the_weights_of_the_state_it_restores(tmp_path: Path, proposal_json: str) -> None:
    site = make_site(tmp_path)
    site.add_job(JOB_A, proposal_json)
    approve(site, JOB_A)
    outcome = back(site, "none")
    assert outcome.lines[1] == (
        "note: the AI engine's ensemble weights would change: now xgb 0.3, lgbm 0.3, nhits 0.2, patchtst 0.2 "
        "(the loader's fixed fallback, used once any file is loaded without an override); with the new file the "
        "engine's own baseline weights (its ModelSupervisor's dynamic weights, or its defaults): no "
        "calibration.json: the weights of the restored state"
    )
    assert len(back(site, EXISTING_VERSION).lines) == 2  # and back again: the fallback weights return
    approve_b = make_site(tmp_path / "b")
    approve_b.add_job(JOB_A, proposal_json)
    approve(approve_b, JOB_A)
    assert len(back(approve_b).lines) == 1  # fallback before and after: no note


def test_a_rollback_target_is_recorded_only_when_it_names_something(site: Site) -> None:
    approve(site, JOB_A)
    back(site, "none")
    # a rollback to a version whose own target is recorded carries it; none carries nothing
    restored = back(site, EXISTING_VERSION)
    assert restored.rollback_target is None
    assert begins(site)[-1]["then_previous"] is None


# ============================================================================== the engine's answer, recorded


def test_the_engines_answer_is_recorded_under_the_commands_entry(site: Site) -> None:
    """No engine unit can be seen here: the answer is 'could not check', recorded under the approve's id."""
    outcome = approve_job(site.config, JOB_A, "alice", allow_restart=True, say=quiet)
    assert outcome.confirmation is not None
    assert outcome.confirmation.version == JOB_A
    assert outcome.confirmation.could_not_check is True
    assert outcome.acknowledged is False
    assert outcome.lines[1:] == outcome.confirmation.lines
    acks = [e for e in history(site) if e.get("phase") == "ack"]
    assert len(acks) == 1
    assert acks[0]["id"] == outcome.entry_id == begins(site)[-1]["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", acks[0]["at"]), acks[0]["at"]
    assert acks[0]["acknowledged"] is False
    assert acks[0]["reason"]


def test_an_answer_that_cannot_be_recorded_is_said_not_lost(site: Site) -> None:
    """The history turns into a FIFO between the swap and the engine's answer: the answer is still shown, with
    a note that it could not be recorded (the command's ``say`` is the moment in between)."""
    approve(site, JOB_A)
    manifest = site.manifest(JOB_A)
    manifest["state"] = "approved"  # an approve killed after its swap: the resumed one records, then waits
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))
    kept = site.root / "history.kept"

    def say(line: str) -> None:
        if line.startswith("version "):  # after the history was read, before the answer is recorded
            site.paths.history.rename(kept)
            os.mkfifo(site.paths.history)

    outcome = approve_job(site.config, JOB_A, "alice", say=say)
    assert (
        f"note: could not record the ack in {site.paths.history}: {site.paths.history}: is a FIFO (named pipe), "
        "not a regular file; refusing to write to it"
    ) in outcome.lines
    assert any(line.startswith("NOT CONFIRMED: cannot see the AI engine unit") for line in outcome.lines)


def test_only_begin_lines_with_an_archive_and_a_digest_are_archive_records(site: Site) -> None:
    """Odd history lines (hand-edited, or from another tool) neither crash rollback nor block a restore."""
    approve(site, JOB_A)
    archived = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}.json"
    odd = [
        {"phase": "begin", "id": "x1", "from": EXISTING_VERSION, "to": "y", "archived": None, "from_sha256": "ab"},
        {"phase": "note", "id": "x2", "from": EXISTING_VERSION, "archived": str(archived), "from_sha256": "0" * 64},
        {"phase": "begin", "id": "x3", "from": EXISTING_VERSION, "archived": str(archived), "from_sha256": None},
    ]
    with site.paths.history.open("a") as handle:
        handle.write("".join(json.dumps(line) + "\n" for line in odd))
    outcome = back(site, EXISTING_VERSION)
    assert outcome.to_version == EXISTING_VERSION
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()


# ============================================================================== what the lock and the records say


def test_the_lock_names_the_command_while_it_runs(site: Site) -> None:
    from calpolicy.apply.lock import read_holder

    seen: list[dict[str, Any] | None] = []

    def say(_: str) -> None:
        seen.append(read_holder(site.paths.folder))

    (site.paths.folder / LOCK_NAME).write_text(json.dumps({"who": "x", "pid": dead_pid()}))
    approve(site, JOB_A, say=say)
    site.live.write_bytes(REFUSED)  # rollback says so while it holds the lock
    back(site, say=say)
    commands = [(h or {}).get("command") for h in seen]
    assert commands == [f"calpolicy approve {JOB_A}", "calpolicy rollback previous", "calpolicy rollback previous"]
    assert [(h or {}).get("who") for h in seen] == ["alice", "bob", "bob"]
    assert all((h or {}).get("pid") == os.getpid() for h in seen)


def test_an_apply_whose_job_record_cannot_be_finished_says_it_is_live(site: Site) -> None:
    approve(site, JOB_A)
    manifest = site.manifest(JOB_A)
    manifest["state"] = "approved"
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))
    decisions = site.jobs / ".decisions.jsonl"

    def say(line: str) -> None:
        if line.startswith("version "):  # after the job was read, before its record is finished
            decisions.unlink()
            os.mkfifo(decisions)

    with pytest.raises(DeployError) as raised:
        approve(site, JOB_A, say=say)
    assert str(raised.value) == (
        f"version {JOB_A} IS LIVE, but job {JOB_A}'s manifest could not be marked applied: cannot read the "
        f"decisions log {decisions}: {decisions}: is a FIFO (named pipe), not a regular file; fix the cause and "
        "rerun approve, which finishes the record without rewriting the config"
    )


def test_an_unreadable_history_stops_rollback_naming_it(site: Site) -> None:
    site.paths.archive_dir.mkdir()
    os.mkfifo(site.paths.history)
    with pytest.raises(DeployError) as raised:
        back(site, "none")
    assert str(raised.value) == (
        f"cannot read the apply history: {site.paths.history}: is a FIFO (named pipe), not a regular file; "
        "the live config unchanged"
    )
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()


def test_a_config_calpolicy_refuses_is_restored_byte_for_byte_because_it_was_live(site: Site) -> None:
    site.live.write_bytes(REFUSED)  # the engine ran with it; calpolicy's parser refuses it
    approve(site, JOB_A)
    outcome = back(site)
    assert outcome.to_version == EXISTING_VERSION
    assert site.live_bytes() == REFUSED


def test_a_recorded_copy_replaced_by_a_symlink_is_never_followed(site: Site, tmp_path: Path) -> None:
    approve(site, JOB_A)
    archived = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}.json"
    copy = tmp_path / "elsewhere.json"
    copy.write_bytes(archived.read_bytes())
    archived.unlink()
    archived.symlink_to(copy)
    before = site.live_bytes()
    with pytest.raises(DeployError) as raised:
        back(site)
    assert str(raised.value) == (
        f"cannot read the archived config: {archived}: is a symbolic link; refusing to follow it; "
        "the live config unchanged"
    )
    assert site.live_bytes() == before


@pytest.mark.parametrize("block", [[1], {"job_id": 5}, "cal_20261101_120000"])
def test_a_live_file_whose_calpolicy_block_is_odd_names_no_job(site: Site, block: Any) -> None:
    doc = json.loads(EXISTING_TOOL_FILE.read_bytes())
    site.live.write_text(json.dumps({**doc, "calpolicy": block}))
    back(site, "none")
    assert begins(site)[-1]["job_id"] is None


def test_an_archive_folder_is_created_with_its_missing_parents(site: Site, tmp_path: Path) -> None:
    deep = tmp_path / "var" / "lib" / "archive"
    paths = LivePaths(site.live, deep)
    outcome = swap(paths, None, event="rollback", to_version="none", then_previous=None, by="bob")
    assert outcome.archived == deep / f"calibration_{EXISTING_VERSION}.json"
    assert outcome.archived.read_bytes() == EXISTING_TOOL_FILE.read_bytes()


def test_a_live_job_version_without_its_history_is_recorded_with_what_is_known(site: Site, proposal_json: str) -> None:
    """The job's config is live but this history holds no begin line for it (the history was lost or the file
    was put there by hand; other commands' lines are there): approve records it, claims no archive copy and
    no rollback target, and writes nothing."""
    approve(site, JOB_B)
    back(site)
    weights = json.loads(EXISTING_TOOL_FILE.read_bytes())["ensemble_weights"]["weights"]
    data = serialize(build_calibration(Proposal.from_json(proposal_json), {}, JOB_A, "alice", "T", None, weights))
    swap(LivePaths(site.live, site.root / "elsewhere"), data, event="approve", to_version=JOB_A, then_previous=None,
         by="hand")  # fmt: skip
    JobStore(site.jobs, site.paths.history).transition(JOB_A, "approved", "alice")
    notes: list[str] = []
    outcome = approve(site, JOB_A, say=notes.append)
    assert notes == [
        f"note: job {JOB_A} was approved by an earlier, interrupted command; resuming it",
        f"version {JOB_A} was made live before the interruption; recording it",
    ]
    assert (outcome.from_version, outcome.to_version, outcome.archived, outcome.rollback_target, outcome.entry_id) == (
        "?", JOB_A, None, None, None
    )  # fmt: skip
    assert site.live_bytes() == data
    assert len(begins(site)) == 2  # JOB_B's approve and its rollback: nothing new
    assert outcome.lines == [
        f"approve: {site.live} now holds {JOB_A} (was ?); `calpolicy rollback` would return to nothing recorded "
        "(name a version, or none)"
    ]


def test_a_history_that_turns_unreadable_while_resuming_is_no_crash(site: Site) -> None:
    """The history is replaced by a FIFO after approve read the job's state, before it looks up the swap it
    resumes: the record is finished with what is known ('?'), never a traceback."""
    first = approve(site, JOB_A)
    lines = site.paths.history.read_bytes().splitlines(keepends=True)
    site.paths.history.write_bytes(b"".join(line for line in lines if b'"done"' not in line))
    decisions = site.jobs / ".decisions.jsonl"
    decisions.write_bytes(b"".join(decisions.read_bytes().splitlines(keepends=True)[:-1]))
    manifest = site.manifest(JOB_A)
    manifest["state"] = "approved"
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))

    def say(line: str) -> None:
        if "resuming it" in line:
            site.paths.history.unlink()
            os.mkfifo(site.paths.history)

    outcome = approve(site, JOB_A, say=say)
    assert (outcome.from_version, outcome.to_version, outcome.archived, outcome.entry_id) == ("?", JOB_A, None, None)
    assert first.entry_id is not None
    assert site.manifest(JOB_A)["state"] == "applied"


def test_rollback_by_default_is_the_operators_and_waits_for_the_engine(site: Site) -> None:
    outcome = rollback(site.config, "none", say=quiet)
    assert begins(site)[-1]["by"] == "operator"
    assert outcome.confirmation is not None  # it asked the engine (none can be seen here)
    assert outcome.confirmation.could_not_check is True


def test_a_bad_version_is_refused_before_anything_is_locked(site: Site) -> None:
    with pytest.raises(DeployError) as raised:
        back(site, "../etc/passwd")
    assert str(raised.value) == (
        "invalid version '../etc/passwd': use letters, digits, '_', '-' and '.', no '/' or '..' "
        "(e.g. cal_20260220_143022), or 'none'"
    )
    assert not (site.paths.folder / LOCK_NAME).exists()


def test_a_job_left_by_a_rollback_stays_left_even_if_its_own_record_missed_it(site: Site) -> None:
    """A rollback killed before the job's record said rolled_back: the apply history still says it."""
    approve(site, JOB_A)
    back(site)
    decisions = site.jobs / ".decisions.jsonl"
    decisions.write_bytes(b"".join(decisions.read_bytes().splitlines(keepends=True)[:-1]))
    manifest = site.manifest(JOB_A)
    manifest["state"] = "applied"
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))
    assert JobStore(site.jobs).state(JOB_A) == "applied"  # the job's own records alone would allow it
    with pytest.raises(DeployError) as raised:
        back(site, JOB_A)
    assert str(raised.value) == (
        f"version {JOB_A} is job {JOB_A}'s, which was rolled back; it goes live again only through a new job and "
        "`calpolicy approve` (fresh preflight, on-call); the live config was not changed"
    )
    assert site.live_bytes() == EXISTING_TOOL_FILE.read_bytes()


def test_approve_reads_the_jobs_state_from_the_apply_history(site: Site) -> None:
    """Applied per the apply history, though the decisions log lacks the apply and the manifest was edited
    back to proposed: approve refuses, it never applies the job again."""
    approve(site, JOB_A)
    decisions = site.jobs / ".decisions.jsonl"
    decisions.write_bytes(b"".join(decisions.read_bytes().splitlines(keepends=True)[:-1]))
    manifest = site.manifest(JOB_A)
    manifest["state"] = "proposed"
    (site.jobs / JOB_A / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DeployError) as raised:
        approve(site, JOB_A)
    assert str(raised.value) == f"job {JOB_A} is applied; only a proposed job can be approved"


def test_approve_keeps_the_live_files_own_ensemble_weights(tmp_path: Path, proposal_json: str) -> None:
    """The new config carries the (disabled) weights the live file holds, here not the defaults: a calibration
    writes the ensemble block as it found it, never the fallback values in their place."""
    site = make_site(tmp_path)
    document = json.loads(site.live_bytes() or b"")
    own = {"xgb": 0.4, "lgbm": 0.2, "nhits": 0.25, "patchtst": 0.15}
    document["ensemble_weights"] = {**document["ensemble_weights"], "enabled": False, "weights": own}
    site.live.write_bytes(serialize(document))
    site.add_job(JOB_A, proposal_json)
    approve(site, JOB_A)
    applied = json.loads(site.live_bytes() or b"")
    assert applied["version"] == JOB_A
    assert applied["ensemble_weights"]["weights"] == own
    assert applied["ensemble_weights"]["enabled"] is False
