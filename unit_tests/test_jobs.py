"""The job store: validated IDs, atomic creation, the state machine, restarts, SIGKILL, full and read-only disks."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calpolicy.jobs import JOB_ID_RE, MANIFEST, MANIFEST_SCHEMA, JobError, JobStore, validate_job_id
from unit_tests.conftest import run_cli

WHEN = datetime(2026, 11, 28, 9, 30, 5, tzinfo=UTC)
FILES = {"proposal.json": b'{"p": 1}\n' * 200, "preflight_results.jsonl": b'{"r": 1}\n' * 50}


def _manifest(job_id: str) -> bytes:
    doc = {"schema": MANIFEST_SCHEMA, "job_id": job_id, "state": "proposed", "operator": "ana",
           "history": [{"state": "proposed", "by": "ana", "at": "2026-11-28T09:30:05+00:00", "note": ""}]}  # fmt: skip
    return json.dumps(doc).encode()


def _make(store: JobStore, when: datetime = WHEN) -> str:
    pending = store.begin(when)
    for name, data in FILES.items():
        pending.write(name, data)
    pending.write(MANIFEST, _manifest(pending.job_id))
    store.commit(pending)
    return pending.job_id


# ----------------------------------------------------------------------------------------------- IDs


@pytest.mark.parametrize(
    "bad", ["", "cal_20261128_093005/..", "../cal_20261128_093005", "cal_20261128_093005\x00", "cal_2026_1",
            "/etc/passwd", "cal_20261128_093005_1000", "cal_20261128_093005 ", "CAL_20261128_093005", ".."],
)  # fmt: skip
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(JobError, match="invalid job ID"):
        validate_job_id(bad)


@given(st.text(max_size=40))
def test_any_accepted_id_is_a_plain_job_name(raw: str) -> None:
    try:
        accepted = validate_job_id(raw)
    except JobError:
        return
    assert JOB_ID_RE.fullmatch(accepted)
    assert all(c not in accepted for c in ("/", "..", "\x00"))


def test_an_unknown_or_hostile_id_never_reaches_the_filesystem(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / MANIFEST).write_text("{}")
    with pytest.raises(JobError, match="invalid job ID"):
        store.path("../secret")
    with pytest.raises(JobError, match="no job cal_20261128_093005"):
        store.path("cal_20261128_093005")


# ----------------------------------------------------------------------------------------------- create


def test_same_second_gives_distinct_ids_in_order(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    ids = [_make(store) for _ in range(12)]
    assert ids[:3] == ["cal_20261128_093005", "cal_20261128_093005_1", "cal_20261128_093005_2"]
    assert len(set(ids)) == 12
    assert [m["job_id"] for m in store.list()] == list(reversed(ids))  # _10, _11 sort after _9
    assert store.latest()["job_id"] == "cal_20261128_093005_11"


def test_concurrent_creators_get_distinct_ids(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.append(_make(JobStore(store.jobs_dir)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == len(set(made)) == 8
    assert sorted(store.ids()) == sorted(made)


def test_a_job_is_invisible_until_committed(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    pending = store.begin(WHEN)
    pending.write("proposal.json", b"{}")
    assert store.ids() == []
    with pytest.raises(JobError, match=r"no manifest\.json"):
        store.commit(pending)
    pending.write(MANIFEST, _manifest(pending.job_id))
    store.commit(pending)
    assert store.ids() == [pending.job_id]
    assert not pending.tmp_dir.exists()


def test_file_names_must_be_plain(tmp_path: Path) -> None:
    pending = JobStore(tmp_path / "jobs").begin(WHEN)
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(JobError):
            pending.write(bad, b"")


# ----------------------------------------------------------------------------------------------- states


def test_state_machine_and_history_survive_a_new_process(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    with pytest.raises(JobError, match="cannot become applied"):
        store.transition(job_id, "applied", by="ana")
    store.transition(job_id, "approved", by="ana", note="report reviewed", approval={"by": "ana"})
    with pytest.raises(JobError, match="must name who"):
        store.transition(job_id, "applied", by=" ")
    # a fresh shell: another process reads the same job from disk
    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\njobs_dir = "{store.jobs_dir}"\n')
    listed = run_cli("--config", str(config), "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["jobs"][0] == {
        "job_id": job_id, "state": "approved", "verdict": None, "exit_code": None, "created_at": None,
        "operator": "ana", "applied_version": None,
    }  # fmt: skip
    manifest = JobStore(store.jobs_dir).transition(job_id, "applied", by="bo", applied_version=job_id)
    assert [h["state"] for h in manifest["history"]] == ["proposed", "approved", "applied"]
    assert manifest["history"][1]["note"] == "report reviewed"
    assert all(h["by"] and h["at"] for h in manifest["history"])
    with pytest.raises(JobError, match="cannot become aborted"):
        store.transition(job_id, "aborted", by="ana")


def test_a_corrupt_manifest_is_reported_not_listed(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    good = _make(store)
    bad = _make(store)
    (store.jobs_dir / bad / MANIFEST).write_text("{not json")
    assert [m["job_id"] for m in store.list()] == [good]
    assert "not valid JSON" in store.problems()[bad]
    with pytest.raises(JobError, match="not valid JSON"):
        store.transition(bad, "aborted", by="ana")


# ----------------------------------------------------------------------------------------------- faults


def _write_jobs_forever(jobs_dir: Path) -> None:
    """The job-writing step of a run, in a loop, in a forked child that the test kills at random."""
    store = JobStore(jobs_dir)
    payload = b"x" * 65536
    while True:
        pending = store.begin()
        for i in range(4):
            pending.write(f"part{i}.bin", payload)
        pending.write(MANIFEST, _manifest(pending.job_id))
        store.commit(pending)


def _assert_every_visible_job_whole(store: JobStore) -> int:
    for job_id in store.ids():
        folder = store.jobs_dir / job_id
        assert store.manifest(job_id)["job_id"] == job_id
        names = sorted(p.name for p in folder.iterdir())
        assert names == [MANIFEST, "part0.bin", "part1.bin", "part2.bin", "part3.bin"]
        assert all((folder / f"part{i}.bin").stat().st_size == 65536 for i in range(4))
    return len(store.ids())


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_no_half_job(tmp_path: Path) -> None:
    """100 writers killed with SIGKILL at random moments: every visible job is whole; the next one works."""
    store = JobStore(tmp_path / "jobs")
    rng = random.Random(10)
    store.jobs_dir.mkdir()
    mid_write = 0
    for _ in range(100):
        ready, go = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns; SIGKILL ends it
            try:
                os.close(ready)
                os.write(go, b"1")
                _write_jobs_forever(store.jobs_dir)
            finally:
                os._exit(1)
        os.close(go)
        os.read(ready, 1)  # the writer is running: now a random moment of its work
        os.close(ready)
        time.sleep(rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the writer died on its own"
        assert os.WTERMSIG(status) == signal.SIGKILL
        _assert_every_visible_job_whole(store)
        mid_write += any(p.name.endswith(".tmp") for p in store.jobs_dir.iterdir())
    assert mid_write >= 10, f"only {mid_write} of 100 kills landed mid-write: the trial proves too little"
    job_id = _make(store, datetime.now(UTC))  # the next run works and sweeps the dead runs' temp folders
    assert store.manifest(job_id)["job_id"] == job_id
    assert not [p for p in store.jobs_dir.iterdir() if p.name.endswith(".tmp")]


def _in_private_mount(setup: str, code: str, jobs: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``jobs`` prepared by ``setup`` in a private mount namespace (root; CI runs as root)."""
    script = f'set -e; {setup}; exec {sys.executable} -c "$0" "$1"'
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, code, str(jobs)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


