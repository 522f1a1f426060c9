"""SIGKILL at random moments during approve and rollback: the live config is always the old or the new
bytes exactly, no archived config is ever lost, and the next command succeeds.

Each run forks a child (imports already done, so the kill lands inside the deploy step, not in start-up)
that runs the real ``approve_job`` / ``rollback`` on a real config folder; the parent kills it with
SIGKILL after a random delay drawn over the step's measured duration, then checks the invariants and
runs the next command in-process, which must succeed.

The site lives on tmpfs (/dev/shm) when there is one: a SIGKILL, unlike a power cut, does not depend on
fsync, and on disk the ~10 fsyncs of each command would make 400 commands take most of a minute. The
fsync order itself is exercised on disk by the other apply tests.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from calpolicy.apply.deploy import approve_job, read_live, rollback
from calpolicy.jobs import JobStore, derive_state, unfinished_apply
from calpolicy.jobs import history as apply_history
from unit_tests.deploy.site import Site, make_site

RUNS = 200


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _job_ids(n: int) -> list[str]:
    return [f"cal_20261101_{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}" for i in range(1, n + 1)]


def _next_command(site: Site, jobs: list[str], rng: random.Random) -> tuple[str, str | None]:
    live = read_live(site.paths)
    history = apply_history.read(site.paths.history)
    target = apply_history.rollback_target_of(history, live.version)
    if target is not None and rng.random() < 0.45:
        return "rollback", None
    # the job's state as every command derives it (jobs.derive_state), not the manifest's mirror: a job that
    # went live, lost its record to a kill and was then rolled back is rolled back, not approvable. The
    # decisions log and the apply history are read once per choice, not once per job (JobStore.state would
    # re-read and re-check both for every job scanned: quadratic, most of this test's time)
    store = JobStore(site.jobs, site.paths.history)
    decisions = store.decisions()

    def approvable(job: str) -> bool:
        manifest = store.manifest(job)
        state = derive_state(job, manifest, decisions, history)
        return state in ("proposed", "approved") or unfinished_apply(state, manifest)

    return "approve", next(j for j in jobs if approvable(j))


def _run(site: Site, command: tuple[str, str | None]) -> None:
    kind, job = command
    if kind == "approve":
        assert job is not None
        approve_job(site.config, job, "crash-test", wait=False, say=lambda _: None)
    else:
        rollback(site.config, "previous", "crash-test", wait=False, say=lambda _: None)


def _archive_contents(site: Site) -> dict[str, bytes]:
    folder = site.paths.archive_dir
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in folder.glob("*.json")}


def _killed_run(site: Site, command: tuple[str, str | None], delay: float) -> bool:
    """Run ``command`` in a forked child, SIGKILL it after ``delay`` s; True if it was still running."""
    pid = os.fork()
    if pid == 0:  # the child: run the step and leave without any clean-up of the parent's state
        code = 1
        try:
            _run(site, command)
            code = 0
        finally:
            os._exit(code)
    time.sleep(delay)
    done, status = os.waitpid(pid, os.WNOHANG)
    interrupted = done == 0
    if interrupted:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    else:
        assert os.waitstatus_to_exitcode(status) == 0, f"{command} failed in the child before the kill"
    return interrupted


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="calpolicy-crash-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_sigkill_at_random_moments_never_corrupts_or_loses(fast_dir: Path, proposal_json: str) -> None:
    site = make_site(fast_dir)
    jobs = _job_ids(RUNS + 5)
    for job in jobs:
        site.add_job(job, proposal_json)
    rng = random.Random(20261128)
    ever_live = {_sha(site.live.read_bytes())}
    archive_seen: dict[str, bytes] = {}

    _run(site, _next_command(site, jobs, rng))  # warm up: the first approve imports the bounds check
    ever_live.add(_sha(site.live.read_bytes()))
    started = time.perf_counter()
    _run(site, _next_command(site, jobs, rng))  # measure one step to spread the kills over its duration
    step = time.perf_counter() - started
    ever_live.add(_sha(site.live.read_bytes()))

    interrupted = 0
    for run in range(RUNS):
        before = site.live_bytes()
        history_before = len(apply_history.read(site.paths.history))
        command = _next_command(site, jobs, rng)
        interrupted += _killed_run(site, command, rng.uniform(0, step * 1.3))

        after = site.live_bytes()
        if after != before:  # the swap happened: it must be exactly what the command recorded it would write
            begins = [e for e in apply_history.read(site.paths.history)[history_before:] if e.get("phase") == "begin"]
            assert begins, f"run {run}: the live config changed with no history entry"
            expected = begins[-1]["to_sha256"]
            assert (None if after is None else _sha(after)) == expected, f"run {run}: live file is neither old nor new"
        if after is not None:
            ever_live.add(_sha(after))
        archive_now = _archive_contents(site)
        for name, data in archive_seen.items():
            assert archive_now.get(name) == data, f"run {run}: archived {name} was lost or changed"
        archive_seen = archive_now
        kept = {_sha(d) for d in archive_now.values()} | ({_sha(after)} if after is not None else set())
        assert ever_live <= kept, f"run {run}: a config that was live is neither live nor archived"

        next_command = _next_command(site, jobs, rng)
        _run(site, next_command)  # the next command succeeds: no stale lock, no stuck state
        live = site.live_bytes()
        if live is not None:
            ever_live.add(_sha(live))

    assert interrupted >= RUNS // 2, f"only {interrupted} of {RUNS} kills landed inside a running command"
    print(f"\n{RUNS} SIGKILL runs, {interrupted} interrupted mid-command; step ≈ {step * 1000:.0f} ms")
