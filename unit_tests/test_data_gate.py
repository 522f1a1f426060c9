"""The data gate says STOP, with the right item and line numbers, for every defect production has shown."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calpolicy.clm import check_data, read_clm
from calpolicy.clm.checks import _reused_trade_ids, _same_content_in_time_order
from calpolicy.localenv.defects import DEFECTS
from calpolicy.vocabulary.config import load_config
from calpolicy.vocabulary.verdict import Verdict
from unit_tests.conftest import FIXTURE_LOG, NOW

CONFIG = load_config(environ={})


def gate(path: Path, now: datetime = NOW) -> Verdict:
    return check_data(read_clm(path), CONFIG, now=now)


def failed(verdict: Verdict) -> dict[str, str]:
    return {f.id: f.message for f in verdict.failures}


def test_healthy_log_is_go(healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]) -> None:
    verdict = gate(write_log(healthy_records))
    assert verdict.go, failed(verdict)
    assert verdict.exit_code == 0
    assert {f.id for f in verdict.findings} >= {
        "P0.2.a",
        "P0.2.b",
        "P0.2.c",
        "P0.2.d",
        "P0.2.e",
        "S.a",
        "S.f",
    }


def test_the_52_trade_fixture_is_clean_but_starved_today() -> None:
    verdict = gate(FIXTURE_LOG, now=datetime(2026, 11, 26, tzinfo=UTC))
    assert set(failed(verdict)) == {"S.f"}
    assert "STARVATION" in failed(verdict)["S.f"]
    as_of_then = gate(FIXTURE_LOG, now=datetime(2026, 2, 6, 0, 30, tzinfo=UTC))
    assert as_of_then.go, failed(as_of_then)
    timestamps = as_of_then.by_id("CLM.timestamps")[0]
    assert "52 carry no time zone and were read as UTC" in timestamps.message


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_each_production_defect_stops_with_its_id(
    name: str, healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    inject, expected_id = DEFECTS[name]
    verdict = gate(write_log(inject(healthy_records)))
    assert not verdict.go
    assert verdict.exit_code == 1
    assert expected_id in failed(verdict), failed(verdict)


def test_double_delivery_names_the_repeated_lines(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    records = healthy_records[:10]
    records = [*records[:4], copy.deepcopy(records[3]), *records[4:]]
    verdict = gate(write_log(records))
    finding = verdict.by_id("CLM.duplicates")[0]
    assert finding.status == "fail"
    assert finding.evidence["lines"] == [5]
    assert finding.evidence["pairs"] == ["line 5 repeats line 4"]


def test_near_duplicate_outside_the_window_is_not_a_duplicate(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    twin = copy.deepcopy(records[-1])
    twin["trade_id"] = "another_trade"
    twin["timestamp"] = (datetime.fromisoformat(twin["timestamp"]) + timedelta(seconds=5)).isoformat()
    records.append(twin)
    assert gate(write_log(records)).by_id("CLM.duplicates")[0].status == "pass"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("entry_price", None, "entry_price missing or null (line 3)"),
        ("exit_price", "43000", "exit_price is not a number (line 3)"),
        ("pnl_percent", 0.0, "pnl_percent is 0.0 (line 3)"),
        ("entry_price", -5.0, "entry_price is 0 or negative (line 3)"),
        ("exit_price", 0.0, "exit_price is 0 or negative (line 3)"),
    ],
)
def test_prices_and_pnl_defects_are_p0_2_e(
    field: str,
    value: Any,
    expected: str,
    healthy_records: list[dict[str, Any]],
    write_log: Callable[..., Path],
) -> None:
    records = copy.deepcopy(healthy_records)
    records[2][field] = value
    verdict = gate(write_log(records))
    assert expected in failed(verdict)["P0.2.e"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_literals_are_p0_2_e(
    literal: str, healthy_records: list[dict[str, Any]], write_lines: Callable[..., Path]
) -> None:
    lines = [json.dumps(r) for r in healthy_records]
    lines[6] = lines[6].replace('"pnl_percent": ', f'"pnl_percent": {literal}, "_was": ', 1)
    verdict = gate(write_lines(lines))
    assert "(line 7)" in failed(verdict)["P0.2.e"]


def test_confidence_outside_unit_interval(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    records[1]["confidence"] = 72.0
    records[8]["model_predictions"]["lgbm"]["confidence"] = -0.1
    message = failed(gate(write_log(records)))["CLM.confidence"]
    assert "confidence is outside [0, 1] (line 2)" in message
    assert "model_predictions.lgbm.confidence is outside [0, 1] (line 9)" in message


def test_timestamps_future_backwards_and_garbage(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    records[10]["timestamp"] = "yesterday"
    records[20]["timestamp"] = records[5]["timestamp"]
    records[-1]["timestamp"] = (NOW + timedelta(days=1)).isoformat()
    message = failed(gate(write_log(records)))["CLM.timestamps"]
    assert "not ISO 8601 (line 11)" in message
    assert "goes backwards from the previous record (line 21)" in message
    assert f"in the future (now {NOW.isoformat()}) (line {len(records)})" in message


def test_too_few_trades_symbols_and_one_sided_outcomes(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    records = [dict(r, symbol="BTCUSDT") for r in healthy_records[:30] if r["pnl_percent"] > 0]
    verdict = gate(write_log(records))
    ids = failed(verdict)
    assert {"P0.2.b", "P0.2.c", "P0.2.d", "S.a"} <= set(ids)
    assert "no LOSS" in ids["P0.2.d"]
    assert "fewer than cadence.min_trades = 50" in ids["P0.2.b"]


def test_conflicting_pnl_names_are_reported(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    records[4]["actual_pnl_pct"] = records[4]["pnl_percent"] + 1.0
    message = failed(gate(write_log(records)))["CLM.schema"]
    assert "actual_pnl_pct/pnl_percent given twice under different names with different values (line 5)" in message


def test_missing_model_prediction_is_reported(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    del records[7]["model_predictions"]["nhits"]
    del records[9]["model_predictions"]
    message = failed(gate(write_log(records)))["CLM.models"]
    assert "model_predictions missing (line 10)" in message
    assert "model 'nhits' has no confidence (line 8)" in message


def test_missing_file_is_p0_2_a_fail_and_nothing_else_passes(tmp_path: Path) -> None:
    verdict = gate(tmp_path / "nope.jsonl")
    assert verdict.exit_code == 1
    assert verdict.by_id("P0.2.a")[0].status == "fail"
    assert all(f.status == "error" for f in verdict.findings if f.id != "P0.2.a")
    assert {"CLM.parse", "CLM.duplicates", "S.f"} <= {f.id for f in verdict.findings}


def test_empty_file_stops(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    ids = failed(gate(path))
    assert "is empty" in ids["P0.2.a"]
    assert "P0.2.b" in ids


def test_unparseable_lines_stop_with_line_numbers(
    healthy_records: list[dict[str, Any]], write_lines: Callable[..., Path]
) -> None:
    lines = [json.dumps(r) for r in healthy_records]
    lines.insert(3, "{oops")
    lines.append('"just a string"')
    message = failed(gate(write_lines(lines)))["CLM.parse"]
    assert "line 4: not valid JSON" in message
    assert f"line {len(lines)}: not a JSON object (a JSON str)" in message


def test_gate_never_modifies_the_log(healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]) -> None:
    path = write_log(DEFECTS["double_delivery"][0](healthy_records))
    before = path.read_bytes(), path.stat().st_mtime_ns
    gate(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_key_given_twice_is_a_defect_not_a_silent_choice(
    healthy_records: list[dict[str, Any]], write_lines: Callable[..., Path]
) -> None:
    lines = [json.dumps(r) for r in healthy_records]
    lines[4] = lines[4].replace('"pnl_percent": ', '"pnl_percent": 9.99, "pnl_percent": ', 1)
    lines[8] = lines[8].replace('"trade_id": "', '"note": "odd \\": text", "trade_id": "', 1)
    message = failed(gate(write_lines(lines)))["CLM.parse"]
    assert "line 5: the key 'pnl_percent' appears more than once" in message
    assert "line 9" not in message  # a string holding '":' is not a duplicate


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(-5, 5)), min_size=0, max_size=60),
)
def test_rows_of_repeated_digests_come_grouped_and_in_time_order(rows: list[tuple[int, int]]) -> None:
    """The duplicate check's grouping keeps exactly the rows whose digest occurs more than once, ordered by
    (digest, time): the order the window comparison walks."""
    digest = np.array([d for d, _ in rows], dtype=np.uint64)
    stamps = np.array([t for _, t in rows], dtype=np.int64)
    order = _same_content_in_time_order(digest, stamps)
    counts = {d: int(np.count_nonzero(digest == d)) for d in set(digest.tolist())}
    assert sorted(order.tolist()) == [i for i, d in enumerate(digest.tolist()) if counts[d] > 1]
    keys = [(int(digest[i]), int(stamps[i])) for i in order]
    assert keys == sorted(keys)


def test_a_reused_trade_id_is_found_only_where_ids_are_present() -> None:
    """Rows reusing an earlier row's trade_id, and none at all when the log carries no ids (the recorder
    format): a missing id never equals another missing id."""
    none = _reused_trade_ids(pd.Series([None, None, None], dtype="str"))
    assert none.tolist() == []
    some = _reused_trade_ids(pd.Series(["a", None, "b", "a", None, "b", "a"], dtype="str"))
    assert some.tolist() == [3, 5, 6]
