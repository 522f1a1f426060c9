"""jobs.py, all of it, in-process on real folders (issue 21 §5: mutation testing).

``test_jobs.py`` holds the end-to-end trials (SIGKILL at random moments, full and read-only disks, a new
process reading the store); these pin what each function says and writes, at its edges, fast enough to run
against every mutant. Messages are compared whole: they are what the operator reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from calpolicy import jobs
from calpolicy.jobs import (
    GENESIS,
    MANIFEST,
    MANIFEST_SCHEMA,
    JobError,
    JobStore,
    canonical_json,
    derive_state,
    read_decisions,
    read_job_files,
    sha256_hex,
    unfinished_apply,
    utc_now_iso,
    validate_job_id,
    write_file_durably,
)

WHEN = datetime(2026, 11, 28, 9, 30, 5, tzinfo=UTC)
JOB = "cal_20261128_093005"


def _manifest(job_id: str, **extra: object) -> bytes:
    doc = {"schema": MANIFEST_SCHEMA, "job_id": job_id, "state": "proposed", "operator": "ana",
           "history": [{"state": "proposed", "by": "ana", "at": "2026-11-28T09:30:05+00:00", "note": ""}]}  # fmt: skip
    doc.update(extra)
    return json.dumps(doc).encode()


def _make(store: JobStore, when: datetime = WHEN) -> str:
    pending = store.begin(when)
    pending.write("proposal.json", b"{}")
    pending.write(MANIFEST, _manifest(pending.job_id))
    store.commit(pending)
    return pending.job_id


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _message(raised: pytest.ExceptionInfo[BaseException]) -> str:
    return str(raised.value)


# ------------------------------------------------------------------------------------------------ IDs


@pytest.mark.parametrize("good", [JOB, f"{JOB}_1", f"{JOB}_999", f"{JOB}_07"])
def test_a_well_formed_id_is_returned_as_it_is(good: str) -> None:
    assert validate_job_id(good) == good


@pytest.mark.parametrize("bad", ["a/b", "a\\b", "..", "x\x00", "cal_20261128_093005/", "cal_20261128_..093005"])
def test_a_path_like_id_is_refused_saying_why(bad: str) -> None:
    with pytest.raises(JobError) as raised:
        validate_job_id(bad)
    assert _message(raised) == f"invalid job ID {bad!r}: it must not contain '/', '..' or NUL"


@pytest.mark.parametrize("bad", ["", f"{JOB}_1000", f"{JOB}_", f"x{JOB}", f"{JOB}x", "cal_2026112_093005", f"{JOB}\n"])
def test_a_malformed_id_is_refused_with_the_expected_shape(bad: str) -> None:
    with pytest.raises(JobError) as raised:
        validate_job_id(bad)
    assert _message(raised) == f"invalid job ID {bad!r}: expected cal_YYYYMMDD_HHMMSS with an optional _N suffix"


@pytest.mark.parametrize("bad", [7, None, b"cal_20261128_093005"])
def test_an_id_that_is_not_text_is_refused(bad: object) -> None:
    with pytest.raises(JobError) as raised:
        validate_job_id(bad)  # type: ignore[arg-type]
    assert _message(raised) == f"a job ID must be text, got {type(bad).__name__}"


# ------------------------------------------------------------------------------------------- helpers


def test_the_small_helpers_say_exactly_what_they_promise(tmp_path: Path) -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", utc_now_iso())
    assert canonical_json({"b": [1, 2.5], "a": "é"}) == '{"a":"é","b":[1,2.5]}'
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"x": float("inf")})
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    target = tmp_path / "f"
    write_file_durably(target, b"data\n")
    assert target.read_bytes() == b"data\n"
    with pytest.raises(FileExistsError):
        write_file_durably(target, b"other")
    assert target.read_bytes() == b"data\n"


def test_unfinished_apply_is_applied_in_the_history_but_approved_in_the_manifest() -> None:
    assert unfinished_apply("applied", {"state": "approved"}) is True
    assert unfinished_apply("applied", {"state": "applied"}) is False
    assert unfinished_apply("approved", {"state": "approved"}) is False
    assert unfinished_apply("applied", {}) is False


# ------------------------------------------------------------------------------------------ creating


def test_begin_claims_a_hidden_folder_named_for_the_utc_second(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "deep" / "jobs")
    oslo = timezone(timedelta(hours=1))
    pending = store.begin(datetime(2026, 11, 28, 10, 30, 5, tzinfo=oslo))
    assert pending.job_id == JOB
    assert pending.store is store
    assert pending.tmp_dir == store.jobs_dir / f".{JOB}.tmp"
    assert pending.final_dir == store.jobs_dir / JOB
    assert sorted(p.name for p in pending.tmp_dir.iterdir()) == [".owner"]
    assert (pending.tmp_dir / ".owner").read_bytes() == f"{os.getpid()}\n".encode()
    assert sorted(p.name for p in store.jobs_dir.iterdir()) == [f".{JOB}.tmp"]  # no claim folder left


def test_begin_without_a_time_uses_now(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    before = datetime.now(UTC).replace(microsecond=0)
    pending = store.begin()
    after = datetime.now(UTC)
    stamp = datetime.strptime(pending.job_id, "cal_%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    assert before <= stamp <= after


def test_begin_skips_names_held_by_finished_or_pending_jobs(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    first = store.begin(WHEN)  # pending, owned by this live process
    (store.jobs_dir / f"{JOB}_1").mkdir()  # a finished job
    second = store.begin(WHEN)
    assert (first.job_id, second.job_id) == (JOB, f"{JOB}_2")
    assert first.tmp_dir.is_dir()
    assert (first.tmp_dir / ".owner").is_file()


def test_begin_gives_up_after_999_suffixes_and_leaves_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    store.jobs_dir.mkdir()
    for n in range(1000):
        (store.jobs_dir / (JOB if n == 0 else f"{JOB}_{n}")).mkdir()
    with pytest.raises(JobError) as raised:
        store.begin(WHEN)
    assert _message(raised) == f"more than 999 jobs started in the second {JOB}; try again"
    assert not [p for p in store.jobs_dir.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    os.rmdir(store.jobs_dir / f"{JOB}_999")
    assert store.begin(WHEN).job_id == f"{JOB}_999"


def test_begin_names_a_jobs_folder_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "jobs").write_text("a file")
    with pytest.raises(JobError) as raised:
        JobStore(tmp_path / "jobs").begin(WHEN)
    assert _message(raised) == f"cannot create the jobs folder {tmp_path / 'jobs'}: File exists"


def test_begin_sweeps_dead_runs_first(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    dead = store.jobs_dir / f".{JOB}.tmp"
    dead.mkdir(parents=True)
    (dead / ".owner").write_text(f"{_dead_pid()}\n")
    assert store.begin(WHEN).job_id == JOB  # the dead run's name is free again


def test_pending_write_adds_plain_files_whole(tmp_path: Path) -> None:
    pending = JobStore(tmp_path / "jobs").begin(WHEN)
    path = pending.write("report.md", "GO — é\n")
    assert path == pending.tmp_dir / "report.md"
    assert path.read_bytes() == "GO — é\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    pending.write("report.md", b"again")
    assert path.read_bytes() == b"again"
    for bad in ("a/b", ".hidden", "", "/abs"):
        with pytest.raises(JobError) as raised:
            pending.write(bad, b"x")
        assert _message(raised) == f"a job file name must be a plain name, got {bad!r}"
    pending.abandon()
    assert not pending.tmp_dir.exists()
    pending.abandon()  # twice: nothing left to remove, no error


def test_commit_publishes_without_the_owner_marker(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    pending = store.begin(WHEN)
    pending.write("proposal.json", b"{}")
    with pytest.raises(JobError) as raised:
        store.commit(pending)
    assert _message(raised) == f"job {JOB} has no manifest.json; refusing to publish it"
    pending.write(MANIFEST, _manifest(JOB))
    assert store.commit(pending) == store.jobs_dir / JOB
    assert sorted(p.name for p in (store.jobs_dir / JOB).iterdir()) == [MANIFEST, "proposal.json"]
    assert sorted(p.name for p in store.jobs_dir.iterdir()) == [".lock", JOB]


def test_commit_onto_a_name_taken_meanwhile_is_refused(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    pending = store.begin(WHEN)
    pending.write(MANIFEST, _manifest(JOB))
    (store.jobs_dir / JOB).mkdir()
    (store.jobs_dir / JOB / "x").write_text("someone else's")
    with pytest.raises(JobError) as raised:
        store.commit(pending)
    assert _message(raised) == f"cannot publish job {JOB} in {store.jobs_dir}: Directory not empty"


def test_commit_of_a_manifest_folder_is_refused(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    pending = store.begin(WHEN)
    (pending.tmp_dir / MANIFEST).mkdir()
    with pytest.raises(JobError, match=r"has no manifest\.json"):
        store.commit(pending)


# -------------------------------------------------------------------------------------------- sweeping


def test_sweep_removes_only_our_temp_folders_of_dead_runs(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    store.jobs_dir.mkdir()
    dead = _dead_pid()

    def folder(name: str, owner: str | None) -> Path:
        path = store.jobs_dir / name
        path.mkdir()
        if owner is not None:
            (path / ".owner").write_text(owner)
        return path

    gone = [
        folder(f".{JOB}.tmp", f"{dead}\n"),
        folder(f".{JOB}_1.tmp", None),  # lost its owner file: died inside commit
        folder(f".{JOB}_2.tmp", "not a pid"),
        folder(f".claim-{dead}-ab12cd34.tmp", f"{os.getpid()}\n"),  # the name, not the file, says whose
    ]
    kept = [
        folder(f".{JOB}_3.tmp", f"{os.getpid()}\n"),
        folder(f".{JOB}_4.tmp", "1\n"),  # init: alive
        folder(f".claim-{os.getpid()}-00000000.tmp", None),
        folder(f".other_{JOB}.tmp", f"{dead}\n"),
        folder(f"{JOB}.tmp", f"{dead}\n"),
        folder(f".{JOB}.tmp.old", f"{dead}\n"),
        folder(JOB, None),
    ]
    assert sorted(store.sweep()) == sorted(gone)
    assert sorted(p for p in store.jobs_dir.iterdir() if p.name != ".lock") == sorted(kept)
    assert store.sweep() == []


def test_sweep_with_nothing_to_sweep_takes_no_lock(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    assert store.sweep() == []  # no folder at all
    store.jobs_dir.mkdir()
    (store.jobs_dir / JOB).mkdir()
    assert store.sweep() == []
    assert not (store.jobs_dir / ".lock").exists()


# -------------------------------------------------------------------------------------------- reading


def test_path_and_manifest_name_what_is_wrong(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    assert store.path(job_id) == store.jobs_dir / job_id
    assert store.manifest(job_id)["job_id"] == job_id
    other = "cal_20261128_093006"
    with pytest.raises(JobError) as raised:
        store.path(other)
    assert _message(raised) == f"no job {other} in {store.jobs_dir}"
    path = store.jobs_dir / job_id / MANIFEST
    cases = [
        (b"{not json", f"{path} is not valid JSON: "),
        (b"[" * 100_000, f"{path} is not valid JSON: "),
        (b"[]", f"{path} is not a calpolicy manifest (calpolicy.manifest/1)"),
        (json.dumps({"job_id": job_id}).encode(), f"{path} is not a calpolicy manifest (calpolicy.manifest/1)"),
        (_manifest(job_id, schema="calpolicy.manifest/2"), f"{path} is not a calpolicy manifest ({MANIFEST_SCHEMA})"),
        (_manifest(other), f"{path} names job {other!r}, not {job_id!r}"),
    ]
    for data, message in cases:
        path.write_bytes(data)
        with pytest.raises(JobError) as raised:
            store.manifest(job_id)
        assert _message(raised).startswith(message)
        if not message.endswith(": "):
            assert _message(raised) == message
    with path.open("wb") as handle:
        handle.truncate(8 * 1024 * 1024 + 1)
    with pytest.raises(JobError) as raised:
        store.manifest(job_id)
    assert _message(raised) == (
        f"cannot read {path}: {path}: is 8388609 bytes, more than the 8388608 allowed for a manifest file"
    )


def test_ids_lists_only_visible_jobs_newest_first(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    assert store.ids() == []
    assert store.list() == []
    assert store.latest() is None
    assert store.problems() == {}
    made = [_make(store) for _ in range(12)] + [_make(store, WHEN + timedelta(seconds=1))]
    (store.jobs_dir / "cal_20261128_093007").write_text("a file, not a job")
    (store.jobs_dir / "notes").mkdir()
    store.begin(WHEN + timedelta(seconds=5))  # pending: hidden
    expected = ["cal_20261128_093006", *[f"{JOB}_{n}" for n in range(11, 0, -1)], JOB]
    assert store.ids() == expected
    assert sorted(made) == sorted(expected)
    assert [m["job_id"] for m in store.list()] == expected
    assert store.latest()["job_id"] == "cal_20261128_093006"  # type: ignore[index]


def test_list_leaves_out_and_problems_name_the_unreadable(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    good, bad = _make(store), _make(store)
    (store.jobs_dir / bad / MANIFEST).write_bytes(b"[]")
    assert [m["job_id"] for m in store.list()] == [good]
    path = store.jobs_dir / bad / MANIFEST
    assert store.problems() == {bad: f"{path} is not a calpolicy manifest (calpolicy.manifest/1)"}
    assert store.latest()["job_id"] == good  # type: ignore[index]


def test_a_jobs_path_that_is_a_file_cannot_be_listed(tmp_path: Path) -> None:
    (tmp_path / "jobs").write_text("x")
    with pytest.raises(JobError) as raised:
        JobStore(tmp_path / "jobs").ids()
    assert _message(raised) == f"cannot list {tmp_path / 'jobs'}: Not a directory"


# -------------------------------------------------------------------------------- changing and recording


def test_transition_records_who_when_and_why_and_rewrites_the_manifest(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    manifest = store.transition(job_id, "approved", "kari", note="reviewed", approval={"by": "kari"})
    on_disk = (store.jobs_dir / job_id / MANIFEST).read_bytes()
    assert on_disk == (json.dumps(manifest, indent=2) + "\n").encode()
    assert manifest["state"] == "approved"
    assert manifest["approval"] == {"by": "kari"}
    entry = manifest["history"][-1]
    assert set(entry) == {"state", "by", "at", "note"}
    assert (entry["state"], entry["by"], entry["note"]) == ("approved", "kari", "reviewed")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", entry["at"])
    (decision,) = store.decisions()
    assert decision == {**entry, "job_id": job_id, "prev": GENESIS, "sha256": decision["sha256"]}
    line = store.decisions_path.read_bytes()
    assert line == json.dumps(decision, sort_keys=True).encode() + b"\n"
    body = {k: v for k, v in decision.items() if k != "sha256"}
    assert decision["sha256"] == hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    assert stat.S_IMODE(store.decisions_path.stat().st_mode) == 0o644
    store.transition(job_id, "applied", 7)  # who: any value, as text; no note: an empty one
    second = store.decisions()[1]
    assert (second["by"], second["note"], second["prev"]) == ("7", "", hashlib.sha256(line[:-1]).hexdigest())
    assert store.state(job_id) == "applied"


@pytest.mark.parametrize("who", ["", " ", "\t\n", None])
def test_a_state_change_must_name_who(tmp_path: Path, who: object) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    with pytest.raises(JobError) as raised:
        store.transition(job_id, "aborted", who)  # type: ignore[arg-type]
    assert _message(raised) == "a state change must name who made it"
    assert not store.decisions_path.exists()


def test_a_state_change_cannot_set_its_own_history(tmp_path: Path) -> None:
    """(``state`` and ``job_id`` cannot even be passed: they are the method's own parameters.)"""
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    with pytest.raises(JobError) as raised:
        store.transition(job_id, "aborted", "ana", history=[])
    assert _message(raised) == "state, history and job_id are set by the transition itself"


@pytest.mark.parametrize(
    ("path", "target", "allowed"),
    [([], "applied", "approved, aborted"), ([], "rolled_back", "approved, aborted"),
     (["aborted"], "approved", "none"), (["approved"], "aborted", "applied"), (["approved"], "approved", "applied"),
     (["approved", "applied"], "approved", "rolled_back"),
     (["approved", "applied", "rolled_back"], "applied", "none")],
)  # fmt: skip
def test_only_the_state_machines_moves_are_allowed(tmp_path: Path, path: list[str], target: str, allowed: str) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    for state in path:
        store.transition(job_id, state, "ana")
    current = path[-1] if path else "proposed"
    with pytest.raises(JobError) as raised:
        store.transition(job_id, target, "ana")
    assert _message(raised) == f"job {job_id} is {current}; it cannot become {target} (allowed: {allowed})"
    assert len(store.decisions()) == len(path)


def test_transition_of_an_unknown_job_is_refused_before_recording(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    _make(store)
    with pytest.raises(JobError, match="no job cal_20261128_093009"):
        store.transition("cal_20261128_093009", "aborted", "ana")
    assert not store.decisions_path.exists()


def test_finish_only_mirrors_a_decision_already_recorded(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    store._record({"job_id": job_id, "state": "approved", "by": "kari", "at": "t", "note": ""})  # killed after it
    log = store.decisions_path.read_bytes()
    manifest = store.finish(job_id, "approved", "kari", note="finished", approval={"by": "kari"})
    assert store.decisions_path.read_bytes() == log  # not recorded twice
    assert manifest["state"] == "approved"
    assert manifest["approval"] == {"by": "kari"}
    entry = manifest["history"][-1]
    assert (entry["state"], entry["by"], entry["note"]) == ("approved", "kari", "finished")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", entry["at"])
    assert [h["state"] for h in manifest["history"]] == ["proposed", "approved"]
    assert (store.jobs_dir / job_id / MANIFEST).read_bytes() == (json.dumps(manifest, indent=2) + "\n").encode()
    # a decision not yet recorded is a transition: recorded and mirrored
    manifest = store.finish(job_id, "applied", 5, applied_version="v2")
    assert [d["state"] for d in store.decisions()] == ["approved", "applied"]
    assert manifest["history"][-1]["by"] == "5"
    assert manifest["history"][-1]["note"] == ""
    assert manifest["applied_version"] == "v2"
    with pytest.raises(JobError, match="cannot become approved"):
        store.finish(job_id, "approved", "kari")  # not its last word any more: a transition, refused


def test_finish_mirrors_into_a_manifest_without_a_history(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    (store.jobs_dir / job_id / MANIFEST).write_bytes(_manifest(job_id, history=None))
    store._record({"job_id": job_id, "state": "aborted", "by": "kari", "at": "t", "note": ""})
    store._record({"job_id": "cal_20261128_093006", "state": "approved", "by": "kari", "at": "t", "note": ""})
    manifest = store.finish(job_id, "aborted", "kari")
    assert [h["state"] for h in manifest["history"]] == ["aborted"]
    assert manifest["history"][0]["note"] == ""


def test_record_cuts_a_torn_tail_before_appending(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    ids = [_make(store) for _ in range(2)]
    store.transition(ids[0], "aborted", "ana")
    whole = store.decisions_path.read_bytes()
    with store.decisions_path.open("ab") as handle:
        handle.write(b'{"job_id": "cal_2026')
    assert len(store.decisions()) == 1  # the torn tail is not an entry
    store.transition(ids[1], "aborted", "ana")
    data = store.decisions_path.read_bytes()
    assert data.startswith(whole)
    assert data.count(b"\n") == 2
    assert b'cal_2026"' not in data[len(whole) :]
    assert [d["job_id"] for d in store.decisions()] == ids
    assert store.decisions()[1]["prev"] == hashlib.sha256(whole[:-1]).hexdigest()


def test_record_after_a_torn_first_line_starts_the_chain_again(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    store.jobs_dir.joinpath(".decisions.jsonl").write_bytes(b'{"job_id": "torn')
    assert store.decisions() == []
    store.transition(job_id, "aborted", "ana")
    (decision,) = store.decisions()
    assert decision["prev"] == GENESIS
    assert store.decisions_path.read_bytes().count(b"\n") == 1


def test_record_refuses_a_log_it_cannot_write(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    store.decisions_path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(JobError) as raised:
        store.transition(job_id, "aborted", "ana")
    assert not (tmp_path / "elsewhere").exists()
    assert _message(raised).startswith(f"cannot read the decisions log {store.decisions_path}: ")


def test_record_refuses_a_folder_in_the_logs_place(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    store.decisions_path.mkdir()
    with pytest.raises(JobError) as raised:
        store._record({"job_id": job_id})
    assert _message(raised).startswith("cannot read the decisions log")


def test_a_lock_that_cannot_be_taken_is_named(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    (store.jobs_dir / ".lock").unlink()
    (store.jobs_dir / ".lock").mkdir()
    with pytest.raises(JobError) as raised:
        store.transition(job_id, "aborted", "ana")
    assert _message(raised) == f"cannot lock {store.jobs_dir}: Is a directory"


# ----------------------------------------------------------------------------------- the decisions log


def _chain(*bodies: dict) -> bytes:
    out, previous = b"", GENESIS
    for body in bodies:
        body = {**body, "prev": previous}
        line = json.dumps({**body, "sha256": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()})
        out += line.encode() + b"\n"
        previous = hashlib.sha256(line.encode()).hexdigest()
    return out


def test_read_decisions_checks_every_link_with_the_writers_digest(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    assert read_decisions(path) == []
    path.write_bytes(b"")
    assert read_decisions(path) == []
    data = _chain({"job_id": "a", "state": "aborted"}, {"job_id": "b", "state": "approved", "note": "é"})
    path.write_bytes(data)
    assert [d["job_id"] for d in read_decisions(path)] == ["a", "b"]
    path.write_bytes(data + b'{"job_id": "c"')  # torn tail: ignored
    assert len(read_decisions(path)) == 2
    for broken, line in [(data.replace(b'"b"', b'"c"'), 2), (b"\n" + data, 1), (data + b"null\n", 3),
                         (data + b"\xff\n", 3), (data + b"[" * 100_000 + b"\n", 3)]:  # fmt: skip
        path.write_bytes(broken)
        with pytest.raises(JobError) as raised:
            read_decisions(path)
        assert _message(raised) == (
            f"the decisions log {path} was altered at line {line}: it does not chain to the line before; "
            "job states cannot be trusted until it is restored"
        )
    first = data.split(b"\n")[0]
    entry = json.loads(first)
    entry["prev"] = "f" * 64
    body = {k: v for k, v in entry.items() if k != "sha256"}
    entry["sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    path.write_bytes(json.dumps(entry).encode() + b"\n")  # its own digest is right, its link is not
    with pytest.raises(JobError, match="altered at line 1"):
        read_decisions(path)


def test_the_store_extends_the_chain_it_reads(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    store.decisions_path.write_bytes(_chain({"job_id": "x", "state": "aborted"}))
    store.transition(job_id, "aborted", "ana")
    assert [d["job_id"] for d in store.decisions()] == ["x", job_id]
    store.decisions_path.write_bytes(_chain({"job_id": "x"}).replace(b'"x"', b'"y"'))
    with pytest.raises(JobError, match="altered at line 1"):
        store._record({"job_id": job_id})


# ------------------------------------------------------------------------------------- derived state


def _applied(job: str, n: str, done: bool = True, event: str = "approve", **who: str) -> list[dict]:
    begin = {"phase": "begin", "id": n, "event": event, "from": who.get("frm", "A"), "to": who.get("to", job)}
    return [begin, {"phase": "done", "id": n}] if done else [begin]


def test_derive_state_takes_the_last_completed_apply_and_what_followed_it() -> None:
    apply1 = _applied(JOB, "1")
    back = _applied(JOB, "2", event="rollback", frm=JOB, to="A")
    apply2 = _applied(JOB, "3")
    assert derive_state(JOB, {}, [], apply1 + back + apply2) == "applied"  # applied again after a rollback
    assert derive_state(JOB, {}, [], apply1 + back) == "rolled_back"
    assert derive_state(JOB, {}, [], apply1 + back + _applied(JOB, "4", done=False)) == "rolled_back"
    assert derive_state(JOB, {}, [], _applied(JOB, "1", to="B")) == "proposed"
    assert derive_state(JOB, {}, [], _applied(JOB, "1", event="rollback")) == "proposed"


@pytest.mark.parametrize(
    ("decided", "manifest_state", "expected"),
    [([], None, "proposed"), ([], "", "proposed"), (["approved"], "proposed", "approved"),
     (["approved", "applied"], "approved", "applied"), (["applied", "rolled_back"], "applied", "rolled_back"),
     (["rolled_back"], "applied", "rolled_back"), (["approved"], "applied", "applied"),
     (["approved", "applied"], "proposed", "applied"), (["aborted"], "approved", "aborted"),
     ([], "aborted", "aborted"), (["rolled_back"], "aborted", "aborted")],
)  # fmt: skip
def test_derive_state_takes_the_furthest_record_and_an_abort_always(
    decided: list[str], manifest_state: str | None, expected: str
) -> None:
    decisions = [{"job_id": JOB, "state": s} for s in decided] + [{"job_id": "cal_x", "state": "aborted"}]
    assert derive_state(JOB, {"state": manifest_state}, decisions, []) == expected


def test_an_unknown_state_in_any_record_is_refused() -> None:
    odd = [{"job_id": JOB, "state": "weird"}, {"job_id": JOB, "state": "odd"}]
    with pytest.raises(JobError) as raised:
        derive_state(JOB, {"state": "approved"}, odd, [])
    assert _message(raised) == f"job {JOB} records an unknown state 'weird'"
    with pytest.raises(JobError) as raised:
        derive_state(JOB, {"state": "proposed"}, [{"job_id": JOB}], [])
    assert _message(raised) == f"job {JOB} records an unknown state 'None'"
    assert derive_state(JOB, {"state": "proposed"}, [{"job_id": "cal_y", "state": "weird"}], []) == "proposed"


def test_state_reads_the_apply_history_it_was_given(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    store = JobStore(tmp_path / "jobs", str(history))  # type: ignore[arg-type]
    job_id = _make(store)
    assert store.history == history
    assert JobStore(tmp_path / "jobs").history is None
    assert store.state(job_id) == "proposed"  # no history yet: not applied
    history.write_text("".join(json.dumps(e) + "\n" for e in _applied(job_id, "1")))
    assert store.state(job_id) == "applied"
    assert JobStore(tmp_path / "jobs").state(job_id) == "proposed"  # without the history: the records only


# ------------------------------------------------------------------------------------- reading a folder


def test_read_job_files_names_each_entry_it_will_not_read(tmp_path: Path) -> None:
    folder = tmp_path / JOB
    folder.mkdir()
    (folder / MANIFEST).write_bytes(b"{}")
    (folder / "statement.json").write_bytes(b"s")
    (folder / "link").symlink_to(folder / MANIFEST)
    files = read_job_files(str(folder))  # type: ignore[arg-type]
    assert files.job_id == JOB
    assert files.folder == folder
    assert files.files == {MANIFEST: b"{}", "statement.json": b"s"}
    assert files.odd == {"link": "is a symbolic link"}
    with (folder / "statement.sig").open("wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)
    assert read_job_files(folder).odd["statement.sig"] == (
        "is 67108865 bytes, more than the 67108864 allowed for a statement file"
    )
    with (folder / "statement").open("wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)  # not a statement file: a job file's cap
    assert "statement" in read_job_files(folder).files


def test_read_job_files_counts_the_whole_folder_against_its_limit(tmp_path: Path) -> None:
    folder = tmp_path / JOB
    folder.mkdir()
    for name, size in (("a", 10), ("b", 20), ("c", 5)):
        (folder / name).write_bytes(b"x" * size)
    assert len(read_job_files(folder, limit=35).files) == 3
    with pytest.raises(JobError) as raised:
        read_job_files(folder, limit=34)
    assert _message(raised) == f"the job folder {folder} holds more than 34 bytes; refusing to read it"
    assert len(read_job_files(folder).files) == 3
    assert jobs.MAX_JOB_BYTES == 512 << 20


def test_read_job_files_of_a_file_or_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(JobError) as raised:
        read_job_files(tmp_path / "file")
    assert _message(raised) == (
        f"cannot read the job folder: {tmp_path / 'file'}: is not a folder (a symbolic link or a file is in its place)"
    )


# ----------------------------------------------------------------------- after the first mutation run


def test_sweep_looks_at_every_entry_whatever_the_listing_order(tmp_path: Path) -> None:
    """Temp folders of dead runs among many folders that are not ours: each one goes, in any order."""
    store = JobStore(tmp_path / "jobs")
    store.jobs_dir.mkdir()
    dead = _dead_pid()
    gone = []
    for n in range(12):
        (store.jobs_dir / f"notes_{n}").mkdir()
        path = store.jobs_dir / f".{JOB}_{n + 1}.tmp"
        path.mkdir()
        (path / ".owner").write_text(f"{dead}\n")
        gone.append(path)
        (store.jobs_dir / f"cal_20261128_0930{10 + n}").mkdir()
    assert sorted(store.sweep()) == sorted(gone)
    assert not [p for p in store.jobs_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_sweep_whose_listing_went_stale_while_it_waited_for_the_lock_is_quiet(tmp_path: Path) -> None:
    """Two runs sweep at once: the second lists the dead folder, waits for the lock, and finds it gone."""
    store = JobStore(tmp_path / "jobs")
    dead = store.jobs_dir / f".{JOB}.tmp"
    dead.mkdir(parents=True)
    (dead / ".owner").write_text(f"{_dead_pid()}\n")
    stale = list(os.scandir(store.jobs_dir))
    assert JobStore(store.jobs_dir).sweep() == [dead]  # the other run got the lock first
    assert store._sweep_locked(stale) == [dead]  # no error: the folder is gone either way
    assert not dead.exists()


@contextlib.contextmanager
def _file_size_limit(size: int) -> Iterator[None]:
    """A real "disk full" for this process: writes past ``size`` bytes fail with EFBIG (or stop short)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_manifest_that_cannot_be_rewritten_is_named_and_left_whole(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    path = store.jobs_dir / job_id / MANIFEST
    path.write_bytes(_manifest(job_id, notes="n" * 3000))
    before = path.read_bytes()
    with _file_size_limit(1000), pytest.raises(JobError) as raised:
        store.transition(job_id, "aborted", "ana")
    assert _message(raised) == f"cannot update job {job_id}: File too large"
    assert path.read_bytes() == before
    assert store.state(job_id) == "aborted"  # the decision was recorded first: it counts
    with _file_size_limit(1000), pytest.raises(JobError) as raised:
        store.finish(job_id, "aborted", "ana")  # only the mirror is left to write
    assert _message(raised) == f"cannot update job {job_id}: File too large"
    assert path.read_bytes() == before
    assert store.finish(job_id, "aborted", "ana")["state"] == "aborted"
    assert len(store.decisions()) == 1


def test_a_decision_the_disk_takes_only_in_part_is_not_recorded(tmp_path: Path) -> None:
    """Regression: a write the kernel cut short (the disk filled mid-line) was taken as recorded."""
    store = JobStore(tmp_path / "jobs")
    first, second = _make(store), _make(store)
    store.transition(first, "aborted", "ana")
    size = store.decisions_path.stat().st_size
    manifest = (store.jobs_dir / second / MANIFEST).read_bytes()
    with _file_size_limit(size + 10), pytest.raises(JobError) as raised:
        store.transition(second, "aborted", "ana")
    where = re.escape(str(store.decisions_path))
    assert re.fullmatch(rf"cannot record the decision in {where}: the disk took only 10 of the line's \d+ bytes",
                        _message(raised))  # fmt: skip
    assert (store.jobs_dir / second / MANIFEST).read_bytes() == manifest
    assert [d["job_id"] for d in store.decisions()] == [first]
    with _file_size_limit(size), pytest.raises(JobError) as raised:
        store.transition(second, "aborted", "ana")
    assert _message(raised) == f"cannot record the decision in {store.decisions_path}: File too large"
    store.transition(second, "aborted", "ana")  # room again: the torn tail is cut, the chain goes on
    assert [d["job_id"] for d in store.decisions()] == [first, second]


def test_a_torn_tail_after_several_lines_is_cut_at_the_last_newline(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    ids = [_make(store) for _ in range(3)]
    store.transition(ids[0], "aborted", "ana")
    store.transition(ids[1], "aborted", "ana")
    with store.decisions_path.open("ab") as handle:
        handle.write(b'{"job_id": "cal_2026')
    store.transition(ids[2], "aborted", "ana")
    assert [d["job_id"] for d in store.decisions()] == ids


def test_same_second_ids_order_by_their_suffix_as_numbers() -> None:
    assert jobs._id_order(JOB) == ("cal_20261128_093005", 0)
    assert jobs._id_order(JOB) < jobs._id_order(f"{JOB}_1") < jobs._id_order(f"{JOB}_2") < jobs._id_order(f"{JOB}_10")
    assert jobs._id_order(f"{JOB}_999") < jobs._id_order("cal_20261128_093006")


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """The file system itself refuses changes (``chattr +i``; reads still work), also for root."""
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_decisions_log_that_cannot_be_opened_for_appending_is_named(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    first, second = _make(store), _make(store)
    store.transition(first, "aborted", "ana")
    manifest = (store.jobs_dir / second / MANIFEST).read_bytes()
    with _immutable(store.decisions_path), pytest.raises(JobError) as raised:
        store.transition(second, "aborted", "ana")
    assert _message(raised) == f"cannot record the decision in {store.decisions_path}: Operation not permitted"
    assert (store.jobs_dir / second / MANIFEST).read_bytes() == manifest
    assert store.state(second) == "proposed"


def test_a_jobs_folder_that_refuses_new_entries_is_named(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    with _immutable(store.jobs_dir), pytest.raises(JobError) as raised:
        store.begin(WHEN)
    assert _message(raised) == f"cannot create a job in {store.jobs_dir}: Operation not permitted"
    assert store.ids() == [job_id]
    pending = store.begin(WHEN)
    pending.write(MANIFEST, _manifest(pending.job_id))
    with _immutable(pending.tmp_dir), pytest.raises(JobError) as raised:
        store.commit(pending)  # the owner marker cannot be removed
    assert _message(raised) == f"cannot publish job {pending.job_id} in {store.jobs_dir}: Operation not permitted"
    assert store.ids() == [job_id]


def test_a_decision_holding_nan_is_an_altered_line_not_a_crash(tmp_path: Path) -> None:
    """Regression: a line with NaN (which json.loads takes) chained by a forger raised ValueError, not JobError."""
    path = tmp_path / "d.jsonl"
    body = {"job_id": JOB, "state": "aborted", "note": float("nan"), "prev": GENESIS}
    forged = {**body, "sha256": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()}
    path.write_bytes(json.dumps(forged).encode() + b"\n")
    with pytest.raises(JobError) as raised:
        read_decisions(path)
    assert _message(raised) == (
        f"the decisions log {path} was altered at line 1: it does not chain to the line before; "
        "job states cannot be trusted until it is restored"
    )


@pytest.mark.parametrize("history", ["absent", None])
def test_a_transition_keeps_the_history_and_starts_one_where_there_was_none(tmp_path: Path, history: object) -> None:
    """Regression: a manifest whose history is null raised TypeError (``*None``) instead of moving on."""
    store = JobStore(tmp_path / "jobs")
    job_id = _make(store)
    manifest = store.transition(job_id, "approved", "kari", note="ok")
    assert [(h["state"], h["by"], h["note"]) for h in manifest["history"]] == [("proposed", "ana", ""),
                                                                             ("approved", "kari", "ok")]  # fmt: skip
    doc = json.loads(_manifest(job_id))
    if history == "absent":
        del doc["history"]
    else:
        doc["history"] = None
    (store.jobs_dir / job_id / MANIFEST).write_text(json.dumps(doc))
    manifest = store.transition(job_id, "applied", "kari")
    assert [h["state"] for h in manifest["history"]] == ["applied"]


def test_a_claim_whose_owner_marker_is_gone_is_still_published(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    pending = store.begin(WHEN)
    pending.write(MANIFEST, _manifest(pending.job_id))
    (pending.tmp_dir / ".owner").unlink()
    assert store.commit(pending) == store.jobs_dir / JOB
    assert store.ids() == [JOB]


def test_the_job_id_is_the_utc_second_whatever_the_hosts_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert JobStore(tmp_path / "jobs").begin(WHEN).job_id == JOB
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_claim_that_cannot_be_written_is_removed(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    store.jobs_dir.mkdir()
    with _file_size_limit(1), pytest.raises(JobError) as raised:
        store.begin(WHEN)
    assert _message(raised) == f"cannot create a job in {store.jobs_dir}: File too large"
    assert list(store.jobs_dir.iterdir()) == []


def test_a_file_squatting_on_the_temp_name_is_reported_and_the_claim_removed(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    store.jobs_dir.mkdir()
    (store.jobs_dir / f".{JOB}.tmp").write_text("not a folder")
    with pytest.raises(JobError) as raised:
        store.begin(WHEN)
    assert _message(raised) == f"cannot create a job in {store.jobs_dir}: Not a directory"
    assert sorted(p.name for p in store.jobs_dir.iterdir()) == sorted([".lock", f".{JOB}.tmp"])
