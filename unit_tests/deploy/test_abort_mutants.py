"""Fast in-process tests of ``calpolicy abort`` (apply/deploy/abort.py), written against its mutants.

test_abort_record.py checks most of abort's outcomes through the CLI in a child process, where a mutant of
the parent's code is invisible; these assert the same outcomes on ``abort_job`` itself: the exact history
line, the exact refusals, which record a re-run completes. Real files, a real FIFO, a real symlink and a
real lock holder killed with SIGKILL; nothing of ours is replaced.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from calpolicy.apply.deploy import DeployError, approve_job
from calpolicy.apply.deploy.abort import AlreadyDecided, HalfRecorded, NotRecorded, abort_job
from calpolicy.apply.lock import ApplyLock, read_holder
from calpolicy.jobs import DECISIONS_FILE, JobError, JobStore, validate_job_id
from calpolicy.jobs import history as apply_history
from unit_tests.deploy.site import Site, make_site, site_with_one_job
from unit_tests.deploy.test_faults import tmpfs
from unit_tests.deploy.test_trust import JOB, quiet


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    return site_with_one_job(tmp_path, proposal_json, JOB)


def abort_lines(site: Site) -> list[dict]:
    return [e for e in apply_history.read(site.paths.history) if e.get("phase") == "abort"]


def decided(site: Site) -> list[tuple[str, str, str]]:
    return [(d["state"], d["by"], d["note"]) for d in JobStore(site.jobs).decisions() if d["job_id"] == JOB]


def log_bytes(site: Site) -> bytes:
    path = site.jobs / DECISIONS_FILE
    return path.read_bytes() if path.exists() else b""


def test_an_abort_writes_one_exact_history_line_and_the_same_step_in_the_jobs_folder(site: Site) -> None:
    outcome = abort_job(site.config, JOB, "bob", "wrong data")
    assert (outcome.job_id, outcome.done, outcome.lines) == (JOB, "aborted", [])
    (line,) = abort_lines(site)
    assert set(line) == {"id", "phase", "event", "job_id", "jobs_dir", "by", "at", "note", "pid"}
    assert re.fullmatch(r"[0-9a-f]{32}", line["id"])
    assert (line["phase"], line["event"], line["job_id"]) == ("abort", "abort", JOB)
    assert (line["jobs_dir"], line["by"], line["note"]) == (str(site.jobs), "bob", "wrong data")
    assert line["pid"] == os.getpid()
    (step,) = [d for d in JobStore(site.jobs).decisions() if d["job_id"] == JOB]
    assert (step["state"], step["by"], step["note"], step["at"]) == ("aborted", "bob", "wrong data", line["at"])
    assert datetime.fromisoformat(line["at"]).tzinfo is not None
    assert site.manifest(JOB)["state"] == "aborted"
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "aborted"
    assert read_holder(site.paths.folder) is None  # the apply lock is let go (its record cleared)


def test_an_abort_without_a_reason_says_so_in_both_records(site: Site) -> None:
    abort_job(site.config, JOB, "bob")
    assert abort_lines(site)[0]["note"] == "aborted, no reason given"
    assert decided(site) == [("aborted", "bob", "aborted, no reason given")]


def test_a_job_id_that_is_not_one_is_refused_before_anything_is_touched(site: Site) -> None:
    for bad in ("../" + JOB, "", "cal_2026"):
        with pytest.raises(JobError) as expected:
            validate_job_id(bad)
        with pytest.raises(DeployError) as refused:
            abort_job(site.config, bad, "bob")
        assert type(refused.value) is DeployError
        assert str(refused.value) == str(expected.value)
    assert not site.paths.history.exists()
    assert log_bytes(site) == b""
    assert site.manifest(JOB)["state"] == "proposed"


def test_an_applied_job_cannot_be_aborted_and_nothing_is_recorded(site: Site) -> None:
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    history_before, log_before = site.paths.history.read_bytes(), log_bytes(site)
    with pytest.raises(AlreadyDecided, match=rf"^job {JOB} is already applied; only a proposed job can be aborted$"):
        abort_job(site.config, JOB, "bob")
    assert site.paths.history.read_bytes() == history_before
    assert log_bytes(site) == log_before


def test_a_second_abort_of_a_fully_recorded_abort_is_a_stop_that_writes_nothing(site: Site) -> None:
    abort_job(site.config, JOB, "bob", "wrong data")
    history_before, log_before = site.paths.history.read_bytes(), log_bytes(site)
    manifest_before = (site.jobs / JOB / "manifest.json").read_bytes()
    with pytest.raises(AlreadyDecided, match=rf"^job {JOB} is already aborted; only a proposed job can be aborted$"):
        abort_job(site.config, JOB, "carol", "again")
    assert site.paths.history.read_bytes() == history_before
    assert log_bytes(site) == log_before
    assert (site.jobs / JOB / "manifest.json").read_bytes() == manifest_before


def test_a_cut_jobs_folder_record_is_finished_with_the_historys_who_and_why(site: Site) -> None:
    log_before = log_bytes(site)
    signed = (site.jobs / JOB / "manifest.json").read_bytes()
    abort_job(site.config, JOB, "bob", "wrong data")
    (site.jobs / DECISIONS_FILE).write_bytes(log_before)
    (site.jobs / JOB / "manifest.json").write_bytes(signed)
    history_before = site.paths.history.read_bytes()
    outcome = abort_job(site.config, JOB, "carol", "other reason")
    assert (outcome.job_id, outcome.done, outcome.lines) == (JOB, "finished", [])
    assert decided(site) == [("aborted", "bob", "wrong data")]
    assert site.manifest(JOB)["state"] == "aborted"
    assert site.paths.history.read_bytes() == history_before  # no second abort line


def test_a_manifest_mirror_put_back_alone_is_finished_without_a_second_decision(site: Site) -> None:
    signed = (site.jobs / JOB / "manifest.json").read_bytes()
    abort_job(site.config, JOB, "bob", "wrong data")
    log_before = log_bytes(site)
    (site.jobs / JOB / "manifest.json").write_bytes(signed)  # the log still says aborted, the mirror not
    assert abort_job(site.config, JOB, "carol").done == "finished"
    assert log_bytes(site) == log_before
    assert site.manifest(JOB)["state"] == "aborted"
    assert len(abort_lines(site)) == 1


def test_a_history_line_without_who_or_why_is_finished_with_this_runs(site: Site) -> None:
    site.paths.archive_dir.mkdir(exist_ok=True)
    apply_history.append(site.paths.history, {"id": "x", "phase": "abort", "job_id": JOB})
    assert abort_job(site.config, JOB, "carol", "seen late").done == "finished"
    assert decided(site) == [("aborted", "carol", "seen late")]


def test_an_abort_the_jobs_folder_alone_holds_is_backfilled_into_the_history(site: Site) -> None:
    JobStore(site.jobs).transition(JOB, "aborted", "bob", note="before the upgrade")
    log_before = log_bytes(site)
    outcome = abort_job(site.config, JOB, "carol", "belt and braces")
    assert (outcome.job_id, outcome.done, outcome.lines) == (JOB, "backfilled", [])
    (line,) = abort_lines(site)
    assert (line["jobs_dir"], line["pid"]) == (str(site.jobs), os.getpid())
    assert (line["by"], line["note"]) == ("carol", "recorded late: belt and braces")
    assert (line["job_id"], line["event"], line["phase"]) == (JOB, "abort", "abort")
    assert datetime.fromisoformat(line["at"]).tzinfo is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", line["at"])
    assert log_bytes(site) == log_before  # the jobs folder already held it
    with pytest.raises(AlreadyDecided, match="is already aborted"):
        abort_job(site.config, JOB, "carol")  # both records now: a STOP


def test_a_backfill_without_a_reason_says_recorded_late(site: Site) -> None:
    JobStore(site.jobs).transition(JOB, "aborted", "bob")
    abort_job(site.config, JOB, "carol")
    assert abort_lines(site)[0]["note"] == "recorded late: aborted, no reason given"


def test_a_backfill_the_history_cannot_take_is_not_recorded_and_says_the_job_is_aborted(site: Site) -> None:
    """A history that reads but refuses the append: a hard link (another name of the same file)."""
    JobStore(site.jobs).transition(JOB, "aborted", "bob")
    site.paths.archive_dir.mkdir(exist_ok=True)
    site.paths.history.write_bytes(b"")
    os.link(site.paths.history, site.root / "other_name")
    late = rf"^job {JOB} is already aborted, but the apply history .* cannot record it: "
    with pytest.raises(NotRecorded, match=late) as refused:
        abort_job(site.config, JOB, "carol")
    assert str(refused.value).endswith("has 2 hard links (another name for the same file); refusing to write to it")
    assert site.paths.history.read_bytes() == b""


def test_a_backfill_into_an_archive_path_that_is_a_file_is_refused(site: Site) -> None:
    JobStore(site.jobs).transition(JOB, "aborted", "bob")
    site.paths.archive_dir.write_bytes(b"not a folder")
    with pytest.raises(DeployError, match=r"^cannot read the apply history: .*a part of its path is not a folder"):
        abort_job(site.config, JOB, "carol")  # the history's read refuses first; nothing is written
    assert site.paths.archive_dir.read_bytes() == b"not a folder"


@pytest.mark.parametrize("kind", ["folder", "symlink"])
def test_a_history_that_cannot_take_the_line_records_nothing_anywhere(site: Site, kind: str) -> None:
    site.paths.archive_dir.mkdir(exist_ok=True)
    if kind == "folder":
        site.paths.history.mkdir()
    else:
        victim = site.root / "victim.txt"
        victim.write_bytes(b"precious\n")
        site.paths.history.symlink_to(victim)
    manifest_before = (site.jobs / JOB / "manifest.json").read_bytes()
    with pytest.raises(DeployError) as refused:
        abort_job(site.config, JOB, "bob")
    message = str(refused.value)
    assert type(refused.value) in (DeployError, NotRecorded)
    assert "IS ABORTED" not in message
    assert message.startswith(f"cannot read the apply history: {site.paths.history}: ")
    assert log_bytes(site) == b""
    assert (site.jobs / JOB / "manifest.json").read_bytes() == manifest_before


def test_a_history_line_refused_at_write_is_not_recorded_and_the_job_stays_proposed(site: Site) -> None:
    """The history reads but refuses the append (a hard link): NotRecorded, and the jobs folder writes nothing."""
    site.paths.archive_dir.mkdir(exist_ok=True)
    site.paths.history.write_bytes(b"")
    os.link(site.paths.history, site.root / "other_name")
    with pytest.raises(NotRecorded) as refused:
        abort_job(site.config, JOB, "bob")
    assert str(refused.value).startswith(f"cannot record the abort in the apply history {site.paths.history}: ")
    assert "hard links" in str(refused.value)
    assert site.paths.history.read_bytes() == b""
    assert log_bytes(site) == b""
    assert site.manifest(JOB)["state"] == "proposed"


def test_an_archive_path_that_is_a_link_to_a_folder_is_refused_and_names_it(site: Site) -> None:
    elsewhere = site.root / "elsewhere"
    elsewhere.mkdir()
    site.paths.archive_dir.symlink_to(elsewhere)
    with pytest.raises(
        NotRecorded, match=f"^the archive path {re.escape(str(site.paths.archive_dir))} is not a folder; the abort"
    ):
        abort_job(site.config, JOB, "bob")
    assert list(elsewhere.iterdir()) == []
    assert site.manifest(JOB)["state"] == "proposed"


def test_an_archive_path_that_is_a_file_is_refused_and_names_it(site: Site) -> None:
    site.paths.archive_dir.write_bytes(b"a file")
    with pytest.raises(DeployError, match=r"^cannot read the apply history: .*a part of its path is not a folder"):
        abort_job(site.config, JOB, "bob")
    assert site.paths.archive_dir.read_bytes() == b"a file"
    assert site.manifest(JOB)["state"] == "proposed"


def test_a_jobs_folder_that_refuses_after_the_history_took_it_is_half_recorded_then_finished(site: Site) -> None:
    """The decisions log is a hard link (never appended to): the history's line is written, the jobs folder's
    record fails: HalfRecorded says the job IS aborted and how to finish; a re-run finishes it."""
    log = site.jobs / DECISIONS_FILE
    log.write_bytes(b"")
    other_name = site.root / "other_name"
    os.link(log, other_name)
    with pytest.raises(HalfRecorded) as half:
        abort_job(site.config, JOB, "bob", "halted")
    message = str(half.value)
    assert message.startswith(f"job {JOB} IS ABORTED (the apply history {site.paths.history} records it; ")
    assert message.endswith(f"fix that and run `calpolicy abort {JOB}` again to complete it")
    assert "own record could not be written: cannot record the decision in " in message
    assert "hard links" in message  # the jobs folder's own reason, for the operator to fix
    (line,) = abort_lines(site)
    assert (line["by"], line["note"]) == ("bob", "halted")
    assert JobStore(site.jobs, site.paths.history).state(JOB) == "aborted"
    # the jobs folder still refuses: the re-run says again what is missing, and writes no second line
    with pytest.raises(HalfRecorded, match=rf"^job {JOB} IS ABORTED") as again:
        abort_job(site.config, JOB, "carol")
    assert "hard links" in str(again.value)
    assert len(abort_lines(site)) == 1
    other_name.unlink()
    assert abort_job(site.config, JOB, "carol").done == "finished"
    assert decided(site) == [("aborted", "bob", "halted")]


def test_a_damaged_decisions_log_is_a_clear_refusal_that_records_nothing(site: Site) -> None:
    (site.jobs / DECISIONS_FILE).write_bytes(b'{"not": "chained"}\n')
    with pytest.raises(DeployError, match="was altered at line 1") as refused:
        abort_job(site.config, JOB, "bob")
    assert type(refused.value) is DeployError
    assert not site.paths.history.exists()


def test_a_damaged_log_after_a_recorded_abort_is_a_clear_refusal(site: Site) -> None:
    abort_job(site.config, JOB, "bob")
    (site.jobs / DECISIONS_FILE).write_bytes(b'{"not": "chained"}\n')
    history_before = site.paths.history.read_bytes()
    with pytest.raises(DeployError, match="was altered at line 1") as refused:
        abort_job(site.config, JOB, "bob")
    assert type(refused.value) is DeployError
    assert site.paths.history.read_bytes() == history_before


def test_an_unreadable_history_is_a_clear_refusal(site: Site) -> None:
    site.paths.archive_dir.mkdir(exist_ok=True)
    site.paths.history.mkdir()  # read_optional refuses a folder where the history belongs
    with pytest.raises(DeployError) as refused:
        abort_job(site.config, JOB, "bob")
    assert type(refused.value) is DeployError
    assert str(refused.value).startswith("cannot read the apply history: ")
    assert "is a folder, not a regular file" in str(refused.value)
    assert log_bytes(site) == b""


def _killed_holder(folder: Path) -> int:
    """A lock holder (a forked child, inside ApplyLock) killed with SIGKILL: its record stays in the lock file."""
    pid = os.fork()
    if pid == 0:
        try:
            with ApplyLock(folder, "dave", "calpolicy approve x"):
                time.sleep(60)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while (read_holder(folder) or {}).get("pid") != pid and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return pid


@pytest.mark.parametrize("before", ["proposed", "aborted in the jobs folder only"])
def test_a_stale_lock_of_a_killed_holder_is_reported_and_the_abort_goes_on(site: Site, before: str) -> None:
    if before != "proposed":
        JobStore(site.jobs).transition(JOB, "aborted", "bob")
    pid = _killed_holder(site.paths.folder)
    outcome = abort_job(site.config, JOB, "bob")
    assert outcome.done == ("aborted" if before == "proposed" else "backfilled")
    (note,) = outcome.lines
    assert note.startswith("note: the previous holder of the lock died mid-command (dave running `calpolicy approve x`")
    assert f"(PID {pid} on " in note


def test_the_apply_lock_names_the_abort_while_it_waits_for_the_jobs_folder(site: Site) -> None:
    """A second command meanwhile is told who holds the live calibration: the abort's `by` and its command.
    The jobs folder's lock (held here) keeps the abort, in a forked child, inside the apply lock."""
    jobs_lock = os.open(site.jobs / ".lock", os.O_WRONLY | os.O_CREAT, 0o644)
    fcntl.flock(jobs_lock, fcntl.LOCK_EX)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if abort_job(site.config, JOB, "bob", "held").done == "aborted" else 1
        finally:
            os._exit(code)
    try:
        deadline = time.monotonic() + 20
        while (read_holder(site.paths.folder) or {}).get("pid") != pid and time.monotonic() < deadline:
            time.sleep(0.01)
        holder = read_holder(site.paths.folder) or {}
        assert (holder.get("who"), holder.get("command")) == ("bob", f"calpolicy abort {JOB}")
        assert abort_lines(site) == []  # the history's line waits for the jobs folder's checks
    finally:
        fcntl.flock(jobs_lock, fcntl.LOCK_UN)
        os.close(jobs_lock)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert decided(site) == [("aborted", "bob", "held")]
    with pytest.raises(AlreadyDecided):
        abort_job(site.config, JOB, "bob")


