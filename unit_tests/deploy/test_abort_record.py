"""An abort is recorded outside the jobs folder too, so cutting the jobs folder's records cannot undo it (issue 21 §2).

The held-out case: a user who may write the jobs folder aborts nothing themselves, but cuts the abort's
lines off ``.decisions.jsonl`` and puts the manifest's signed bytes back; the job read ``proposed`` again
and approve would have applied it. `calpolicy abort` now also appends an ``abort`` line to the apply
history beside the live config (under the apply lock, before the jobs folder's record), and
``derive_state`` reads it. Every case runs on real files; the CLI in a child where its exit code and
words are the contract, in-process where that is faster.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calpolicy.apply.deploy import DeployError, approve_job
from calpolicy.apply.deploy.abort import abort_job
from calpolicy.apply.lock import ApplyLock
from calpolicy.jobs import DECISIONS_FILE, STATES, JobStore, derive_state, unfinished_apply
from calpolicy.jobs import history as apply_history
from calpolicy.review.approval import approval_preconditions
from unit_tests.conftest import run_cli
from unit_tests.deploy.site import Site, go_preflight, make_site, sign, site_with_one_job, write_toml
from unit_tests.deploy.test_faults import _fill, tmpfs
from unit_tests.deploy.test_trust import JOB, no_traceback, quiet

UNTIL = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    return site_with_one_job(tmp_path, proposal_json, JOB)


def cli(toml: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = run_cli("--config", str(toml), *args)
    no_traceback(done)
    return done


def approve_cli(toml: Path, job: str = JOB) -> subprocess.CompletedProcess[str]:
    return cli(toml, "approve", job, "--approver", "alice", "--reviewed", "--on-call-until", UNTIL, "--yes")


def cut_back(site: Site, log_before: bytes, manifest_before: bytes, job: str = JOB) -> None:
    """The attack: the decisions log cut back to its bytes before the abort, the signed manifest put back."""
    (site.jobs / DECISIONS_FILE).write_bytes(log_before)
    (site.jobs / job / "manifest.json").write_bytes(manifest_before)


def log_bytes(site: Site) -> bytes:
    path = site.jobs / DECISIONS_FILE
    return path.read_bytes() if path.exists() else b""


# ======================================================================================= the held-out case


def test_abort_then_cut_log_and_signed_manifest_put_back_approve_refuses_and_says_why(site: Site) -> None:
    config = sign(site, JOB)
    toml = write_toml(site, config)
    manifest_before, log_before = (site.jobs / JOB / "manifest.json").read_bytes(), log_bytes(site)
    live_before = site.live_bytes()
    aborted = cli(toml, "abort", JOB, "--by", "bob", "--reason", "wrong data")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert aborted.stdout.startswith(f"ABORTED — job {JOB}")
    cut_back(site, log_before, manifest_before)
    assert cli(toml, "verify", JOB).returncode == 0  # the signed bytes are intact: that is the attack

    done = approve_cli(toml)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"STOP — job {JOB} is NOT applied")
    assert f"job {JOB} is 'aborted'; only a proposed job can be approved" in done.stdout
    assert "records that bob aborted it at" in done.stdout
    assert "the jobs folder's own records say 'proposed': they were cut or rewritten after the abort" in done.stdout
    assert site.live_bytes() == live_before
    assert site.manifest(JOB)["state"] == "proposed"  # approve recorded nothing either


def test_every_view_agrees_after_the_cut(site: Site) -> None:
    config = sign(site, JOB)
    toml = write_toml(site, config)
    manifest_before, log_before = (site.jobs / JOB / "manifest.json").read_bytes(), log_bytes(site)
    assert cli(toml, "abort", JOB, "--by", "bob", "--reason", "wrong data").returncode == 0
    cut_back(site, log_before, manifest_before)
    assert json.loads(cli(toml, "jobs", "--json").stdout)["jobs"][0]["state"] == "aborted"
    assert json.loads(cli(toml, "status", "--json").stdout)["latest_job"]["state"] == "aborted"
    verified = cli(toml, "verify", JOB)
    assert verified.stdout.splitlines()[-1] == "state: aborted", verified.stdout
    assert json.loads(cli(toml, "verify", JOB, "--json").stdout)["state"] == "aborted"
    history = cli(toml, "history")
    assert history.returncode == 0
    assert f"abort    job {JOB} by bob: wrong data" in history.stdout, history.stdout
    (line,) = json.loads(cli(toml, "history", "--json").stdout)["aborts"]
    assert (line["job_id"], line["by"], line["note"], line["jobs_dir"]) == (JOB, "bob", "wrong data", str(site.jobs))
    again = cli(toml, "abort", JOB, "--by", "bob")  # the records are completed, not a second abort
    assert again.returncode == 0, again.stdout
    assert "is now recorded in the jobs folder too" in again.stdout
    assert site.manifest(JOB)["state"] == "aborted"
    assert cli(toml, "abort", JOB, "--by", "bob").returncode == 1  # now decided everywhere: a STOP


@pytest.mark.parametrize("cut", ["log-removed", "log-emptied", "manifest-edited", "folder-replaced"])
def test_no_cut_of_the_jobs_folder_brings_an_aborted_job_back(site: Site, tmp_path: Path, cut: str) -> None:
    config = sign(site, JOB)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(site.jobs, snapshot)  # the whole jobs folder before the abort, as a user could keep it
    signed = (site.jobs / JOB / "manifest.json").read_bytes()
    abort_job(config, JOB, "bob", "wrong data")
    if cut == "log-removed":
        (site.jobs / DECISIONS_FILE).unlink()
        (site.jobs / JOB / "manifest.json").write_bytes(signed)
    elif cut == "log-emptied":
        (site.jobs / DECISIONS_FILE).write_bytes(b"")
        (site.jobs / JOB / "manifest.json").write_bytes(signed)
    elif cut == "manifest-edited":
        (site.jobs / DECISIONS_FILE).unlink()
        manifest = site.manifest(JOB)
        manifest["state"], manifest["history"] = "proposed", manifest["history"][:1]
        (site.jobs / JOB / "manifest.json").write_text(json.dumps(manifest))
    else:
        shutil.rmtree(site.jobs)
        shutil.copytree(snapshot, site.jobs)
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "aborted"
    problems = approval_preconditions(site.jobs / JOB, config, preflight=go_preflight)
    assert f"job {JOB} is 'aborted'; only a proposed job can be approved" in problems
    before = site.live_bytes()
    with pytest.raises(DeployError, match=f"job {JOB} is aborted; only a proposed job can be approved"):
        approve_job(config, JOB, "alice", wait=False, say=quiet)
    assert site.live_bytes() == before


# ============================================================================ fail closed: abort's own writes


@pytest.mark.parametrize("kind", ["fifo", "symlink", "hard-link", "folder"])
def test_an_abort_the_history_cannot_take_is_not_done_and_says_so(site: Site, kind: str) -> None:
    toml = write_toml(site)
    history = site.paths.history
    site.paths.archive_dir.mkdir(exist_ok=True)
    victim = site.root / "victim.txt"
    victim.write_bytes(b"precious\n")
    if kind == "fifo":
        os.mkfifo(history)
    elif kind == "symlink":
        history.symlink_to(victim)
    elif kind == "hard-link":
        os.link(victim, history)
    else:
        history.mkdir()
    log_before, manifest_before = log_bytes(site), (site.jobs / JOB / "manifest.json").read_bytes()
    done = cli(toml, "abort", JOB, "--by", "bob")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"STOP — job {JOB} was not aborted: "), done.stdout
    assert "Nothing changed." in done.stdout
    assert log_bytes(site) == log_before
    assert (site.jobs / JOB / "manifest.json").read_bytes() == manifest_before
    assert victim.read_bytes() == b"precious\n"
    listed = cli(toml, "jobs")
    assert "aborted" not in listed.stdout, listed.stdout


def test_a_jobs_folder_that_refuses_after_the_history_took_it_is_aborted_and_finished_by_a_rerun(site: Site) -> None:
    """The history's line is written, then the decisions log (a hard link: never appended to) refuses: the job
    IS aborted, the command says what is missing (exit 1), and running abort again completes the record."""
    toml = write_toml(site)
    log = site.jobs / DECISIONS_FILE
    log.write_bytes(b"")
    other_name = site.root / "other_name"
    os.link(log, other_name)
    done = cli(toml, "abort", JOB, "--by", "bob", "--reason", "halted")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"ABORTED, NOT COMPLETE — job {JOB} IS ABORTED"), done.stdout
    assert f"run `calpolicy abort {JOB}` again" in done.stdout
    assert apply_history.aborted(apply_history.read(site.paths.history), JOB) is not None
    assert json.loads(cli(toml, "jobs", "--json").stdout)["jobs"][0]["state"] == "aborted"
    assert approve_cli(toml).returncode == 1
    other_name.unlink()
    again = cli(toml, "abort", JOB, "--by", "carol")
    assert again.returncode == 0, again.stdout + again.stderr
    decided = [d for d in JobStore(site.jobs).decisions() if d["job_id"] == JOB]
    assert [(d["state"], d["by"], d["note"]) for d in decided] == [("aborted", "bob", "halted")]
    assert site.manifest(JOB)["state"] == "aborted"


def test_abort_waits_for_no_one_while_approve_or_rollback_holds_the_apply_lock(site: Site) -> None:
    toml = write_toml(site)
    with ApplyLock(site.paths.folder, "alice", f"calpolicy approve {JOB}"):
        done = cli(toml, "abort", JOB, "--by", "bob")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "was not aborted: the live calibration is locked by alice running `calpolicy approve" in done.stdout
    assert log_bytes(site) == b""
    assert apply_history.read(site.paths.history) == []
    assert site.manifest(JOB)["state"] == "proposed"


def test_a_refusal_in_the_jobs_folder_records_nothing_in_the_history(site: Site) -> None:
    """The jobs folder's checks (here: a manifest whose history is not a list) come before the history line."""
    path = site.jobs / JOB / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["history"] = 5
    path.write_text(json.dumps(manifest))
    with pytest.raises(DeployError, match="history that is int, not a list"):
        abort_job(site.config, JOB, "bob")
    assert apply_history.read(site.paths.history) == []


