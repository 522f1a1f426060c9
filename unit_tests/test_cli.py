"""The ``calpolicy`` command's contract: exit codes 0/1/2/3 and the JSON verdict shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calpolicy.localenv.defects import DEFECTS
from unit_tests.conftest import FIXTURE_LOG, NOW, failing_ids, run_cli, verdict_json

REPO = Path(__file__).resolve().parent.parent


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


@pytest.mark.slow
def test_demo_runs_the_whole_checklist_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """``calpolicy demo`` end to end on the real parts (redis-server, readiness API, systemd namespace).

    Each step's verdict is read from the output the operator sees. The temporary environment (a
    calpolicy.toml pointing at dead ports) is removed without --keep/--dir, and no process is left.
    """
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = run_cli("demo", cwd=tmp_path, env={**os.environ, "TMPDIR": str(temp)})
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    steps: dict[str, str] = {}
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in ("OK", "GO", "STOP", "--", "INCONCLUSIVE", "ROLLBACK"):
            name = line[14:24].strip()
            steps[name] = line
    assert steps["engine"].startswith("OK"), out
    assert steps["preflight"].startswith("GO"), out
    assert "all 30 items passed" in steps["preflight"], out
    assert steps["run"].startswith("GO"), out
    assert "all 25 items passed" in steps["run"], out
    job = steps["run"].split("job ")[1].split(":")[0]
    assert f"calpolicy_jobs/{job}/policy_report.html" in out
    assert f"calpolicy_jobs/{job}/report.md" in out
    assert steps["verify"].startswith("OK (exit 0)"), out
    assert f"VERIFIED — job {job}" in steps["verify"], out
    assert steps["approve"].startswith("GO (exit 0)"), out
    assert f"APPLIED — version {job} is live" in steps["approve"], out
    assert "--allow-restart: quantum-ai-engine restarted (main PID" in out, out  # the engine has no hot reload
    assert "LIVE: quantum-ai-engine's own log line, from PID" in out, out
    assert f"'[CalibrationLoader] ✅ Loaded calibration: {job}'" in out, out
    assert steps["reload"].startswith("OK"), out
    assert f"Loaded calibration: {job}" in steps["reload"], out
    assert "40 post-apply trades appended" in steps["trades"], out
    assert steps["watch"].startswith("OK (exit 0)"), out
    for signal in ("P4.2.a", "P4.2.b", "P4.2.c", "P4.2.d"):
        assert any(line.split()[:2] == ["OK", signal] for line in out.splitlines()), (signal, out)
    assert steps["rollback"].startswith("OK (exit 0)"), out
    assert "ROLLED BACK — version cal_20260206_060303 is live" in out, out
    assert "'[CalibrationLoader] ✅ Loaded calibration: cal_20260206_060303'" in out, out
    assert "'Loaded calibration: cal_20260206_060303' 2 times" in out
    assert steps["stop case"].startswith("STOP"), out
    assert "S.e: the system reports HALT: quantum:global:kill_switch = 'true'" in out
    assert "demo: every step as expected" in out
    removed = Path(out.split("demo: removed ")[1].split()[0])
    assert not removed.exists()
    assert not list(temp.iterdir())
    assert job not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(removed) not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_demo_trades_must_be_positive() -> None:
    result = run_cli("demo", "--trades", "-5")
    assert result.returncode == 2
    assert "--trades: must be at least 1, got -5" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[cadence]\nmin_trades = 100\n")
    after = run_cli("check-data", str(FIXTURE_LOG), "--config", str(strict), "--now", "2026-02-06T00:30:00")
    before = run_cli("--config", str(strict), "check-data", str(FIXTURE_LOG), "--now", "2026-02-06T00:30:00")
    assert after.returncode == before.returncode == 1
    assert "fewer than cadence.min_trades = 100" in after.stdout
    assert after.stdout == before.stdout
    missing = run_cli("check-data", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "nope.toml" in missing.stderr


def test_a_malformed_instant_is_a_usage_error_everywhere() -> None:
    for args in (("check-data", "--now", "notadate"), ("preflight", "--on-call-until", "tomorrow")):
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert "must be an ISO-8601 instant" in result.stderr


def test_missing_and_empty_files_are_failed_as_the_readme_says(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run_cli("check-data", str(empty)).returncode == 1
    assert run_cli("check-data", str(tmp_path / "absent.jsonl")).returncode == 1
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| P0.2.a |"))
    assert "missing or empty: **failed** (exit 1" in row


HEAVY_LIBRARIES = (
    "pandas", "pyarrow", "pandera", "pydantic", "redis", "sklearn", "scipy", "matplotlib", "cryptography",
)  # fmt: skip


def test_help_and_usage_errors_import_no_heavy_library() -> None:
    """``calpolicy --help`` took 1–5 s importing pandas, pandera, pyarrow and redis (timed in benchmarks/)."""
    probe = (
        "import sys\nfrom calpolicy.cli import main\n"
        "for argv in (['--help'], ['demo', '--trades', '-5'], ['check-data', '--now', 'x']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        f"heavy = {HEAVY_LIBRARIES!r}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_no_command_module_imports_a_heavy_library_to_build_its_parser() -> None:
    """Each module in ``COMMAND_MODULES``, alone in a fresh process, adds its parser without a heavy import.

    One process per module, so a module that is light only because another one ran first cannot hide.
    """
    from calpolicy.cli import COMMAND_MODULES

    assert len(COMMAND_MODULES) >= 13
    probe = (
        "import argparse, importlib, sys\n"
        "importlib.import_module(sys.argv[1]).add_parser(argparse.ArgumentParser().add_subparsers())\n"
        f"heavy = {HEAVY_LIBRARIES!r}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    loaded = {}
    for name in COMMAND_MODULES:
        result = subprocess.run([sys.executable, "-c", probe, name], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        loaded[name] = result.stdout.strip().splitlines()[-1]
    assert {name: found for name, found in loaded.items() if found != "[]"} == {}


def test_the_headline_counts_failed_unknown_and_passed_apart(tmp_path: Path) -> None:
    """ "17 of 17 items failed" for a missing file (16 never checked) was wrong."""
    first = run_cli("check-data", str(tmp_path / "absent.jsonl")).stdout.splitlines()[0]
    assert ": 1 of 17 items failed (P0.2.a); 16 could not be checked (P0.2.b, " in first
    assert first.endswith("; 0 passed")


def test_one_cause_behind_many_items_is_said_once(tmp_path: Path) -> None:
    result = run_cli("check-data", str(tmp_path / "absent.jsonl"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("STOP")
    assert sum("not checked: CLM file not found" in line for line in lines) == 1
    assert "P0.2.b, P0.2.c, P0.2.d, P0.2.e, S.a, S.f" in result.stdout


def test_demo_without_systemd_says_what_cannot_run_and_shows_no_go(tmp_path: Path) -> None:
    from calpolicy.localenv.demo_flow import demo_flow

    lines: list[str] = []
    assert demo_flow(tmp_path, out=lines.append, n_trades=300, systemd=False) is True
    text = "\n".join(lines)
    assert "NOT RUN: the AI-engine unit, approve, reload, watch and rollback need systemd here" in text
    assert "no systemd namespace was requested" in text
    assert not any(line.startswith("GO") for line in lines), text
    assert any(line.startswith("STOP") and "preflight" in line for line in lines), text


def test_a_reader_that_goes_away_is_not_a_crash_and_never_exit_0() -> None:
    """``calpolicy … | head`` with the pipe closed before the verdict is written: no traceback, exit 141."""
    child = subprocess.Popen(
        [sys.executable, "-m", "calpolicy", "controls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None
    assert child.stderr is not None
    child.stdout.close()  # before the child has written a byte: its first write meets EPIPE
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141, stderr
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr


@pytest.mark.parametrize("closed_early", [False, True])
def test_check_data_ends_without_teardown_but_delivers_its_whole_verdict(tmp_path: Path, closed_early: bool) -> None:
    """check-data skips the interpreter's teardown (``os._exit``) after flushing: the verdict still arrives
    whole and with its exit code, and a reader that went away is exit 141, not a silent 0 or 1."""
    log = tmp_path / "one_line.jsonl"
    log.write_text(FIXTURE_LOG.read_text().splitlines()[0] + "\n")
    (tmp_path / "none.toml").write_text("")
    child = subprocess.Popen(
        [sys.executable, "-m", "calpolicy", "check-data", str(log), "--json", "--now", NOW.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CALPOLICY_CONFIG": str(tmp_path / "none.toml")},
    )
    assert child.stdout is not None
    assert child.stderr is not None
    if closed_early:
        child.stdout.close()
        assert child.wait(timeout=60) == 141, child.stderr.read().decode()
        return
    out, err = child.communicate(timeout=60)
    assert child.returncode == 1, err
    verdict = json.loads(out)
    assert verdict["verdict"] == "STOP", out
    assert "S.a" in failing_ids(verdict), out
