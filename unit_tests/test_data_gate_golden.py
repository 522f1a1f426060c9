"""Every finding of the data gate on five logs, compared whole — ID, status, message and evidence — with
``unit_tests/data/data_gate_golden.json``.

The logs: a healthy one (every pass and its evidence), one with a per-line defect of every kind the gate
knows (each on its own line, so each message names exactly that line), one whose whole-log properties fail
(three trades, one symbol, no win, constant confidence, an hour's span, starved), a missing file and an
empty one. The golden file was read item by item when it was written: each sentence is the one an on-call
operator should see for that log. A deliberate change of wording is made by editing the file (or by
``CALPOLICY_WRITE_GOLDEN=1`` and reading the diff); an accidental one fails here.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.clm import check_data, read_clm
from calpolicy.localenv.sample_log import sample_records
from calpolicy.vocabulary.config import load_config
from unit_tests.conftest import NOW

GOLDEN = Path(__file__).parent / "data" / "data_gate_golden.json"
CONFIG = load_config(environ={})
Records = list[dict[str, Any]]


def _at(record: dict[str, Any], seconds: float) -> str:
    return (datetime.fromisoformat(record["timestamp"]) + timedelta(seconds=seconds)).isoformat()


def _line_defects(healthy: Records) -> list[str]:
    """The healthy log with one defect per line; the comment gives the line (1-based) each one is on."""
    r = copy.deepcopy(healthy)
    r[2]["pnl_percent"] = None  # 3: P0.2.e null
    r[3]["exit_price"] = "43000"  # 4: P0.2.e not a number
    r[4]["entry_price"] = -5.0  # 5: P0.2.e negative (and the PnL sign no longer follows)
    r[5]["pnl_percent"] = 0.0  # 6: P0.2.e zero
    r[6]["exit_price"] = r[6]["entry_price"]  # 7: flat price
    r[7]["action"] = "SELL" if r[7]["action"] == "BUY" else "BUY"  # 8: PnL sign
    r[8].update({"model_id": "ensemble_None", "exit_reason": "unknown", "position_size": 0.0})  # 9: placeholders
    r[9]["confidence"] = 72.0  # 10: confidence outside [0, 1]
    r[10]["model_predictions"]["lgbm"]["confidence"] = -0.1  # 11: a model's confidence outside [0, 1]
    r[11]["timestamp"] = "yesterday"  # 12: not ISO 8601
    r[12]["symbol"] = None  # 13: schema: symbol null
    r[13]["action"] = "HOLD"  # 14: schema: not a trade side
    del r[14]["model_predictions"]  # 15: models: missing
    r[15]["model_predictions"]["xgb"]["confidence"] = None  # 16: a model without confidence
    r[16]["trade_id"] = r[0]["trade_id"]  # 17: a reused trade_id
    r[17]["side"] = "SELL" if r[17]["action"] == "BUY" else "BUY"  # 18: side and action disagree
    r[18]["confidence"] = "high"  # 19: confidence not a number
    r[19]["model_predictions"] = "xgb"  # 20: model_predictions not an object
    r[20]["timestamp"] = r[5]["timestamp"]  # 21: goes backwards
    r[41] = {**copy.deepcopy(r[40]), "timestamp": _at(r[40], 0.1)}  # 42: delivered twice (repeats 41)
    r[60]["duration_minutes"] = "long"  # 61: an optional field of the wrong type
    r[-1]["timestamp"] = (NOW + timedelta(days=1)).isoformat()  # 120: in the future
    lines = [json.dumps(record) for record in r]
    lines[49] = '{"trade_id": "torn", "symbol": "BTC'  # 50: not JSON
    lines[69] = ""  # 70: blank
    return lines


def _whole_log_defects(healthy: Records) -> Records:
    """Three ETH losses with one confidence, an hour apart in all, the last ten hours before NOW."""
    base = next(r for r in healthy if r["symbol"] == "ETHUSDT" and r["pnl_percent"] < 0)
    start = NOW.replace(tzinfo=None) - timedelta(hours=11)
    return [
        {**copy.deepcopy(base), "trade_id": f"t{n}", "confidence": 0.6,
         "timestamp": (start + timedelta(minutes=30 * n)).isoformat()}
        for n in range(3)
    ]  # fmt: skip


def _findings(path: Path) -> list[dict[str, Any]]:
    verdict = check_data(read_clm(path), CONFIG, now=NOW)
    text = verdict.to_json().replace(json.dumps(str(path))[1:-1], "<log>")
    return json.loads(text)["findings"]


LOGS = ("healthy", "line_defects", "whole_log_defects", "missing", "empty")


def _actual(folder: Path, log: str) -> list[dict[str, Any]]:
    """The findings for one of the five logs, computed inside the test that compares them.

    Not a module-scoped fixture: mutation testing (mutmut) credits the code a fixture runs to the first
    test that needed it, so a defect that changes only the third log's findings would be tried against the
    first log's test alone, and survive.
    """
    healthy = sample_records(n_trades=120, now=NOW, seed=3)

    def write(name: str, lines: list[str]) -> Path:
        path = folder / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    if log == "healthy":
        return _findings(write("healthy.jsonl", [json.dumps(r) for r in healthy]))
    if log == "line_defects":
        return _findings(write("line.jsonl", _line_defects(healthy)))
    if log == "whole_log_defects":
        return _findings(write("whole.jsonl", [json.dumps(r) for r in _whole_log_defects(healthy)]))
    if log == "missing":
        return _findings(folder / "absent.jsonl")
    (folder / "empty.jsonl").write_bytes(b"")
    return _findings(folder / "empty.jsonl")


@pytest.mark.parametrize("log", LOGS)
def test_the_data_gate_says_exactly_what_the_golden_file_says(tmp_path: Path, log: str) -> None:
    actual = _actual(tmp_path, log)
    if os.environ.get("CALPOLICY_WRITE_GOLDEN") == "1":
        golden = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else {}
        GOLDEN.write_text(json.dumps({**golden, log: actual}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[log]
    assert [f["id"] for f in actual] == [f["id"] for f in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got == want
