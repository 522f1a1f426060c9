"""Every command that reads or touches the host says which config is in force (issue 22 §3), and the ones
that need the host's paths refuse to run on the built-in defaults unless ``--defaults`` is given."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from unit_tests.conftest import FIXTURE_LOG, run_cli

UNTIL = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
JOB = "cal_20260101_000000"
HOST_COMMANDS = {
    "jobs": ["jobs"],
    "status": ["status"],
    "history": ["history"],
    "watch": ["watch"],
    "preflight": ["preflight", "--operator", "kari", "--on-call-until", UNTIL],
    "run": ["run", "--operator", "kari", "--on-call-until", UNTIL],
    "verify": ["verify", JOB],
    "approve": ["approve", JOB, "--approver", "kari", "--reviewed", "--on-call-until", UNTIL, "--yes"],
    "abort": ["abort", JOB],
    "rollback": ["rollback"],
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY_")}


@pytest.mark.parametrize("command", sorted(HOST_COMMANDS))
def test_a_host_command_refuses_to_run_on_the_defaults_in_one_line(command: str, tmp_path: Path) -> None:
    result = run_cli(*HOST_COMMANDS[command], cwd=tmp_path, env=_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"calpolicy: error: {command} needs the host's paths and no config file was found")
    assert f"no calpolicy.toml in {tmp_path}" in line
    assert "--defaults runs it on the defaults" in line
    assert f"jobs {tmp_path / 'calpolicy_jobs'}" in line
    assert not (tmp_path / "calpolicy_jobs").exists(), "nothing may be written before the refusal"


def test_defaults_given_says_so_and_names_the_folders_they_point_at(tmp_path: Path) -> None:
    for argv in (["jobs", "--defaults"], ["--defaults", "jobs"]):
        result = run_cli(*argv, cwd=tmp_path, env=_env())
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "no jobs in calpolicy_jobs"
        assert result.stderr.startswith(
            f"calpolicy: config: none (no --config, no CALPOLICY_CONFIG and no calpolicy.toml in {tmp_path}); "
            f"defaults apply: jobs {tmp_path / 'calpolicy_jobs'}, CLM log {tmp_path / 'data/clm_trades.jsonl'}"
        )
    listed = run_cli("jobs", "--json", "--defaults", cwd=tmp_path, env=_env())
    assert json.loads(listed.stdout)["jobs"] == [], "the note is on stderr: --json stays pure JSON"


def test_the_config_file_in_force_is_named_whoever_chose_it(tmp_path: Path) -> None:
    config = tmp_path / "calpolicy.toml"
    config.write_text(f'[paths]\njobs_dir = "{tmp_path / "my_jobs"}"\n')
    config.chmod(0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cases = (
        (tmp_path, ["jobs"], _env(), "./calpolicy.toml"),
        (elsewhere, ["--config", str(config), "jobs"], _env(), "--config"),
        (elsewhere, ["jobs", "--config", str(config)], _env(), "--config"),
        (elsewhere, ["jobs"], {**_env(), "CALPOLICY_CONFIG": str(config)}, "CALPOLICY_CONFIG"),
    )
    for cwd, argv, env, chosen_by in cases:
        result = run_cli(*argv, cwd=cwd, env=env)
        assert result.returncode == 0, (argv, result.stderr)
        assert result.stderr.splitlines() == [f"calpolicy: config {config} (from {chosen_by})"], argv
        assert result.stdout.strip() == f"no jobs in {tmp_path / 'my_jobs'}"


def test_commands_useful_without_a_host_run_on_the_defaults_and_say_so(tmp_path: Path) -> None:
    checked = run_cli("check-data", str(FIXTURE_LOG), "--now", "2026-02-06T00:30:00", cwd=tmp_path, env=_env())
    assert checked.returncode in (0, 1), checked.stderr
    assert checked.stdout.startswith(("GO", "STOP"))
    assert checked.stderr.startswith("calpolicy: config: none (")
    shown = run_cli("config", "show", cwd=tmp_path, env=_env())
    assert shown.returncode == 0, shown.stderr
    assert "calpolicy: config: none (" in shown.stderr
    controls = run_cli("controls", cwd=tmp_path, env=_env())
    assert controls.returncode == 0, controls.stderr
    assert "calpolicy: config" not in controls.stderr


def test_a_malformed_option_is_still_named_before_the_missing_config(tmp_path: Path) -> None:
    result = run_cli("preflight", "--on-call-until", "tomorrow", cwd=tmp_path, env=_env())
    assert result.returncode == 2
    assert "must be an ISO-8601 instant" in result.stderr
