"""What goes live is exactly what was verified and judged; no file read can hang, crash or mislead (issue 21).

Every case runs on real parts: real files, FIFOs, symlinks (also to /dev/zero), a real child process that
replaces the proposal during approve's preflight, real Ed25519 signatures, the real CLI in a child process
where exit codes and tracebacks matter. A read that would block runs in a thread with a deadline, so a
regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calpolicy.apply.deploy import DeployError, LivePaths, approve_job, read_live, rollback, swap
from calpolicy.cli import main
from calpolicy.files.safe_read import UnsafeFileError, read_bytes
from calpolicy.jobs import JobError, JobStore, read_decisions, read_job_files
from calpolicy.jobs import history as apply_history
from calpolicy.preflight import PreflightRun
from calpolicy.review.approval import approval_preconditions, results_problems
from calpolicy.review.signing import verify_job
from unit_tests.conftest import run_cli
from unit_tests.deploy.site import EXISTING_VERSION, Site, go_preflight, make_site, sign, site_with_one_job
from unit_tests.deploy.site import write_toml as site_toml

JOB = "cal_20261101_120000"
UNTIL = "2099-01-01T00:00:00+00:00"
ENGINE_ONLY = b'{"version": "cal_20260206_060303", "ensemble_weights": {"enabled": false}}\n'


def quiet(_: str) -> None:
    pass


def no_hang(function: Callable[[], Any], seconds: float = 20.0) -> Any:
    """Run ``function`` in a thread; a call still running after ``seconds`` fails the test (a hang)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function()
        except BaseException as error:  # handed back to the test
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function} blocked for {seconds} s: a read waited on a FIFO or a device"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    return site_with_one_job(tmp_path, proposal_json, JOB)


write_toml = site_toml


def inverted(proposal_json: str) -> str:
    raw = json.loads(proposal_json)
    for model in raw["models"].values():
        model["y"] = [1.0 - y for y in model["y"]]
    return json.dumps(raw, sort_keys=True, indent=1) + "\n"


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


# ============================================================================== §4 one bounded read


def test_safe_read_refuses_fifos_links_devices_folders_and_huge_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match=r"fifo\.json: is a FIFO \(named pipe\), not a regular file"):
        no_hang(lambda: read_bytes(fifo, "calibration"))
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="is a symbolic link; refusing to follow it"):
        no_hang(lambda: read_bytes(zero, "calibration"))
    with pytest.raises(UnsafeFileError, match="is a device, not a regular file"):
        no_hang(lambda: read_bytes("/dev/zero", "calibration"))
    with pytest.raises(UnsafeFileError, match="is a folder, not a regular file"):
        read_bytes(tmp_path, "calibration")
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(64 * 1024 + 1)
    with pytest.raises(UnsafeFileError, match="more than the 65536 allowed for a lock file"):
        read_bytes(big, "lock")
    with pytest.raises(FileNotFoundError):
        read_bytes(tmp_path / "absent", "lock")


# (The engine-only file {"version": …, "ensemble_weights": …} is not hostile: the loader reads it as "calibration
# disabled", as the engine does; test_an_engine_only_live_file_is_restored_byte_for_byte covers it.)
@pytest.mark.parametrize("hostile", ["fifo", "devzero", "deep", "bigint", "list"])
def test_the_emergency_exit_works_with_a_hostile_live_file(site: Site, hostile: str) -> None:
    """rollback none, rollback, status and watch: clear answers, no traceback, no hang."""
    config = site.config
    approve_job(config, JOB, "alice", wait=False, say=quiet)  # a rollback target is recorded
    live = site.live
    live.unlink()
    if hostile == "fifo":
        os.mkfifo(live)
    elif hostile == "devzero":
        live.symlink_to("/dev/zero")
    elif hostile == "deep":
        live.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    elif hostile == "bigint":
        live.write_bytes(b'{"version": ' + b"9" * 5000 + b"}")
    else:
        live.write_bytes(b"[1, 2]")
    toml = write_toml(site)
    status = no_hang(lambda: run_cli("--config", str(toml), "status"))
    no_traceback(status)
    assert status.returncode == 0
    watch = no_hang(lambda: run_cli("--config", str(toml), "watch"))
    no_traceback(watch)
    assert watch.returncode != 0  # nothing approved is readable: never "OK"
    back = no_hang(lambda: run_cli("--config", str(toml), "rollback", "--by", "bob"))
    no_traceback(back)
    assert back.returncode in (0, 1), back.stdout + back.stderr  # 1: restored, no loader acknowledged it
    assert "ROLLED BACK" in back.stdout, back.stdout + back.stderr
    assert json.loads(site.live.read_bytes())["version"] == EXISTING_VERSION
    # and `rollback none` from a hostile file
    site.live.unlink()
    os.mkfifo(site.live)
    none = no_hang(lambda: run_cli("--config", str(toml), "rollback", "none", "--by", "bob"))
    no_traceback(none)
    assert "version none" in none.stdout, none.stdout + none.stderr
    assert not site.live.exists()
    assert not site.live.is_symlink()


