"""`run` with a calibration that starts a process: a STOP in the checklist's words, no job, nothing started.

The run is real (a local environment with systemd, the real preflight, the real sandbox and seccomp
filter); only the sandbox task is swapped (``policy_tests/phase1/process_calibrations.py``), as the demo does.
An audited ``os.fork`` is named by the hook: P1.1.e, exit 1. A start the hook cannot see
(``_posixsubprocess.fork_exec``) is refused by the kernel: the calibration fails, exit 3 (could not check).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.jobs import JobStore
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.run.job import run_job
from calpolicy.run.outcome import SANDBOX_ID

TASKS = "policy_tests.phase1.process_calibrations"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("noforkrun"), systemd=True, n_trades=1500) as environment:
        yield environment


def _run(env: LocalEnvironment, task: str) -> tuple[int, list[dict[str, str]], list[str]]:
    waiver = {"by": "unit tests", "why": "a loaded CI machine", "until": "2100-01-01T00:00:00+00:00"}
    config = env.write_config(overrides={"redis.max_latency_ms": 500.0, "waivers.redis.max_latency_ms": waiver})
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
    jobs_before = JobStore(env.jobs_dir).ids()
    outcome = run_job(config, operator="ana", on_call_until=until, task=f"{TASKS}:{task}")
    findings = [{"id": f.id, "status": f.status, "message": f.message} for f in outcome.verdict.findings]
    assert outcome.job_id is None, findings
    assert JobStore(env.jobs_dir).ids() == jobs_before
    assert not list(Path(env.jobs_dir).glob(".cal_*.tmp"))
    markers = [p.name for p in Path(env.jobs_dir).rglob("started-*")]
    return outcome.verdict.exit_code, findings, markers


def test_a_calibration_that_forks_is_a_lockdown_stop(env: LocalEnvironment) -> None:
    code, findings, markers = _run(env, "calibrate_after_a_fork")
    shown = json.dumps(findings)[:3000]
    assert code == 1, shown
    stop = [f for f in findings if f["id"] == "P1.1.e"]
    assert stop, shown
    assert stop[0]["status"] == "fail"
    assert stop[0]["message"].startswith("lockdown: the calibration attempted os.fork"), shown
    assert markers == []


def test_a_calibration_whose_hidden_start_the_kernel_refused_is_not_a_go(env: LocalEnvironment) -> None:
    code, findings, markers = _run(env, "calibrate_after_a_hidden_start")
    shown = json.dumps(findings)[:3000]
    assert code == 3, shown
    failed = [f for f in findings if f["id"] == SANDBOX_ID]
    assert failed, shown
    assert failed[0]["status"] == "error"
    assert failed[0]["message"].startswith("the sandboxed calibration failed: PermissionError: [Errno 1]"), shown
    assert markers == []
