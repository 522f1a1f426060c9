"""Production's known CLM defects (REAL_SYSTEM.md §1), applied to a healthy log for demos and tests.

Each defect is a function from records to records so a test can inject exactly one and assert that the
gate names exactly the right item and line.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def double_delivery(records: list[Record]) -> list[Record]:
    """Every other record delivered twice within milliseconds (about half the file, as seen live)."""
    out: list[Record] = []
    for index, record in enumerate(records):
        out.append(record)
        if index % 2 == 1:
            out.append(copy.deepcopy(record))
    return out


def zero_pnl(records: list[Record], index: int = 3) -> list[Record]:
    out = copy.deepcopy(records)
    out[index]["pnl_percent"] = 0.0
    return out


def flat_price(records: list[Record], index: int = 4) -> list[Record]:
    out = copy.deepcopy(records)
    out[index]["exit_price"] = out[index]["entry_price"]
    return out


def constant_confidence(records: list[Record]) -> list[Record]:
    out = copy.deepcopy(records)
    for record in out:
        record["confidence"] = 0.72
    return out


def short_recorded_as_buy(records: list[Record], index: int = 5) -> list[Record]:
    """A SELL trade written with side BUY: the PnL sign no longer matches the price move."""
    out = copy.deepcopy(records)
    record = out[index]
    key = "side" if "side" in record else "action"
    record[key] = "SELL" if record[key] in ("BUY", "LONG") else "BUY"
    return out


def placeholders(records: list[Record], index: int = 6) -> list[Record]:
    out = copy.deepcopy(records)
    out[index].update({"model_id": "ensemble_None", "exit_reason": "unknown", "position_size": 0.0})
    return out


def span_of_hours(records: list[Record]) -> list[Record]:
    """All trades squeezed into the last hour: the real cadence gate wants days."""
    from datetime import datetime, timedelta

    out = copy.deepcopy(records)
    last = datetime.fromisoformat(str(out[-1]["timestamp"]))
    for offset, record in enumerate(reversed(out)):
        record["timestamp"] = (last - timedelta(seconds=10 * offset)).isoformat()
    return out


DEFECTS: dict[str, tuple[Callable[[list[Record]], list[Record]], str]] = {
    "double_delivery": (double_delivery, "CLM.duplicates"),
    "zero_pnl": (zero_pnl, "P0.2.e"),
    "flat_price": (flat_price, "CLM.flat_price"),
    "constant_confidence": (constant_confidence, "CLM.constant_confidence"),
    "short_recorded_as_buy": (short_recorded_as_buy, "CLM.pnl_sign"),
    "placeholders": (placeholders, "CLM.placeholders"),
    "span_of_hours": (span_of_hours, "S.a"),
}


def write_records(path: Path, records: list[Record]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path