def test_an_archive_folder_deeper_than_the_config_folder_is_created_with_its_parents(
    tmp_path: Path, proposal_json: str
) -> None:
    deep = tmp_path / "site" / "config" / "kept" / "calibration_archive"
    fresh = make_site(tmp_path / "site", **{"paths.archive_dir": str(deep)})
    fresh.add_job(JOB, proposal_json)
    assert abort_job(fresh.config, JOB, "bob").done == "aborted"
    assert deep.is_dir()
    assert apply_history.aborted(apply_history.read(fresh.paths.history), JOB) is not None


def test_an_archive_folder_the_disk_has_no_inode_for_is_not_recorded_and_says_so(
    tmp_path: Path, proposal_json: str
) -> None:
    """A real tmpfs out of inodes: the history reads (absent), the archive folder cannot be made."""
    with tmpfs(tmp_path / "mnt", "4m", inodes=64) as mnt:
        fresh = make_site(mnt / "site", existing=False)
        fresh.add_job(JOB, proposal_json)
        with ApplyLock(fresh.paths.folder, "setup", "setup"):
            pass  # the lock file exists, as after any earlier command
        _use_every_inode(mnt)
        with pytest.raises(NotRecorded) as refused:
            abort_job(fresh.config, JOB, "bob")
        assert str(refused.value).startswith(f"cannot create the archive folder {fresh.paths.archive_dir}: ")
        assert str(refused.value).endswith(": No space left on device")
        assert fresh.manifest(JOB)["state"] == "proposed"
        assert not fresh.paths.archive_dir.exists()


def _use_every_inode(folder: Path) -> None:
    filler = folder / "filler"
    filler.mkdir()
    for number in range(10_000):
        try:
            (filler / str(number)).touch()
        except OSError:
            return
    raise AssertionError("the tmpfs never ran out of inodes")
