"""Production's own record shape (the recorder format, REAL_SYSTEM.md §1 A) and its known defects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.clm import check_data, read_clm
from calpolicy.vocabulary.config import load_config

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
CONFIG = load_config(environ={})


def recorder_records(n: int = 80) -> list[dict[str, Any]]:
    """Healthy records as the engine's recorder writes them: zoned stamps, ``side``, ``duration_seconds``."""
    out = []
    start = NOW - timedelta(days=5)
    for i in range(n):
        side = ("BUY", "SELL", "LONG", "SHORT")[i % 4]
        entry = 0.5 + i / 1000
        win = i % 3 != 0
        up = win == (side in ("BUY", "LONG"))
        exit_ = round(entry * (1.004 if up else 0.996), 6)
        pnl = round((exit_ - entry) / entry * 100 * (1 if side in ("BUY", "LONG") else -1), 4)
        out.append(
            {
                "timestamp": (start + timedelta(hours=1.5 * i)).isoformat(),
                "symbol": ("ADAUSDT", "XRPUSDT", "DOGEUSDT")[i % 3],
                "side": side,
                "entry_price": entry,
                "exit_price": exit_,
                "pnl_percent": pnl,
                "confidence": round(0.55 + (i % 9) * 0.04, 3),
                "model_id": "ensemble_v3",
                "outcome_label": "WIN" if pnl > 0.5 else "LOSS" if pnl < -0.5 else "NEUTRAL",
                "duration_seconds": 300 + i if i % 5 else None,
                "strategy_id": None,
                "position_size": 100.0 + i,
                "exit_reason": "take_profit" if win else "stop_loss",
            }
        )
    return out


def gate(tmp_path: Path, records: list[dict[str, Any]], raw_lines: list[str] | None = None) -> dict[str, str]:
    path = tmp_path / "clm_trades.jsonl"
    lines = raw_lines if raw_lines is not None else [json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    verdict = check_data(read_clm(path), CONFIG, now=NOW)
    return {f.id: f.message for f in verdict.failures}


def test_healthy_recorder_log_is_go(tmp_path: Path) -> None:
    assert gate(tmp_path, recorder_records()) == {}


def test_double_delivery_within_milliseconds(tmp_path: Path) -> None:
    records = recorder_records()
    twin = dict(records[10])
    twin["timestamp"] = (datetime.fromisoformat(twin["timestamp"]) + timedelta(milliseconds=4)).isoformat()
    records.insert(11, twin)
    assert "(line 12)" in gate(tmp_path, records)["CLM.duplicates"]


@pytest.mark.parametrize(
    ("change", "expected_id", "expected_text"),
    [
        ({"pnl_percent": 0.0}, "P0.2.e", "pnl_percent is 0.0 (line 7)"),
        ({"exit_price": "__entry__"}, "CLM.flat_price", "entry price equals exit price (line 7)"),
        ({"model_id": "ensemble_None"}, "CLM.placeholders", "model_id is a placeholder"),
        ({"exit_reason": "unknown"}, "CLM.placeholders", "exit_reason is 'unknown' (line 7)"),
        ({"position_size": 0.0}, "CLM.placeholders", "position_size is 0.0 (line 7)"),
        ({"side": "__flip__"}, "CLM.pnl_sign", "(line 7)"),
        ({"timestamp": 1773400000}, "CLM.schema", "timestamp has the wrong JSON type (line 7)"),
        ({"side": "HOLD"}, "CLM.schema", "side is not a known value (line 7)"),
    ],
)
def test_each_production_defect(tmp_path: Path, change: dict[str, Any], expected_id: str, expected_text: str) -> None:
    records = recorder_records()
    record = records[6]
    for key, value in change.items():
        if value == "__entry__":
            value = record["entry_price"]
        if value == "__flip__":
            value = {"BUY": "SELL", "SELL": "BUY", "LONG": "SHORT", "SHORT": "LONG"}[record["side"]]
        record[key] = value
    failures = gate(tmp_path, records)
    assert expected_id in failures, failures
    assert expected_text in failures[expected_id]


def test_constant_confidence_and_a_span_of_hours(tmp_path: Path) -> None:
    records = recorder_records()
    for i, record in enumerate(records):
        record["confidence"] = 0.7
        record["timestamp"] = (NOW - timedelta(minutes=80 - i)).isoformat()
    failures = gate(tmp_path, records)
    assert "confidence is 0.7 on every record" in failures["CLM.constant_confidence"]
    assert "below cadence.min_span_days" in failures["S.a"]


def test_mixed_timestamp_styles_are_read(tmp_path: Path) -> None:
    records = recorder_records()
    records[3]["timestamp"] = records[3]["timestamp"].replace("+00:00", "Z")
    records[4]["timestamp"] = records[4]["timestamp"].replace("T", " ")
    assert gate(tmp_path, records) == {}


def test_stale_production_log_is_starved(tmp_path: Path) -> None:
    records = recorder_records()
    path = tmp_path / "clm_trades.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    verdict = check_data(read_clm(path), CONFIG, now=NOW + timedelta(hours=30))
    assert {f.id for f in verdict.failures} == {"S.f"}
