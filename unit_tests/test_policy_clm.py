"""The shipped data-gate policy tests, run as the operator runs them, pass on good data and fail on bad."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calpolicy.localenv.defects import DEFECTS
from unit_tests.conftest import FIXTURE_LOG, NOW
from unit_tests.test_plugin import POLICY_DIR, REPO, run_pytest

SUITE = str(POLICY_DIR / "phase0" / "test_clm_integrity.py")


def _run(log: Path, tmp_path: Path, now: str = NOW.isoformat()) -> tuple[int, dict[str, str]]:
    results = tmp_path / "results.jsonl"
    outcome = run_pytest(
        SUITE, "--clm", str(log), "--calpolicy-now", now, "--calpolicy-results", str(results), cwd=REPO
    )
    statuses: dict[str, str] = {}
    for row in map(json.loads, results.read_text().splitlines()):
        for control in row["controls"]:
            statuses[control] = row["status"]
    return outcome.returncode, statuses


def test_healthy_log_passes_every_item(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path], tmp_path: Path
) -> None:
    code, statuses = _run(write_log(healthy_records), tmp_path)
    assert code == 0
    assert set(statuses.values()) == {"pass"}
    assert {"P0.2.a", "P0.2.b", "P0.2.c", "P0.2.d", "P0.2.e", "S.a", "S.f"} <= set(statuses)


def test_fixture_fails_only_on_starvation_today(tmp_path: Path) -> None:
    code, statuses = _run(FIXTURE_LOG, tmp_path, now="2026-11-26T00:00:00+00:00")
    assert code == 1
    assert {c for c, s in statuses.items() if s != "pass"} == {"S.f"}


@pytest.mark.parametrize("name", ["double_delivery", "zero_pnl", "span_of_hours"])
def test_defective_log_fails_the_right_test(
    name: str, healthy_records: list[dict[str, Any]], write_log: Callable[..., Path], tmp_path: Path
) -> None:
    inject, expected = DEFECTS[name]
    code, statuses = _run(write_log(inject(healthy_records)), tmp_path)
    assert code == 1
    assert statuses[expected] == "fail"


def test_missing_log_fails_and_reports_could_not_check(tmp_path: Path) -> None:
    code, statuses = _run(tmp_path / "absent.jsonl", tmp_path)
    assert code == 1
    assert statuses["P0.2.a"] == "fail"
    assert statuses["P0.2.b"] == "error"


def test_too_few_trades_fails_with_the_gates_own_sentence(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """The message the operator reads is the finding's, not a crash while formatting its evidence."""
    results = tmp_path / "results.jsonl"
    run_pytest(
        SUITE, "--clm", str(write_log(healthy_records[:30])), "--calpolicy-now", NOW.isoformat(),
        "--calpolicy-results", str(results), "-k", "P0.2.b", cwd=REPO,
    )  # fmt: skip
    (row,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert row["status"] == "fail"
    assert row["message"] == "P0.2.b FAIL: 30 trades, fewer than cadence.min_trades = 50"