def test_a_fresh_host_gets_its_archive_folder_and_a_file_there_is_refused(tmp_path: Path, proposal_json: str) -> None:
    fresh = make_site(tmp_path / "fresh", existing=False)
    fresh.add_job(JOB, proposal_json)
    assert not fresh.paths.archive_dir.exists()
    assert abort_job(fresh.config, JOB, "bob").done == "aborted"
    assert apply_history.aborted(apply_history.read(fresh.paths.history), JOB) is not None
    blocked = make_site(tmp_path / "blocked", existing=False)
    blocked.add_job(JOB, proposal_json)
    blocked.paths.archive_dir.write_bytes(b"a file where the archive folder belongs")
    with pytest.raises(DeployError, match="cannot"):
        abort_job(blocked.config, JOB, "bob")
    assert blocked.manifest(JOB)["state"] == "proposed"


# ================================================================================== old histories, other folders


def test_an_old_abort_and_an_old_history_still_read_and_a_rerun_protects_it(site: Site, proposal_json: str) -> None:
    """An abort recorded before the history held aborts (the jobs folder only) still counts; a history with
    approve lines only still reads; `abort` again records the old abort in the history (exit 0)."""
    other = "cal_20261101_130000"
    site.add_job(other, proposal_json)
    approve_job(site.config, other, "alice", wait=False, say=quiet)  # an old history: approve lines only
    JobStore(site.jobs, site.paths.history).transition(JOB, "aborted", "bob", note="before the upgrade")
    toml = write_toml(site)
    states = {j["job_id"]: j["state"] for j in json.loads(cli(toml, "jobs", "--json").stdout)["jobs"]}
    assert states == {JOB: "aborted", other: "applied"}
    assert cli(toml, "history").returncode == 0
    log_before = log_bytes(site)
    done = cli(toml, "abort", JOB, "--by", "carol")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "its abort is now recorded in the apply history too" in done.stdout
    assert log_bytes(site) == log_before  # the jobs folder already held it
    (site.jobs / DECISIONS_FILE).write_bytes(b"")
    manifest = site.manifest(JOB)
    manifest["state"] = "proposed"
    (site.jobs / JOB / "manifest.json").write_text(json.dumps(manifest))
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "aborted"


