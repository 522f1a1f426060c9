"""The apply history's abort line as the job state reads it (jobs/history.aborted, jobs.derive_state) and
``JobStore.transition``'s ``before_record`` hook, asserted in-process against their mutants.

Why: abort writes one line beside the live config so that a cut of the jobs folder cannot bring an aborted
job back (issue 21 §2). These pin which line counts (the job's own, phase ``abort``, the last one), what it
outranks (a manifest or log that says proposed or approved) and what it does not (a job whose version the
history shows went live), and that the hook runs after every check and before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from calpolicy.jobs import DECISIONS_FILE, JobError, JobStore, derive_state
from calpolicy.jobs import history as apply_history

JOB = "cal_20261101_120000"
OTHER = "cal_20261101_130000"


def abort_line(job: str = JOB, **extra: Any) -> dict[str, Any]:
    return {"id": "a", "phase": "abort", "event": "abort", "job_id": job, **extra}


APPLIED = [
    {"id": "p", "phase": "begin", "event": "approve", "to": JOB, "from": "none"},
    {"id": "p", "phase": "done"},
]


# ================================================================================ history.aborted


def test_aborted_finds_the_jobs_line_and_only_its_own() -> None:
    line = abort_line(by="bob")
    assert apply_history.aborted([line], JOB) is line
    assert apply_history.aborted([line], OTHER) is None
    assert apply_history.aborted([], JOB) is None


def test_aborted_returns_the_last_of_several_lines() -> None:
    first, last = abort_line(by="bob", note="one"), abort_line(by="carol", note="two")
    assert apply_history.aborted([first, abort_line(OTHER), last, {"id": "x", "phase": "done"}], JOB) is last


def test_only_an_abort_phase_counts() -> None:
    for phase in ("begin", "done", "unabort", None, "ABORT"):
        entries = [{"id": "a", "phase": phase, "event": "abort", "job_id": JOB}]
        assert apply_history.aborted(entries, JOB) is None, phase


def test_an_abort_line_of_another_job_does_not_count_even_beside_the_jobs_begin_line() -> None:
    entries = [{"id": "b", "phase": "begin", "event": "approve", "job_id": JOB}, abort_line(OTHER)]
    assert apply_history.aborted(entries, JOB) is None


def test_the_phase_name_is_abort() -> None:
    assert apply_history.ABORT == "abort"


# ================================================================================== derive_state


def test_the_historys_abort_line_outranks_a_proposed_or_approved_record() -> None:
    for manifest_state in ("proposed", "approved", None):
        for decisions in ([], [{"job_id": JOB, "state": "approved"}]):
            state = derive_state(JOB, {"state": manifest_state}, decisions, [abort_line()])
            assert state == "aborted", (manifest_state, decisions)


def test_another_jobs_abort_line_leaves_the_job_as_its_records_say() -> None:
    assert derive_state(JOB, {"state": "proposed"}, [], [abort_line(OTHER)]) == "proposed"
    assert derive_state(JOB, {"state": "approved"}, [], [abort_line(OTHER)]) == "approved"
    assert derive_state(JOB, {"state": "proposed"}, [], []) == "proposed"


def test_the_jobs_folders_own_abort_still_counts_without_a_history_line() -> None:
    assert derive_state(JOB, {"state": "proposed"}, [{"job_id": JOB, "state": "aborted"}], []) == "aborted"
    assert derive_state(JOB, {"state": "aborted"}, [], []) == "aborted"


def test_an_abort_line_does_not_undo_an_apply_the_history_records() -> None:
    """The version went live: an abort line (added later, by whoever may write the history) does not turn
    the live job into an aborted one; rollback, not abort, ends a live version."""
    assert derive_state(JOB, {"state": "applied"}, [], [*APPLIED, abort_line()]) == "applied"
    assert derive_state(JOB, {"state": "applied"}, [], [abort_line(), *APPLIED]) == "applied"


def test_a_rollback_the_log_recorded_survives_a_history_whose_rollback_lines_were_cut() -> None:
    decisions = [{"job_id": JOB, "state": "rolled_back"}]
    assert derive_state(JOB, {"state": "applied"}, decisions, APPLIED) == "rolled_back"
    assert derive_state(JOB, {"state": "applied"}, [], APPLIED) == "applied"
    rollback = [
        {"id": "r", "phase": "begin", "event": "rollback", "from": JOB, "to": "none"},
        {"id": "r", "phase": "done"},
    ]
    assert derive_state(JOB, {"state": "applied"}, [], [*APPLIED, *rollback]) == "rolled_back"


def test_an_unknown_state_is_refused_even_with_an_abort_line() -> None:
    with pytest.raises(JobError, match=f"^job {JOB} records an unknown state 'gone'$"):
        derive_state(JOB, {"state": "gone"}, [], [abort_line()])


# ============================================================================ transition(before_record=...)


def _store(tmp_path: Path) -> JobStore:
    jobs = tmp_path / "jobs"
    (jobs / JOB).mkdir(parents=True)
    manifest = {"schema": "calpolicy.manifest/1", "job_id": JOB, "state": "proposed", "history": []}
    (jobs / JOB / "manifest.json").write_text(json.dumps(manifest))
    return JobStore(jobs)


def test_before_record_gets_the_step_before_anything_is_written(tmp_path: Path) -> None:
    store = _store(tmp_path)
    seen: list[tuple[dict[str, str], bytes, str]] = []

    def hook(step: dict[str, str]) -> None:
        log = store.decisions_path
        seen.append((dict(step), log.read_bytes() if log.exists() else b"", store.manifest(JOB)["state"]))

    manifest = store.transition(JOB, "aborted", "bob", note="wrong data", before_record=hook)
    ((step, log_then, state_then),) = seen
    assert (step["state"], step["by"], step["note"]) == ("aborted", "bob", "wrong data")
    assert (log_then, state_then) == (b"", "proposed")  # nothing written yet when the hook ran
    assert manifest["history"][-1] == step  # the same step is what the jobs folder records
    (decision,) = store.decisions()
    assert {k: decision[k] for k in ("job_id", "state", "by", "at", "note")} == {"job_id": JOB, **step}


def test_a_hook_that_raises_leaves_the_jobs_folder_untouched(tmp_path: Path) -> None:
    store = _store(tmp_path)
    jobs = tmp_path / "jobs"
    manifest_before = (jobs / JOB / "manifest.json").read_bytes()

    def refuse(step: dict[str, str]) -> None:
        raise OSError(28, "no room")

    with pytest.raises(OSError, match="no room"):
        store.transition(JOB, "aborted", "bob", before_record=refuse)
    assert not (jobs / DECISIONS_FILE).exists() or (jobs / DECISIONS_FILE).read_bytes() == b""
    assert (jobs / JOB / "manifest.json").read_bytes() == manifest_before
    assert store.state(JOB) == "proposed"


def test_the_hook_is_not_called_when_a_check_refuses(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.transition(JOB, "aborted", "bob")
    calls: list[dict[str, str]] = []
    with pytest.raises(JobError, match=f"^job {JOB} is aborted; it cannot become aborted"):
        store.transition(JOB, "aborted", "carol", before_record=calls.append)
    with pytest.raises(JobError, match="must name who"):
        store.transition(JOB, "approved", " ", before_record=calls.append)
    assert calls == []


def test_without_a_hook_the_transition_still_records(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.transition(JOB, "approved", "alice")
    assert [d["state"] for d in store.decisions()] == ["approved"]


def test_a_manifest_history_that_is_not_a_list_is_refused_by_name_before_the_hook(tmp_path: Path) -> None:
    store = _store(tmp_path)
    path = tmp_path / "jobs" / JOB / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["history"] = 5
    path.write_text(json.dumps(manifest))
    calls: list[dict[str, str]] = []
    with pytest.raises(JobError) as refused:
        store.transition(JOB, "aborted", "bob", before_record=calls.append)
    assert str(refused.value) == f"job {JOB}'s manifest has a history that is int, not a list: damaged"
    assert calls == []