def test_approve_refuses_to_replace_a_live_file_it_cannot_archive(site: Site) -> None:
    site.live.unlink()
    os.mkfifo(site.live)
    with pytest.raises(DeployError, match=r"is a FIFO .* approve does not replace what it cannot archive"):
        no_hang(lambda: approve_job(site.config, JOB, "alice", wait=False, say=quiet))
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "proposed"


def test_a_fifo_in_the_archive_or_as_statement_sig_never_blocks(site: Site) -> None:
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    archived = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}.json"
    archived.unlink()
    os.mkfifo(archived)
    os.mkfifo(site.paths.archive_dir / "other.json")
    with pytest.raises(DeployError, match=r"calibration_cal_20260206_060303\.json: is a FIFO \(named pipe\)"):
        no_hang(lambda: rollback(site.config, by="bob", wait=False, say=quiet))
    with pytest.raises(DeployError, match="no archived config for version cal_20250101_000000"):
        no_hang(lambda: rollback(site.config, "cal_20250101_000000", by="bob", wait=False, say=quiet))
    sig = site.jobs / JOB / "statement.sig"
    os.mkfifo(sig)
    result = no_hang(lambda: verify_job(site.jobs / JOB, site.root, clm_path=None))
    assert not result.ok
    assert result.problems[0].startswith("statement.sig is a FIFO")


@pytest.mark.parametrize("name", [".calpolicy.lock", "history"])
def test_lock_and_history_symlinks_are_never_written_through(site: Site, name: str) -> None:
    victim = site.root / "victim.txt"
    victim.write_bytes(b"precious\n")
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    link = site.paths.folder / ".calpolicy.lock" if name != "history" else site.paths.history
    link.unlink()
    link.symlink_to(victim)
    before = site.live_bytes()
    with pytest.raises(DeployError, match="symbolic link"):
        rollback(site.config, by="root", wait=False, say=quiet)
    assert victim.read_bytes() == b"precious\n"
    assert site.live_bytes() == before


@pytest.mark.parametrize("name", [".calpolicy.lock", "history"])
def test_a_fifo_as_lock_or_history_is_refused_at_once(site: Site, name: str) -> None:
    site.paths.archive_dir.mkdir()
    fifo = site.paths.folder / ".calpolicy.lock" if name != "history" else site.paths.history
    os.mkfifo(fifo)
    before = site.live_bytes()
    with pytest.raises(DeployError, match=r"FIFO"):
        no_hang(lambda: approve_job(site.config, JOB, "alice", wait=False, say=quiet))
    with pytest.raises(DeployError, match=r"FIFO"):
        no_hang(lambda: rollback(site.config, "none", "bob", wait=False, say=quiet))
    assert site.live_bytes() == before


@pytest.mark.parametrize("pid", ['"abc"', str(10**30), "-5", "1.5", "[1]", "true"])
def test_a_lock_holder_pid_that_is_not_a_pid_is_a_stale_holder(site: Site, pid: str) -> None:
    lock = site.paths.folder / ".calpolicy.lock"
    lock.write_text('{"who": "mallory", "pid": ' + pid + "}")
    notes: list[str] = []
    outcome = approve_job(site.config, JOB, "alice", wait=False, say=notes.append)
    assert outcome.to_version == JOB
    toml = write_toml(site)
    lock.write_text('{"who": "mallory", "pid": ' + pid + "}")
    done = run_cli("--config", str(toml), "rollback", "--by", "bob")
    no_traceback(done)
    assert "ROLLED BACK" in done.stdout


def test_an_archive_path_that_is_a_file_is_a_clear_stop(site: Site) -> None:
    site.paths.archive_dir.write_text("not a folder")
    with pytest.raises(DeployError, match=r"a part of its path is not a folder"):
        approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    assert JobStore(site.jobs).state(JOB) == "proposed"
    toml = write_toml(site)
    for args in (("rollback", "--by", "bob"), ("rollback", EXISTING_VERSION), ("history",)):
        done = run_cli("--config", str(toml), *args)
        no_traceback(done)
        assert done.returncode in (1, 3), done.stdout + done.stderr