def test_an_abort_line_of_another_jobs_folder_counts_for_the_same_id(tmp_path: Path, proposal_json: str) -> None:
    """Job IDs are the versions of one live config: an ID aborted in one jobs folder is not taken from another
    folder that feeds the same config. Fail closed, and the refusal names the other folder."""
    first = site_with_one_job(tmp_path, proposal_json, JOB)
    second_jobs = tmp_path / "jobs_elsewhere"
    second = Site(tmp_path, first.config.with_overrides({"paths.jobs_dir": str(second_jobs)}, "test"))
    second.add_job(JOB, proposal_json)
    abort_job(first.config, JOB, "bob", "wrong data")
    assert JobStore(second_jobs, second.paths.history).state(JOB) == "aborted"
    problems = approval_preconditions(second_jobs / JOB, second.config, preflight=go_preflight)
    assert any(f"as a job of the jobs folder {first.jobs}" in p for p in problems), problems
    with pytest.raises(DeployError, match="is aborted"):
        approve_job(second.config, JOB, "alice", wait=False, say=quiet)


# ============================================================= the reverse attack: lines added to the history


HOSTILE_LINES: list[dict[str, Any]] = [
    {"id": "a", "phase": "begin", "event": "approve", "to": JOB, "from": "x", "job_id": JOB},
    {"id": "a", "phase": "done"},
    {"id": "b", "phase": "begin", "event": "rollback", "from": JOB, "to": "none"},
    {"id": "b", "phase": "done"},
    {"id": "c", "phase": "unabort", "job_id": JOB},
    {"id": "d", "phase": "abort", "job_id": [JOB]},
    {"id": "e", "phase": "abort", "job_id": "cal_20990101_000000"},
    {"id": "f", "phase": "begin", "event": "approve", "to": JOB, "state": "proposed"},
    {"id": "g", "state": "proposed", "job_id": JOB},
]


