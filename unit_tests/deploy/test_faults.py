"""Concurrency, a dead lock holder, a read-only config folder and a full disk: a clear error, nothing touched."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from calpolicy.apply.deploy import DeployError, approve_job, rollback
from calpolicy.apply.lock import ApplyLock, read_holder
from unit_tests.deploy.site import EXISTING_TOOL_FILE, Site, make_site

JOB = "cal_20261101_120000"


def _approve_when_told(
    config_dict: dict, go: multiprocessing.synchronize.Event, results: multiprocessing.Queue
) -> None:
    from calpolicy.vocabulary.config import Config

    go.wait()
    try:
        config = Config().with_overrides(config_dict, "test")
        approve_job(config, JOB, f"pid{os.getpid()}", wait=False, say=lambda _: None)
        results.put("ok")
    except DeployError as error:
        results.put(f"refused: {error}")
    except BaseException as error:  # anything else is a bug the test must show, not a silent dead worker
        results.put(f"crashed: {type(error).__name__}: {error}")
        raise


@pytest.mark.parametrize("attempt", range(3))
def test_two_approves_started_together_exactly_one_succeeds(tmp_path: Path, proposal_json: str, attempt: int) -> None:
    site = make_site(tmp_path)
    site.add_job(JOB, proposal_json)
    ctx = multiprocessing.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    overrides = {f"paths.{k}": str(v) for k, v in site.config.paths.model_dump().items() if isinstance(v, (str, Path))}
    workers = [ctx.Process(target=_approve_when_told, args=(overrides, go, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(0.2)
    go.set()
    outcomes = sorted(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes[0] == "ok", outcomes
    assert outcomes[1].startswith("refused: "), outcomes
    assert "locked by pid" in outcomes[1] or f"job {JOB} is applied" in outcomes[1]
    assert site.manifest(JOB)["state"] == "applied"
    assert [h["state"] for h in site.manifest(JOB)["history"]] == ["proposed", "approved", "applied"]


def test_a_lock_left_by_a_killed_holder_is_taken_over_and_said(tmp_path: Path, proposal_json: str) -> None:
    site = make_site(tmp_path)
    site.add_job(JOB, proposal_json)
    pid = os.fork()
    if pid == 0:
        try:
            with ApplyLock(site.live.parent, "dave", "calpolicy rollback"):
                time.sleep(60)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while (read_holder(site.live.parent) or {}).get("pid") != pid and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(DeployError, match=rf"locked by dave running `calpolicy rollback` since .*\(PID {pid} "):
        approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    said: list[str] = []
    approve_job(site.config, JOB, "alice", wait=False, say=said.append)
    assert any(f"PID {pid}" in line and "died mid-command" in line for line in said), said


@contextlib.contextmanager
def tmpfs(where: Path, size: str, inodes: int | None = None) -> Iterator[Path]:
    """A real small filesystem, ``inodes`` files at most if given (root only, as CI runs); a missing
    privilege fails the test, never skips it."""
    where.mkdir(parents=True)
    options = f"size={size}" if inodes is None else f"size={size},nr_inodes={inodes}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _site_on(folder: Path, proposal_json: str) -> Site:
    site = make_site(folder)
    site.add_job(JOB, proposal_json)
    return site


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_read_only_config_folder_is_a_clear_error(tmp_path: Path, proposal_json: str) -> None:
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        site = _site_on(mnt, proposal_json)
        approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)  # archive + history exist
        before = _snapshot(mnt)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with pytest.raises(DeployError, match=r"Read-only file system; the live config was not changed"):
            rollback(site.config, by="bob", wait=False, say=lambda _: None)
        assert _snapshot(mnt) == before


def _fill(folder: Path, leave: int) -> None:
    """Fill the filesystem, then give back ``leave`` bytes (tmpfs counts whole pages)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 4096)
    os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))


@pytest.mark.parametrize("leave", [0, 16 * 1024])
def test_full_disk_is_a_clear_error_and_leaves_the_live_config(tmp_path: Path, proposal_json: str, leave: int) -> None:
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        site = _site_on(mnt / "site", proposal_json)
        _fill(mnt, leave)
        with pytest.raises(DeployError, match=r"No space left on device; the live config was not changed"):
            approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)
        assert site.live.read_bytes() == EXISTING_TOOL_FILE.read_bytes()
        assert not [p for p in site.live.parent.iterdir() if p.name.startswith(".calpolicy-tmp-")]
        (mnt / "filler").unlink()
        if site.manifest(JOB)["state"] == "approved":  # the disk filled up after the approval was recorded
            approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)  # resumes cleanly
        else:
            approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)
        assert site.manifest(JOB)["state"] == "applied"