def test_history_with_odd_fields_and_a_marker_that_is_a_list(site: Site) -> None:
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    with site.paths.history.open("a") as handle:
        handle.write(json.dumps({"phase": "begin", "id": "x", "at": 12345, "event": 7, "from": [1], "to": None}) + "\n")
    site.paths.marker.write_text("[1, 2, 3]")
    toml = write_toml(site)
    history = run_cli("--config", str(toml), "history")
    no_traceback(history)
    assert history.returncode == 0
    assert "12345" in history.stdout
    status = run_cli("--config", str(toml), "status")
    no_traceback(status)
    assert status.returncode == 0
    assert f"applied calibration: {JOB}" in status.stdout


def test_first_apply_on_a_fresh_host(tmp_path: Path, proposal_json: str) -> None:
    """No live file and no archive folder. With no file the engine uses its own baseline weights and with
    any file the loader's fixed fallback (issue 20 point 8), so approve is a clean STOP naming both — the job
    stays proposed, nothing is written or archived. With the engine's file there (and still no archive
    folder), the first apply works and rolls back byte for byte."""
    site = make_site(tmp_path, existing=False)
    site.add_job(JOB, proposal_json)
    assert not site.paths.archive_dir.exists()
    with pytest.raises(DeployError, match=r"ensemble weights would change: now the engine's own baseline"):
        approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    assert not site.live.exists()
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "proposed"
    site.live.parent.mkdir(parents=True, exist_ok=True)
    site.live.write_bytes(ENGINE_ONLY)
    assert not site.paths.archive_dir.exists()
    outcome = approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    assert outcome.from_version == EXISTING_VERSION
    assert json.loads(site.live.read_bytes())["version"] == JOB
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "applied"
    assert rollback(site.config, by="bob", wait=False, say=quiet).to_version == EXISTING_VERSION
    assert site.live.read_bytes() == ENGINE_ONLY


def test_an_engine_only_live_file_is_restored_byte_for_byte_and_only_unedited(site: Site) -> None:
    site.live.write_bytes(ENGINE_ONLY)  # the real engine's loader accepts it; calpolicy's parser does not
    outcome = approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    assert outcome.rollback_target == EXISTING_VERSION
    begin = [e for e in apply_history.read(site.paths.history) if e.get("phase") == "begin"][-1]
    assert Path(begin["archived"]).read_bytes() == ENGINE_ONLY
    assert begin["from_sha256"] == hashlib.sha256(ENGINE_ONLY).hexdigest()
    back = rollback(site.config, by="bob", wait=False, say=quiet)
    assert back.to_version == EXISTING_VERSION
    assert site.live.read_bytes() == ENGINE_ONLY
    # approve a second job over it, then edit the archived copy: rollback refuses it
    second = "cal_20261101_130000"
    site.add_job(second, site.jobs.joinpath(JOB, "proposal.json").read_text())
    approve_job(site.config, second, "alice", wait=False, say=quiet)
    archived = Path([e for e in apply_history.read(site.paths.history) if e.get("phase") == "begin"][-1]["archived"])
    archived.write_bytes(ENGINE_ONLY.replace(b"false", b"true "))
    before = site.live_bytes()
    with pytest.raises(DeployError, match=r"was changed after archiving .* refusing to restore it"):
        rollback(site.config, by="bob", wait=False, say=quiet)
    assert site.live_bytes() == before


# ============================================================================== §2 apply what was verified


def _replace_in_child(target: Path, data: str) -> None:
    code = "import os, sys; p = sys.argv[1]; open(p + '.x', 'w').write(sys.argv[2]); os.replace(p + '.x', p)"
    subprocess.run([sys.executable, "-c", code, str(target), data], check=True, timeout=60)