def test_lines_added_to_the_history_never_make_an_aborted_job_approvable(site: Site) -> None:
    """A user who may write the history but not the jobs folder: whatever they append, approve refuses."""
    abort_job(site.config, JOB, "bob")
    toml = write_toml(site)
    with site.paths.history.open("a") as handle:
        for line in HOSTILE_LINES:
            handle.write(json.dumps(line) + "\n")
    state = JobStore(site.jobs, site.paths.history).state(JOB)
    assert state not in ("proposed", "approved")
    done = approve_cli(toml)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"job {JOB} is '{state}'; only a proposed job can be approved" in done.stdout


ABORT_LINE = {"id": "z", "phase": "abort", "event": "abort", "job_id": JOB, "by": "bob", "at": "2026-11-01T12:00:00"}


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(st.sampled_from(HOSTILE_LINES), max_size=6),
    after=st.lists(st.sampled_from(HOSTILE_LINES), max_size=6),
    log_kept=st.booleans(),
    manifest_state=st.sampled_from(STATES),
)
def test_no_cut_log_no_manifest_and_no_added_line_undoes_a_recorded_abort(
    before: list[dict[str, Any]], after: list[dict[str, Any]], log_kept: bool, manifest_state: str
) -> None:
    """derive_state: with the history's abort line present, the job's decisions cut or kept, any manifest
    state, and any lines added around the abort line, the job is never proposed or approved; and unless
    the manifest says approved (a second writer, of the jobs folder), approve has no apply to finish."""
    decisions = [{"job_id": JOB, "state": "aborted"}] if log_kept else []
    state = derive_state(JOB, {"state": manifest_state}, decisions, [*before, ABORT_LINE, *after])
    assert state not in ("proposed", "approved")
    if manifest_state != "approved":
        assert not unfinished_apply(state, {"state": manifest_state})


# ================================================================================== SIGKILL at random moments


KILLS = 60