_CREATE = """
import sys
from calpolicy.jobs import JobError, JobStore, MANIFEST
store = JobStore(sys.argv[1])
pending = None
try:
    pending = store.begin()
    pending.write("proposal.json", b"x" * 200000)
    pending.write(MANIFEST, b"{}")
    store.commit(pending)
except (JobError, OSError) as error:
    print("refused:", error)
    if pending is not None:
        pending.abandon()  # as run_job does on any failure
print("visible:", store.ids(), "entries:", sorted(p.name for p in store.jobs_dir.iterdir()))
"""


def test_full_disk_leaves_nothing_behind(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "this test mounts a tiny tmpfs and needs root (CI runs as root)"
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    done = _in_private_mount(f"mount -t tmpfs -o size=64k tmpfs {jobs}", _CREATE, jobs)
    assert "refused: [Errno 28] No space left on device" in done.stdout, done.stdout + done.stderr
    assert "visible: [] entries: []" in done.stdout


def test_read_only_jobs_dir_is_a_clear_error(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "this test bind-mounts read-only and needs root (CI runs as root)"
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    done = _in_private_mount(f"mount --bind {jobs} {jobs}; mount -o remount,bind,ro {jobs}", _CREATE, jobs)
    assert f"refused: cannot create a job in {jobs}: Read-only file system" in done.stdout, done.stdout + done.stderr


# ----------------------------------------------------------------------------------- derived state (issue 21)


def test_state_comes_from_the_decisions_log_not_the_manifest_field(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    store.transition(job_id, "aborted", by="ana", note="wrong data")
    manifest = store.manifest(job_id)
    manifest["state"] = "proposed"
    (store.jobs_dir / job_id / MANIFEST).write_text(json.dumps(manifest))
    assert store.state(job_id) == "aborted"
    with pytest.raises(JobError, match="is aborted; it cannot become approved"):
        store.transition(job_id, "approved", by="mallory")
    lines = store.decisions_path.read_bytes().splitlines()
    assert len(lines) == 1
    store.decisions_path.write_bytes(b"")  # the whole log removed: the manifest's mirror still says aborted?
    # the jobs folder alone cannot tell (both rewritten consistently): the apply history's abort line does, which
    # `calpolicy abort` writes (docs/apply.md, "Job state"; unit_tests/deploy/test_abort_record.py)
    assert store.state(job_id) == "proposed"


@pytest.mark.parametrize("edit", ["change", "drop_first", "swap", "garbage"])
def test_an_edited_decisions_log_is_reported_with_its_line(tmp_path: Path, edit: str) -> None:
    store = JobStore(tmp_path / "jobs")
    ids = [_make(store) for _ in range(3)]
    for job_id in ids:
        store.transition(job_id, "aborted", by="ana")
    lines = store.decisions_path.read_bytes().splitlines(keepends=True)
    if edit == "change":
        lines[1] = lines[1].replace(b'"by":"ana"', b'"by":"bob"').replace(b'"by": "ana"', b'"by": "bob"')
    elif edit == "drop_first":
        lines = lines[1:]
    elif edit == "swap":
        lines[0], lines[1] = lines[1], lines[0]
    else:
        lines.insert(1, b"[]\n")
    store.decisions_path.write_bytes(b"".join(lines))
    with pytest.raises(JobError, match=r"was altered at line \d"):
        store.decisions()
    with pytest.raises(JobError, match="was altered"):
        store.transition(ids[0], "approved", by="ana")


def test_derive_state_prefers_the_apply_history() -> None:
    from calpolicy.jobs import derive_state

    job = "cal_20261128_093005"
    begin = {"phase": "begin", "id": "1", "event": "approve", "from": "A", "to": job}
    done = {"phase": "done", "id": "1"}
    back = [{"phase": "begin", "id": "2", "event": "rollback", "from": job, "to": "A"}, {"phase": "done", "id": "2"}]
    proposed = {"state": "proposed"}
    assert derive_state(job, proposed, [], []) == "proposed"
    assert derive_state(job, proposed, [], [begin]) == "proposed"  # interrupted before done: not applied
    assert derive_state(job, proposed, [], [begin, done]) == "applied"
    assert derive_state(job, proposed, [], [begin, done, *back]) == "rolled_back"
    assert derive_state(job, proposed, [{"job_id": job, "state": "approved"}], []) == "approved"
    assert derive_state(job, {"state": "applied"}, [], []) == "applied"  # edited forward: blocks, never opens
    with pytest.raises(JobError, match="unknown state 'weird'"):
        derive_state(job, {"state": "weird"}, [], [])


_ABORT_ALL = """
import sys
from calpolicy.jobs import JobStore
store = JobStore(sys.argv[1])
print("ready", flush=True)
for job_id in sorted(store.ids()):
    store.transition(job_id, "aborted", by="ana")
"""


def test_sigkill_while_recording_decisions_leaves_a_readable_chain(tmp_path: Path) -> None:
    """Children recording decisions are killed with SIGKILL at random moments: the chain always reads,
    every job's state is the log's, and the next decision can be recorded."""
    store = JobStore(tmp_path / "jobs")
    ids = [_make(store) for _ in range(40)]
    rng = random.Random(21)
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", _ABORT_ALL, str(store.jobs_dir)], stdout=subprocess.PIPE)
        assert child.stdout is not None
        child.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        decided = {d["job_id"] for d in store.decisions()}
        assert all(store.state(j) == ("aborted" if j in decided else "proposed") for j in ids)
    # a torn tail (a write cut short) is ignored and cut before the next decision
    with store.decisions_path.open("ab") as handle:
        handle.write(b'{"job_id": "cal_2026')
    extra = _make(store, datetime.now(UTC))
    store.transition(extra, "aborted", by="ana")
    assert store.decisions()[-1]["job_id"] == extra
    assert store.state(extra) == "aborted"


def test_derive_state_edges() -> None:
    """Only a *completed rollback* leaves a job; an approve of another job over it does not; a manifest
    without a state is proposed; an abort wins over any other record."""
    from calpolicy.jobs import derive_state

    job = "cal_20261128_093005"
    applied = [{"phase": "begin", "id": "1", "event": "approve", "from": "A", "to": job}, {"phase": "done", "id": "1"}]
    over = [{"phase": "begin", "id": "2", "event": "approve", "from": job, "to": "B"}, {"phase": "done", "id": "2"}]
    half = [{"phase": "begin", "id": "3", "event": "rollback", "from": job, "to": "A"}]
    other = [{"phase": "begin", "id": "4", "event": "rollback", "from": "B", "to": "A"}, {"phase": "done", "id": "4"}]
    earlier = [{"phase": "begin", "id": "0", "event": "rollback", "from": job, "to": "A"}, {"phase": "done", "id": "0"}]
    assert derive_state(job, {}, [], applied + over) == "applied"  # superseded, not rolled back
    assert derive_state(job, {}, [], applied + half) == "applied"  # a rollback that never completed
    assert derive_state(job, {}, [], applied + other) == "applied"  # another version's rollback
    assert derive_state(job, {}, [], earlier + applied) == "applied"  # only what came after the apply counts
    assert derive_state(job, {}, [], []) == "proposed"
    assert derive_state(job, {"state": "aborted"}, [{"job_id": job, "state": "rolled_back"}], []) == "aborted"
    assert derive_state(job, {"state": "proposed"}, [{"job_id": "cal_x", "state": "aborted"}], []) == "proposed"


def test_state_uses_the_manifest_it_is_given_and_names_an_unreadable_history(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs", tmp_path / "history.jsonl")
    job_id = _make(store)
    assert store.state(job_id, {"state": "aborted"}) == "aborted"  # approve judges the bytes it read
    os.mkfifo(tmp_path / "history.jsonl")
    with pytest.raises(JobError, match=r"^cannot read the apply history: .*history\.jsonl: is a FIFO"):
        store.state(job_id)


def test_the_edited_line_is_named_and_the_last_line_carries_its_own_digest(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    ids = [_make(store) for _ in range(3)]
    for job_id in ids:
        store.transition(job_id, "aborted", by="ana")
    lines = store.decisions_path.read_bytes().splitlines(keepends=True)
    edited = lines[2].replace(b"ana", b"bob")
    store.decisions_path.write_bytes(b"".join([*lines[:2], edited]))  # the last line: no later link to break
    with pytest.raises(JobError, match=r"was altered at line 3: .*job states cannot be trusted until it is restored"):
        store.decisions()
    store.decisions_path.write_bytes(b"".join([lines[0], lines[1].replace(b"ana", b"bob"), lines[2]]))
    with pytest.raises(JobError, match=r"altered at line 2:"):
        store.decisions()


def test_an_unreadable_decisions_log_is_a_clear_error(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    os.mkfifo(store.decisions_path)
    with pytest.raises(JobError, match=r"^cannot read the decisions log .*: is a FIFO"):
        store.state(job_id)
    with pytest.raises(JobError, match=r"^cannot read the decisions log .*: is a FIFO"):
        store.transition(job_id, "aborted", by="ana")


def test_read_job_files_reads_every_regular_file_and_names_the_rest(tmp_path: Path) -> None:
    from calpolicy.jobs import MAX_JOB_BYTES, read_job_files

    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    folder = store.jobs_dir / job_id
    files = read_job_files(folder)
    assert files.job_id == job_id
    assert files.folder == folder
    assert files.files == {**FILES, MANIFEST: _manifest(job_id)}
    assert files.odd == {}
    assert files.get("proposal.json") == FILES["proposal.json"]
    assert files.get("absent") is None
    (folder / "statement.sig").symlink_to("/dev/zero")
    (folder / "sub").mkdir()
    os.mkfifo(folder / "pipe")
    (folder / "locked").write_bytes(b"x")
    os.chmod(folder / "locked", 0)
    big = folder / "report.html"
    with big.open("wb") as handle:
        handle.truncate(MAX_JOB_BYTES // 2 + 1)  # over a job file's cap: named, never read
    os.truncate(folder / "proposal.json", 0)
    with (folder / "manifest.json").open("r+b") as handle:
        handle.truncate(8 * 1024 * 1024 + 1)
    files = read_job_files(folder)
    assert files.odd["statement.sig"] == "is a symbolic link"
    assert files.odd["sub"] == "is a folder"
    assert files.odd["pipe"] == "is a FIFO (named pipe)"
    assert files.odd["manifest.json"].startswith("is 8388609 bytes, more than the 8388608 allowed for a manifest")
    assert files.get("proposal.json") == b""
    assert files.odd["report.html"] == "is 268435457 bytes, more than the 268435456 allowed for a job file"
    assert "locked" in files.files  # root reads a mode-000 file; the point is that it was read, not skipped
    sig = folder / "statement.json"
    with sig.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)  # a statement's cap is 64 MiB, not a report's 256 MiB
    assert read_job_files(folder).odd["statement.json"].endswith("allowed for a statement file")
    total = sum(len(v) for v in read_job_files(folder).files.values())
    assert read_job_files(folder, limit=total).files  # exactly at the folder's limit: read
    with pytest.raises(JobError, match=rf"holds more than {total - 1} bytes; refusing to read it"):
        read_job_files(folder, limit=total - 1)
    with pytest.raises(JobError, match=r"cannot read the job folder: .* does not exist"):
        read_job_files(tmp_path / "nowhere")
