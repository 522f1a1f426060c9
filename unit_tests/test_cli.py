"""The ``calpolicy`` command's contract: exit codes 0/1/2/3 and the JSON verdict shape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from calpolicy.localenv.defects import DEFECTS
from unit_tests.conftest import NOW, failing_ids, run_cli, verdict_json


def test_check_data_go_json(healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]) -> None:
    result = run_cli("check-data", str(write_log(healthy_records)), "--json", "--now", NOW.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = verdict_json(result)
    assert verdict["verdict"] == "GO"
    assert verdict["exit_code"] == 0
    assert {"id", "status", "message", "evidence"} <= set(verdict["findings"][0])


def test_check_data_stop_names_items_and_lines(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    path = write_log(DEFECTS["zero_pnl"][0](healthy_records))
    result = run_cli("check-data", str(path), "--now", NOW.isoformat())
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith("STOP")
    assert "P0.2.e" in first
    assert "pnl_percent is 0.0 (line 4)" in result.stdout


def test_check_data_could_not_check_is_exit_3(tmp_path: Path) -> None:
    result = run_cli("check-data", str(tmp_path), "--json")
    assert result.returncode == 3
    assert "P0.2.a" in failing_ids(verdict_json(result))


def test_check_data_missing_file_is_exit_1(tmp_path: Path) -> None:
    result = run_cli("check-data", str(tmp_path / "absent.jsonl"))
    assert result.returncode == 1
    assert "CLM file not found" in result.stdout


def test_usage_errors_are_exit_2(tmp_path: Path) -> None:
    assert run_cli("check-data", "--now", "tomorrow").returncode == 2
    assert run_cli("no-such-command").returncode == 2
    assert run_cli().returncode == 2
    assert run_cli("--config", str(tmp_path / "nope.toml"), "check-data").returncode == 2


def test_huge_file_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"{}\n" * 600_000)
    env_config = tmp_path / "c.toml"
    env_config.write_text("[data]\nmax_file_mb = 1\n")
    result = run_cli("--config", str(env_config), "check-data", str(big))
    assert result.returncode == 3
    assert "data.max_file_mb" in result.stdout


def test_demo_shows_go_then_stop(tmp_path: Path) -> None:
    result = run_cli("demo", "--dir", str(tmp_path / "demo"), "--trades", "200", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GO — CLM data gate" in result.stdout
    assert "STOP — CLM data gate" in result.stdout


def test_one_cause_behind_many_items_is_said_once(tmp_path: Path) -> None:
    result = run_cli("check-data", str(tmp_path / "absent.jsonl"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("STOP")
    assert sum("not checked: CLM file not found" in line for line in lines) == 1
    assert "P0.2.b, P0.2.c, P0.2.d, P0.2.e, S.a, S.f" in result.stdout
