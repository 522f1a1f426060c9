"""``calpolicy run`` and the kernel lockdown: a recorder-format log makes a job, no bubblewrap makes none.

The first test is issue 20.4 end to end: on a host with the system zone database, a recorder-format log
(``+00:00`` offsets, what the real recorder writes) makes the calibration read /usr/share/zoneinfo; the
lockdown allows that read and the run publishes a whole job. The second: where bubblewrap is missing the
run stops at once as could-not-check (exit 3), before the preflight, and makes no job: never a run
guarded by the audit hook alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.jobs import JobStore
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.review.signing import generate_keypair
from calpolicy.vocabulary.config import Config, dumps_toml
from unit_tests.conftest import with_recorder_stamps


def _until() -> str:
    return (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")


def _run(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "calpolicy.cli", "--config", str(config), "run", "--operator", "ana",
            "--on-call-until", _until(), "--json"]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, env=env)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("lockdownenv"), systemd=True, n_trades=1500) as environment:
        yield environment


def test_a_recorder_log_with_utc_offsets_makes_a_job(env: LocalEnvironment) -> None:
    assert Path("/usr/share/zoneinfo/UTC").is_file(), "the tests need the system zone database (tzdata)"
    with_recorder_stamps(env.clm_file)
    assert b"+00:00" in env.clm_file.read_bytes()
    waiver = {"by": "unit tests", "why": "a loaded CI machine", "until": "2100-01-01T00:00:00+00:00"}
    config = env.write_config(overrides={"redis.max_latency_ms": 500.0, "waivers.redis.max_latency_ms": waiver})
    done = _run(config)
    document = json.loads(done.stdout)
    stopped = [f for f in document.get("findings", []) if f.get("status") not in ("pass", "waived")]
    assert done.returncode == 0, json.dumps(stopped, indent=1)[:4000] + done.stderr[-2000:]
    assert document["verdict"] == "GO"
    job = Path(document["job_dir"])
    manifest = json.loads((job / "manifest.json").read_text())
    assert manifest["clm"]["bytes"] == env.clm_file.stat().st_size
    assert "bubblewrap" in manifest["lockdown"]["os_guard"]
    assert (job / "proposal.json").is_file()


def test_without_bubblewrap_run_is_exit_3_and_makes_no_job(tmp_path: Path) -> None:
    """PATH without bwrap: exit 3 naming the missing package, no preflight started, no job."""
    key = tmp_path / "keys" / "signing.key"
    generate_keypair(key, tmp_path / "keys" / "trusted")
    jobs = tmp_path / "jobs"
    config = Config().with_overrides({"signing.private_key": str(key), "paths.jobs_dir": str(jobs)}, "test")
    path = tmp_path / "calpolicy.toml"
    path.write_text(dumps_toml(config.as_dict()), encoding="utf-8")
    bin_dir = tmp_path / "bin"  # the tools a run may look for, but no bwrap
    bin_dir.mkdir()
    for tool in ("true", "sh", "systemctl", "journalctl"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY_")}
    done = _run(path, {**environ, "PATH": str(bin_dir)})
    assert done.returncode == 3, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["stage"] == "sandbox"
    messages = " ".join(f["message"] for f in document["findings"])
    assert "bubblewrap (bwrap) is not installed" in messages
    assert document["job_id"] is None
    assert not jobs.exists() or not JobStore(jobs).ids()