def test_a_proposal_replaced_during_the_preflight_is_not_applied(
    site: Site, proposal_json: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sign(site, JOB)
    toml = write_toml(site, config)
    target = site.jobs / JOB / "proposal.json"
    replaced: list[bool] = []

    def preflight_that_races(**_: Any) -> PreflightRun:
        # a real other process swaps every map for its inverse while the fresh preflight runs
        _replace_in_child(target, inverted(proposal_json))
        replaced.append(True)
        return go_preflight()

    monkeypatch.setattr("calpolicy.preflight.run_preflight", preflight_that_races)
    args = ["approve", JOB, "--approver", "alice", "--reviewed", "--on-call-until", UNTIL, "--yes"]
    code = main(["--config", str(toml), *args])
    out = capsys.readouterr().out
    assert replaced == [True]
    assert target.read_text() != proposal_json  # the folder now holds the inverted maps
    from calpolicy.calibrate import Proposal

    expected = Proposal.from_json(proposal_json).engine_mapping()
    live = json.loads(site.live.read_bytes())
    assert live["confidence_calibration"]["mapping"] == expected, out
    assert live["calpolicy"]["proposal_sha256"] == hashlib.sha256(proposal_json.encode()).hexdigest()
    assert code in (0, 1)  # 1: applied, but no loader acknowledged it in this test


@pytest.mark.parametrize("bad", ["above_one", "not_monotone"])
def test_a_map_that_breaks_the_invariants_is_a_clear_stop_and_the_job_stays_proposed(
    site: Site, proposal_json: str, bad: str
) -> None:
    raw = json.loads(proposal_json)
    model = raw["models"]["ensemble"]
    if bad == "above_one":
        model["y"] = [min(1.0, y) for y in model["y"]]
        model["y"][-1] = 1.5
    else:
        model["y"] = list(reversed(model["y"]))
    (site.jobs / JOB / "proposal.json").write_text(json.dumps(raw, sort_keys=True, indent=1) + "\n")
    config = sign(site, JOB)
    problems = approval_preconditions(site.jobs / JOB, config, preflight=go_preflight)
    assert any("ensemble map" in p for p in problems), problems
    before = site.live_bytes()
    with pytest.raises(DeployError, match="proposal fails its checks; nothing was applied or recorded"):
        approve_job(config, JOB, "alice", wait=False, say=quiet)
    assert site.live_bytes() == before
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "proposed"
    assert site.manifest(JOB)["state"] == "proposed"


@pytest.mark.parametrize("outcome", ["error", "skipped", "could-not-check", None])
def test_any_policy_outcome_but_pass_blocks_approve(site: Site, outcome: str | None) -> None:
    rows = [{"nodeid": "t::ok", "outcome": "pass"}, {"nodeid": "t::bounds", "outcome": outcome}]
    (site.jobs / JOB / "policy_results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = results_problems(site.jobs / JOB)
    assert problems == [f"policy test t::bounds did not pass ({outcome})"]


def test_swap_never_writes_a_config_the_loader_would_refuse(site: Site) -> None:
    before = site.live_bytes()
    bad = json.dumps({"version": "x", "confidence_calibration": {"enabled": True, "mapping": {"0.0": 2.0}}}).encode()
    for data in (bad, b"{not json", b"[" * 100_000):
        with pytest.raises(DeployError, match="the new config is not valid, the live config was not changed"):
            swap(site.paths, data, event="approve", to_version="x", then_previous=None, by="t")
    assert site.live_bytes() == before
    assert apply_history.read(site.paths.history) == []


@pytest.mark.parametrize("start", ["aborted", "applied"])
def test_a_state_edited_back_to_proposed_does_not_approve(site: Site, start: str) -> None:
    config = sign(site, JOB)
    store = JobStore(site.jobs, site.paths.history)
    if start == "aborted":
        store.transition(JOB, "aborted", "bob", note="wrong data")
    else:
        approve_job(config, JOB, "alice", wait=False, say=quiet)
    manifest = site.manifest(JOB)
    manifest["state"] = "proposed"
    manifest["history"] = manifest["history"][:1]
    manifest["approval"] = manifest["applied_version"] = None
    (site.jobs / JOB / "manifest.json").write_text(json.dumps(manifest, indent=1))
    assert store.state(JOB) == start
    problems = approval_preconditions(site.jobs / JOB, config, preflight=go_preflight)
    assert f"job {JOB} is '{start}'; only a proposed job can be approved" in problems
    with pytest.raises(DeployError, match=f"job {JOB} is {start}; only a proposed job can be approved"):
        approve_job(config, JOB, "alice", wait=False, say=quiet)


def test_an_edited_decisions_log_is_noticed(site: Site) -> None:
    store = JobStore(site.jobs, site.paths.history)
    store.transition(JOB, "aborted", "bob")
    log = site.jobs / ".decisions.jsonl"
    log.write_text(log.read_text().replace('"aborted"', '"approved"'))
    with pytest.raises(JobError, match=r"decisions log .* was altered at line 1"):
        store.state(JOB)
    with pytest.raises(DeployError, match="was altered at line 1"):
        approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    toml = write_toml(site)
    status = run_cli("--config", str(toml), "status")
    no_traceback(status)
    assert status.returncode == 0
    assert "was altered at line 1" in status.stdout
    assert f"applied calibration: {EXISTING_VERSION}" in status.stdout
    listed = run_cli("--config", str(toml), "jobs")
    no_traceback(listed)
    assert listed.returncode == 3
    assert "was altered at line 1" in listed.stdout


def test_rolled_back_stays_rolled_back_in_every_view(site: Site) -> None:
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    rollback(site.config, by="bob", wait=False, say=quiet)
    with pytest.raises(DeployError, match=f"version {JOB} is job {JOB}'s, which was rolled back"):
        rollback(site.config, JOB, "bob", wait=False, say=quiet)
    toml = write_toml(site)
    jobs = json.loads(run_cli("--config", str(toml), "jobs", "--json").stdout)["jobs"]
    status = json.loads(run_cli("--config", str(toml), "status", "--json").stdout)
    history = json.loads(run_cli("--config", str(toml), "history", "--json").stdout)
    assert jobs[0]["state"] == "rolled_back" == status["latest_job"]["state"]
    assert status["applied"]["version"] == EXISTING_VERSION == history["live"]
    # a manifest edited back to "applied" changes no view: the apply history says it was left
    manifest = site.manifest(JOB)
    manifest["state"] = "applied"
    (site.jobs / JOB / "manifest.json").write_text(json.dumps(manifest))
    assert json.loads(run_cli("--config", str(toml), "jobs", "--json").stdout)["jobs"][0]["state"] == "rolled_back"


# ============================================================================== §3 verify after the decision


def test_an_applied_then_rolled_back_job_still_verifies(site: Site) -> None:
    config = sign(site, JOB)
    approve_job(config, JOB, "alice", wait=False, say=quiet)
    rollback(config, by="bob", wait=False, say=quiet)
    assert site.manifest(JOB)["rolled_back_to"] == EXISTING_VERSION
    result = verify_job(site.jobs / JOB, config.signing.trusted_keys_dir)
    assert result.ok, result.problems


def test_job_files_are_read_once_without_following_links(site: Site, tmp_path: Path) -> None:
    folder = site.jobs / JOB
    (folder / "link").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe")
    (folder / "sub").mkdir()
    files = no_hang(lambda: read_job_files(folder))
    assert files.odd == {"link": "is a symbolic link", "pipe": "is a FIFO (named pipe)", "sub": "is a folder"}
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    folder.symlink_to(moved)
    with pytest.raises(JobError, match="is not a folder"):
        read_job_files(folder)


# ============================================================================== properties of the readers

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), JSONISH.map(lambda v: json.dumps({"version": v}).encode()),
                         JSONISH.map(lambda v: json.dumps(v).encode())))  # fmt: skip