@pytest.fixture
def shm_dir(tmp_path: Path) -> Iterator[Path]:
    """tmpfs when there is one: a SIGKILL does not depend on fsync, and on disk the fsyncs would dominate."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="calpolicy-abort-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _killed_abort(site: Site, job: str, delay: float) -> bool:
    """``abort_job`` in a forked child (imports done), SIGKILLed after ``delay`` s; True if it was still running."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            abort_job(site.config, job, "crash-test", "killed")
            code = 0
        finally:
            os._exit(code)
    time.sleep(delay)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return True
    assert os.waitstatus_to_exitcode(status) == 0, "abort failed in the child before the kill"
    return False


def test_sigkill_at_any_moment_of_an_abort_never_leaves_an_abort_the_history_lacks(
    shm_dir: Path, proposal_json: str
) -> None:
    """The history's line comes first: whenever the jobs folder records the abort, the history does too; the job
    is aborted exactly when the history holds the line; the next abort completes it and the lock is free."""
    site = make_site(shm_dir)
    jobs = [f"cal_20261101_{i // 60:04d}{i % 60:02d}" for i in range(1, KILLS + 5)]
    for job in jobs:
        site.add_job(job, proposal_json)
    abort_job(site.config, jobs[0], "warm-up")
    step = 0.0
    for job in jobs[1:4]:  # whole forked runs, measured (the slowest counts): the kills are spread over one
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                abort_job(site.config, job, "measure")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        step = max(step, time.perf_counter() - started)
    rng = random.Random(20261206)
    interrupted = 0
    seen: dict[tuple[bool, bool], int] = {}
    for job in jobs[4:]:
        interrupted += _killed_abort(site, job, rng.uniform(0, step))
        in_history = apply_history.aborted(apply_history.read(site.paths.history), job) is not None
        in_folder = any(d["job_id"] == job and d["state"] == "aborted" for d in JobStore(site.jobs).decisions())
        seen[in_history, in_folder] = seen.get((in_history, in_folder), 0) + 1
        assert in_history or not in_folder, f"{job}: the jobs folder records an abort the history lacks"
        state = JobStore(site.jobs, site.paths.history).state(job)
        assert state == ("aborted" if in_history else "proposed"), (job, state, in_history)
        if not (in_history and in_folder and site.manifest(job)["state"] == "aborted"):
            assert abort_job(site.config, job, "crash-test").done in ("aborted", "finished")
        assert site.manifest(job)["state"] == "aborted"
        assert any(d["job_id"] == job and d["state"] == "aborted" for d in JobStore(site.jobs).decisions())
    assert interrupted >= KILLS // 6, f"only {interrupted} of {KILLS} kills landed inside a running abort"
    print(f"\n{KILLS} SIGKILL runs of abort, {interrupted} interrupted; (in history, in jobs folder): {seen}")


def test_a_disk_that_fills_mid_line_records_no_abort_and_says_so(tmp_path: Path, proposal_json: str) -> None:
    """Real small tmpfs: the history's last page has room for part of the abort line only, so the write is short.
    Was: the torn line counted as written, and abort then claimed the job IS aborted while no record said so."""
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        site = make_site(mnt / "site")
        site.add_job(JOB, proposal_json)
        site.paths.archive_dir.mkdir()
        seed = json.dumps({"id": "seed", "phase": "note", "pad": ""})
        seed = seed[:-2] + "x" * (4000 - len(seed)) + '"}'  # 4000 bytes + newline: 95 bytes left in the page
        site.paths.history.write_text(seed + "\n")
        (site.jobs / DECISIONS_FILE).touch()
        _fill(mnt, 0)
        short = r"cannot record the abort in the apply history .*: the disk took only 95 of the line's"
        with pytest.raises(DeployError, match=short) as refused:
            abort_job(site.config, JOB, "bob", "full disk")
        assert "IS ABORTED" not in str(refused.value)
        assert apply_history.aborted(apply_history.read(site.paths.history), JOB) is None
        assert JobStore(site.jobs, site.paths.history).state(JOB) == "proposed"
        assert (site.jobs / DECISIONS_FILE).read_bytes() == b""
        (mnt / "filler").unlink()
        assert abort_job(site.config, JOB, "bob", "disk freed").done == "aborted"
        assert apply_history.aborted(apply_history.read(site.paths.history), JOB)["note"] == "disk freed"
        assert JobStore(site.jobs, site.paths.history).state(JOB) == "aborted"
