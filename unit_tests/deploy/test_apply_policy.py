"""The P4.1 policy suite (policy_tests/phase4) against a real apply: the AI engine is a real unit in a
systemd namespace (Restart=always) that loads the file once at start and logs the real engine's lines, or,
as the upgrade path, hot-reloads with CalibrationLoader; approve runs for real; the suite runs as a child
pytest, as an operator would run it, and must say GO and say STOP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import policy_tests
from calpolicy.apply.deploy.approve import approve_job
from calpolicy.loader import wait_for_version
from calpolicy.localenv.ai_engine import UNIT_PROPERTIES, engine_argv
from calpolicy.localenv.systemd_ns import SystemdNamespace, wait_journal
from calpolicy.vocabulary.config import dumps_toml
from unit_tests.deploy.site import ENGINE_UNIT, EXISTING_VERSION, Site, site_in_namespace

PHASE4 = Path(policy_tests.__file__).parent / "phase4"
UNIT = ENGINE_UNIT
JOBS = ("cal_20261101_120000", "cal_20261102_120000", "cal_20261103_120000")


@pytest.fixture
def site(namespace: SystemdNamespace, proposal_json: str) -> Iterator[Site]:
    with site_in_namespace(namespace, proposal_json, JOBS, **{"deploy.ack_timeout_s": 8.0}) as site:
        yield site


def start_engine(ns: SystemdNamespace, site: Site, *extra: str) -> None:
    """The engine unit as on the host (Restart=always); it loads the live file once, or hot-reloads."""
    ns.start_unit(UNIT, engine_argv(sys.executable, site.live, "--tick", "5", *extra), UNIT_PROPERTIES)
    if "--hot-reload" in extra:
        wait_journal(ns, UNIT, 1, 30, f"Loaded config version: {EXISTING_VERSION}")
        assert wait_for_version(site.live.parent / ".calpolicy_loaded", EXISTING_VERSION, 10), "no start"
    else:
        wait_journal(ns, UNIT, 1, 30, f"Loaded calibration: {EXISTING_VERSION}")


def run_suite(site: Site, job: str) -> subprocess.CompletedProcess[str]:
    paths = site.config.paths
    toml = site.root / "calpolicy.toml"
    toml.write_text(
        dumps_toml(
            {
                "paths": {
                    "calibration_file": str(paths.calibration_file),
                    "archive_dir": str(paths.archive_dir),
                    "jobs_dir": str(paths.jobs_dir),
                },
                "systemd": {"command_prefix": list(site.config.systemd.command_prefix)},
            }
        ),
        encoding="utf-8",
    )
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(PHASE4),
        "-m",
        "apply",
        "-p",
        "no:cacheprovider",
        "-q",
        "--calpolicy-config",
        str(toml),
        "--job",
        str(site.jobs / job),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=site.root, check=False)


def test_hot_reload_apply_passes_every_p41_item(namespace: SystemdNamespace, site: Site) -> None:
    start_engine(namespace, site, "--hot-reload")
    outcome = approve_job(site.config, JOBS[0], "alice", say=lambda _: None)
    assert outcome.acknowledged is True, outcome.lines
    assert outcome.restarted is False
    done = run_suite(site, JOBS[0])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 passed" in done.stdout
    marker = json.loads((site.live.parent / ".calpolicy_loaded").read_text())
    assert marker["version"] == JOBS[0]


def test_engine_without_hot_reload_stops_then_one_allowed_restart_fixes_it(
    namespace: SystemdNamespace, site: Site
) -> None:
    start_engine(namespace, site)  # loads once at start, as the real engine
    site_fast = site.config.with_overrides({"deploy.ack_timeout_s": 1.5}, "test")
    outcome = approve_job(site_fast, JOBS[0], "alice", say=lambda _: None)
    assert outcome.acknowledged is False
    assert outcome.restarted is False  # not allowed: the engine keeps running the old map, and we say so
    stopped = run_suite(site, JOBS[0])
    assert stopped.returncode == 1, stopped.stdout[-3000:]
    assert "P4.1.d FAIL: no '[CalibrationLoader] ✅ Loaded calibration: cal_20261101_120000'" in stopped.stdout
    assert "3 passed" in stopped.stdout

    # this engine never acknowledges without a restart: the short acknowledgement wait, not the fixture's 8 s
    outcome = approve_job(site_fast, JOBS[1], "alice", allow_restart=True, say=lambda _: None)
    assert outcome.restarted is True
    assert outcome.acknowledged is True, outcome.lines
    fixed = run_suite(site, JOBS[1])
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-2000:]

    namespace.run("systemctl", "restart", UNIT)  # a restart nobody recorded
    unrecorded = run_suite(site, JOBS[1])
    assert unrecorded.returncode == 1
    assert "P4.1.c FAIL" in unrecorded.stdout
    assert "a second restart" in unrecorded.stdout