def test_any_live_content_is_read_without_raising(tmp_path: Path, content: bytes) -> None:
    """read_live, history and the decisions log never raise on what a file holds; a version is always text."""
    paths = LivePaths(tmp_path / "calibration.json", tmp_path / "archive")
    paths.calibration_file.write_bytes(content)
    live = read_live(paths)
    assert isinstance(live.version, str)
    assert live.version
    history = tmp_path / "history.jsonl"
    history.write_bytes(content + b"\n" + content)
    assert all(isinstance(e, dict) for e in apply_history.read(history))
    log = tmp_path / ".decisions.jsonl"
    log.write_bytes(content + b"\n")
    outcome = ""
    try:
        read_decisions(log)
    except JobError as error:
        outcome = str(error)
    assert outcome == "" or "was altered at line 1" in outcome


@pytest.mark.parametrize("hostile", ["fifo", "devzero"])
def test_a_hostile_acknowledgement_file_is_no_acknowledgement_and_never_blocks(tmp_path: Path, hostile: str) -> None:
    """The loader's ``.calpolicy_loaded`` as a FIFO or a link to /dev/zero: approve's wait reads it as absent."""
    from calpolicy.apply.confirmation import _read_ack

    marker = tmp_path / ".calpolicy_loaded"
    if hostile == "fifo":
        os.mkfifo(marker)
    else:
        marker.symlink_to("/dev/zero")
    assert no_hang(lambda: _read_ack(marker)) is None
