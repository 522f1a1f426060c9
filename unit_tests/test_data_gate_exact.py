"""The data gate's findings word for word and value for value: the sentences the operator reads, and the
evidence the JSON verdict and the signed report carry. (``test_data_gate.py`` proves each defect stops
the right item; these prove what is said about it.)"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from calpolicy.clm import check_data, read_clm
from calpolicy.localenv.defects import write_records
from calpolicy.localenv.sample_log import sample_records
from calpolicy.vocabulary.config import load_config
from calpolicy.vocabulary.verdict import Finding
from unit_tests.conftest import NOW

CONFIG = load_config(environ={})
CAP = CONFIG.data.max_examples  # 20: the lines a finding lists before it only counts
Records = list[dict[str, Any]]


def _finding(path: Path, control: str) -> Finding:
    (finding,) = check_data(read_clm(path), CONFIG, now=NOW).by_id(control)
    return finding


def _later(record: dict[str, Any], seconds: float) -> str:
    return (datetime.fromisoformat(record["timestamp"]) + timedelta(seconds=seconds)).isoformat()


def test_a_healthy_logs_passes_carry_their_evidence(healthy_records: Records, write_log: Callable[..., Path]) -> None:
    path = write_log(healthy_records)
    exists = _finding(path, "P0.2.a")
    assert (exists.status, exists.message) == ("pass", f"CLM file {path} exists ({path.stat().st_size} bytes)")
    assert exists.evidence == {
        "path": str(path), "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }  # fmt: skip
    wins = _finding(path, "P0.2.d")
    assert wins.status == "pass"
    assert wins.message == f"{wins.evidence['wins']} wins and {wins.evidence['losses']} losses"
    assert wins.evidence["wins"] + wins.evidence["losses"] == len(healthy_records)


def test_two_problems_of_one_item_are_joined_with_a_semicolon(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    for record in records:
        record["pnl_percent"] = 0.0
    finding = _finding(write_log(records), "P0.2.d")
    assert finding.message == "no WIN (pnl > 0) in the log; no LOSS (pnl < 0) in the log"
    assert finding.evidence == {"wins": 0, "losses": 0}


def test_a_field_is_named_as_the_log_spells_it(healthy_records: Records, write_log: Callable[..., Path]) -> None:
    """The sample log writes ``pnl_percent`` (production's name), not the checklist's ``actual_pnl_pct``."""
    records = copy.deepcopy(healthy_records)
    records[2]["pnl_percent"] = None
    assert _finding(write_log(records), "P0.2.e").message == "pnl_percent missing or null (line 3)"


def test_a_defect_on_more_lines_than_the_cap_lists_the_first_ones_and_counts_them_all(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    for bad, truncated in ((CAP, False), (CAP + 1, True)):
        records = copy.deepcopy(healthy_records)
        for record in records[:bad]:
            record["exit_price"] = record["entry_price"]
        finding = _finding(write_log(records), "CLM.flat_price")
        assert finding.status == "fail"
        assert finding.evidence["lines"] == list(range(1, CAP + 1))
        assert (finding.evidence["count"], finding.evidence["truncated"]) == (bad, truncated)


def test_a_record_delivered_three_times_is_two_duplicates(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records[:10])
    copies = [{**copy.deepcopy(records[4]), "timestamp": _later(records[4], 0.1 * n)} for n in (1, 2)]
    records[5:5] = copies  # lines 5, 6 and 7 are one trade, delivered 0.1 s apart
    finding = _finding(write_log(records), "CLM.duplicates")
    assert finding.evidence["lines"] == [6, 7]
    assert finding.evidence["pairs"] == ["line 6 repeats line 5", "line 7 repeats line 6"]


def test_every_record_the_same_is_all_duplicates_but_the_first(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    records = [copy.deepcopy(healthy_records[0]) for _ in range(4)]
    assert _finding(write_log(records), "CLM.duplicates").evidence["lines"] == [2, 3, 4]


def test_different_trades_in_the_same_second_are_not_duplicates(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """Only the same content within the window repeats a record: a second trade of another symbol, side,
    price, PnL or confidence in the same second is a trade, whatever the content digest mixes."""
    records = copy.deepcopy(healthy_records)
    base = records[-1]
    for n, (field, value) in enumerate(
        [("symbol", "SOLUSDT"), ("action", "BUY" if base["action"] == "SELL" else "SELL"), ("entry_price", 1.5),
         ("exit_price", 2.5),
         ("pnl_percent", 0.25), ("confidence", 0.51)],
    ):  # fmt: skip
        twin = copy.deepcopy(base)
        twin.update({field: value, "trade_id": f"twin_{n}", "timestamp": _later(base, 0.001 * (n + 1))})
        records.append(twin)
    finding = _finding(write_log(records), "CLM.duplicates")
    assert (finding.status, finding.evidence["lines"]) == ("pass", [])


def test_a_missing_pnl_does_not_repeat_a_zero_pnl(healthy_records: Records, write_log: Callable[..., Path]) -> None:
    records = copy.deepcopy(healthy_records)
    twin = copy.deepcopy(records[-1])
    records[-1]["pnl_percent"] = 0.0
    twin.update({"pnl_percent": None, "trade_id": "twin", "timestamp": _later(twin, 0.5)})
    records.append(twin)
    assert _finding(write_log(records), "CLM.duplicates").evidence["lines"] == []


def test_a_burst_of_distinct_trades_in_one_second_has_no_duplicate(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """The content digest must tell apart trades that differ in one price by a cent: 200 in one second."""
    records = copy.deepcopy(healthy_records)
    base = records[-1]
    for n in range(200):
        records.append(
            {**copy.deepcopy(base), "trade_id": f"burst_{n}", "timestamp": _later(base, 0.004 * (n + 1)),
             "exit_price": round(base["exit_price"] + 0.01 * (n + 1), 2)}
        )  # fmt: skip
    assert _finding(write_log(records), "CLM.duplicates").evidence["lines"] == []


def test_a_one_byte_log_exists_and_is_not_called_empty(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_bytes(b"x")
    assert _finding(path, "P0.2.a").message == f"CLM file {path} exists (1 bytes)"
    assert _finding(path, "CLM.parse").status == "fail"


def test_an_empty_symbol_is_not_a_symbol(healthy_records: Records, write_log: Callable[..., Path]) -> None:
    records = copy.deepcopy(healthy_records)
    for n, record in enumerate(records):
        record["symbol"] = "BTCUSDT" if n % 2 else ""
    finding = _finding(write_log(records), "P0.2.c")
    assert (finding.status, finding.message) == ("fail", "1 symbol(s) ['BTCUSDT'], fewer than 2")


def test_the_symbols_evidence_lists_fifty_and_counts_them_all(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    for n, record in enumerate(records[:51]):
        record["symbol"] = f"S{n:02d}USDT"
    every = sorted({r["symbol"] for r in records})
    assert len(every) > 51
    evidence = _finding(write_log(records), "P0.2.c").evidence
    assert (evidence["symbols"], evidence["count"]) == (every[:50], len(every))


def test_a_nan_price_is_named_as_nan_not_as_missing(healthy_records: Records, tmp_path: Path) -> None:
    """JSON's ``NaN`` constant parses as a number, so the price is neither null nor of a wrong type: the
    operator is told it is NaN, on its own line."""
    records = copy.deepcopy(healthy_records)
    lines = [json.dumps(record) for record in records]
    lines[3] = lines[3].replace(json.dumps({"entry_price": records[3]["entry_price"]})[1:-1], '"entry_price": NaN')
    assert '"entry_price": NaN' in lines[3]
    path = tmp_path / "nan.jsonl"
    path.write_text("\n".join(lines) + "\n")
    finding = _finding(path, "P0.2.e")
    assert (finding.status, finding.message) == ("fail", "entry_price is NaN (line 4)")
    assert finding.evidence["entry_price: is NaN"] == {"lines": [4], "count": 1, "truncated": False}


def _spread(records: Records, first: datetime, last: datetime) -> Records:
    """The records with timestamps evenly from ``first`` to ``last`` exactly (naive stamps read as UTC)."""
    out = copy.deepcopy(records)
    step = (last - first) / (len(out) - 1)
    for n, record in enumerate(out):
        record["timestamp"] = (first + step * n).replace(tzinfo=None).isoformat()
    out[-1]["timestamp"] = last.replace(tzinfo=None).isoformat()
    return out


def test_a_span_of_exactly_min_span_days_is_enough(healthy_records: Records, write_log: Callable[..., Path]) -> None:
    """S.a's span rule at its threshold: 3 days exactly passes, a second less fails."""
    last = NOW - timedelta(minutes=30)
    exact = _spread(healthy_records, last - timedelta(days=CONFIG.cadence.min_span_days), last)
    finding = _finding(write_log(exact, "exact.jsonl"), "S.a")
    assert finding.status == "pass", finding.message
    assert finding.evidence["span_days"] == 3.0
    short = _spread(healthy_records, last - timedelta(days=CONFIG.cadence.min_span_days) + timedelta(seconds=1), last)
    finding = _finding(write_log(short, "short.jsonl"), "S.a")
    assert finding.status == "fail"
    assert finding.message == "trades span 3.00 days, below cadence.min_span_days = 3"


def test_a_last_trade_exactly_starvation_hours_old_is_not_starved(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """S.f at its threshold: a last trade exactly ``starvation_hours`` old passes; a second older fails."""
    limit = timedelta(hours=CONFIG.data.starvation_hours)
    for age, status in ((limit, "pass"), (limit + timedelta(seconds=1), "fail")):
        records = _spread(healthy_records, NOW - age - timedelta(days=4), NOW - age)
        (finding,) = check_data(read_clm(write_log(records, f"age{age.seconds}.jsonl")), CONFIG, now=NOW).by_id("S.f")
        assert finding.status == status, finding.message
        assert finding.evidence["age_hours"] == round(age.total_seconds() / 3600, 3)


def test_blank_lines_up_to_the_example_cap_are_listed_in_full(healthy_records: Records, tmp_path: Path) -> None:
    """CLM.parse lists blank lines up to ``max_examples``; only beyond it is the list marked truncated."""
    first = len(healthy_records) + 1
    listed = ", ".join(str(first + n) for n in range(CAP))
    for blanks, truncated, message in (
        (1, False, f"1 blank line (a writer fault: line {first})"),
        (CAP, False, f"{CAP} blank lines (a writer fault: lines {listed})"),
        (CAP + 1, True, f"{CAP + 1} blank lines (a writer fault: lines {listed}, … ({CAP + 1} in all))"),
    ):
        lines = [json.dumps(record) for record in healthy_records] + [""] * blanks + [json.dumps(healthy_records[0])]
        path = tmp_path / f"blank{blanks}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        (finding,) = check_data(read_clm(path), CONFIG, now=NOW).by_id("CLM.parse")
        assert finding.evidence["blank_lines"]["count"] == blanks
        assert finding.evidence["blank_lines"]["truncated"] is truncated, finding.evidence
        assert finding.message == message


def test_unreadable_lines_show_five_reasons_then_a_count(healthy_records: Records, tmp_path: Path) -> None:
    """CLM.parse's sentence names the first five bad lines with their reasons, joined by '; ', and counts
    the rest as '(+N more)'; at exactly five nothing is left to count."""
    for bad, more in ((5, ""), (7, " (+2 more)")):
        lines = [json.dumps(record) for record in healthy_records]
        for n in range(bad):
            lines[10 + n] = "not json"
        path = tmp_path / f"bad{bad}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        (finding,) = check_data(read_clm(path), CONFIG, now=NOW).by_id("CLM.parse")
        head, _, detail = finding.message.partition(": ")
        assert head == f"{bad} line(s) cannot be read as one record"
        reasons = detail.removesuffix(more).split("; ")
        assert [reason.split(":")[0] for reason in reasons] == [f"line {11 + n}" for n in range(5)], finding.message
        assert finding.message.endswith(f"{reasons[-1]}{more}"), finding.message


def test_a_byte_order_mark_is_named_in_the_parse_finding(healthy_records: Records, tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in healthy_records).encode())
    (finding,) = check_data(read_clm(path), CONFIG, now=NOW).by_id("CLM.parse")
    assert finding.status == "fail"
    assert finding.message.startswith("the file is UTF-8 with a byte-order mark (BOM), not plain UTF-8 JSON lines; ")
    assert finding.evidence["encoding"] == "UTF-8 with a byte-order mark (BOM)"


def test_a_torn_last_line_carries_the_mid_append_hint(healthy_records: Records, tmp_path: Path) -> None:
    """Only a last line cut off without its newline gets the 'writer may have been mid-append' hint."""
    text = "".join(json.dumps(r) + "\n" for r in healthy_records)
    path = tmp_path / "torn.jsonl"
    path.write_text(text + json.dumps(healthy_records[0])[:40])
    (finding,) = check_data(read_clm(path), CONFIG, now=NOW).by_id("CLM.parse")
    assert finding.message.startswith(f"1 line(s) cannot be read as one record: line {len(healthy_records) + 1}: ")
    assert finding.message.endswith(
        " — the last line has no newline: the writer may have been mid-append; re-run to check"
    ), finding.message


def test_a_null_timestamp_is_named_by_its_field(healthy_records: Records, write_log: Callable[..., Path]) -> None:
    records = copy.deepcopy(healthy_records)
    records[4]["timestamp"] = None
    finding = _finding(write_log(records), "CLM.schema")
    assert finding.status == "fail"
    assert "timestamp missing or null (line 5)" in finding.message.split("; "), finding.message


def _schema_problems(records: Records, write_log: Callable[..., Path]) -> list[str]:
    finding = _finding(write_log(records), "CLM.schema")
    return finding.message.split("; ") if finding.status == "fail" else []


def test_a_models_unknown_action_is_a_schema_problem(healthy_records: Records, write_log: Callable[..., Path]) -> None:
    records = copy.deepcopy(healthy_records)
    records[6]["model_predictions"]["xgb"]["action"] = "HODL"
    assert _schema_problems(records, write_log) == ["model_predictions.xgb.action is not a known value (line 7)"]


def test_a_models_confidence_of_the_wrong_type_is_left_to_clm_confidence(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """One defect, one item: a string where a model's confidence belongs is CLM.confidence's to report."""
    records = copy.deepcopy(healthy_records)
    records[6]["model_predictions"]["xgb"]["confidence"] = "high"
    path = write_log(records)
    assert _schema_problems(records, write_log) == []
    confidence = _finding(path, "CLM.confidence")
    assert confidence.message == "model_predictions.xgb.confidence is not a number (line 7)"


def test_a_missing_side_does_not_hide_the_next_schema_problem(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """A missing side is reported once (as missing); the problems sorted after it are still reported."""
    records = copy.deepcopy(healthy_records)
    del records[2]["action"]
    records[5]["symbol"] = ""
    problems = _schema_problems(records, write_log)
    assert "symbol is empty (line 6)" in problems, problems
    assert [p for p in problems if p.startswith("side")] == ["side missing or null (line 3)"], problems


def test_a_repeat_exactly_at_the_window_is_a_duplicate_and_one_microsecond_later_is_not(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    window = timedelta(milliseconds=CONFIG.data.duplicate_window_ms)
    for gap, repeated in ((window, True), (window + timedelta(microseconds=1), False)):
        records = copy.deepcopy(healthy_records)
        later = _later(records[30], gap.total_seconds())
        records[31] = {**copy.deepcopy(records[30]), "trade_id": "other", "timestamp": later}
        finding = _finding(write_log(records, f"gap{gap.microseconds}.jsonl"), "CLM.duplicates")
        assert (finding.status == "fail") is repeated, (gap, finding.message)
        assert finding.evidence["pairs"] == (["line 32 repeats line 31"] if repeated else [])


def test_two_records_that_repeat_each_other_are_a_duplicate(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """The smallest log that can hold a double delivery is two lines."""
    first = healthy_records[0]
    finding = _finding(write_log([first, {**copy.deepcopy(first), "timestamp": _later(first, 0.2)}]), "CLM.duplicates")
    assert finding.status == "fail"
    assert finding.evidence["pairs"] == ["line 2 repeats line 1"]


def test_several_double_deliveries_are_each_paired_with_their_original(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    records = copy.deepcopy(healthy_records)
    for original in (30, 60, 90):
        again = {"trade_id": f"again{original}", "timestamp": _later(records[original], 0.3)}
        records[original + 1] = {**copy.deepcopy(records[original]), **again}
    finding = _finding(write_log(records), "CLM.duplicates")
    assert finding.evidence["pairs"] == [f"line {n + 2} repeats line {n + 1}" for n in (30, 60, 90)]
    assert finding.message == (
        "3 record(s) (2%) repeat an earlier one within 1000 ms or reuse a trade_id (lines 32, 62, 92)"
    )  # 3 of 120 is 2.5 %, shown as Python rounds it


def test_constant_confidence_from_two_records_on_and_a_single_value_counted_once(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """Two records with one confidence already say 'nothing to calibrate'; one record cannot, and its
    single value counts as one distinct value in the evidence."""
    first, second = copy.deepcopy(healthy_records[:2])
    first["confidence"] = second["confidence"] = 0.6
    both = _finding(write_log([first, second], "two.jsonl"), "CLM.constant_confidence")
    assert both.status == "fail"
    assert both.message.split("; ")[0] == "confidence is 0.6 on every record: nothing to calibrate"
    assert both.evidence["confidence"] == 1
    alone = _finding(write_log([first], "one.jsonl"), "CLM.constant_confidence")
    assert alone.status == "pass"
    assert alone.evidence["confidence"] == 1


def test_a_stamp_exactly_at_the_future_tolerance_is_not_in_the_future(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    tolerance = timedelta(seconds=CONFIG.data.future_tolerance_s)
    for ahead, future in ((tolerance, False), (tolerance + timedelta(microseconds=1), True)):
        records = copy.deepcopy(healthy_records)
        records[-1]["timestamp"] = (NOW + ahead).isoformat()
        finding = _finding(write_log(records, f"ahead{ahead.microseconds}.jsonl"), "CLM.timestamps")
        assert finding.evidence["future"]["lines"] == ([len(records)] if future else []), finding.message


def test_a_step_back_within_the_configured_tolerance_is_in_order(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """With data.backwards_tolerance_s = 5, a stamp 2 s before its predecessor is in order, one 6 s before
    it goes backwards, and every forward step stays in order."""
    config = CONFIG.with_overrides({"data.backwards_tolerance_s": 5.0}, "test")
    records = copy.deepcopy(healthy_records)
    records[10]["timestamp"] = _later(records[9], -2)
    records[20]["timestamp"] = _later(records[19], -6)
    (finding,) = check_data(read_clm(write_log(records)), config, now=NOW).by_id("CLM.timestamps")
    assert finding.evidence["backwards"]["lines"] == [21], finding.message


def test_real_model_ids_and_exit_reasons_are_not_placeholders(
    healthy_records: Records, write_log: Callable[..., Path]
) -> None:
    """The recorder's own values pass; only a placeholder is named."""
    records = copy.deepcopy(healthy_records)
    for record in records:
        record.update({"model_id": "ensemble_v3", "exit_reason": "take_profit", "position_size": 241.4})
    assert _finding(write_log(records, "real.jsonl"), "CLM.placeholders").status == "pass"
    records[7]["exit_reason"] = "unknown"
    finding = _finding(write_log(records, "one.jsonl"), "CLM.placeholders")
    assert finding.status == "fail"
    assert "(line 8)" in finding.message, finding.message


def test_now_is_an_instant_whatever_form_it_is_given_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``now`` omitted is the current UTC instant even on a host whose local zone is not UTC; a naive
    ``now`` is read as UTC; an aware one in another zone is the same instant."""
    path = write_records(tmp_path / "recent.jsonl", sample_records(n_trades=120, now=datetime.now(UTC), seed=3))
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        current = check_data(read_clm(path), CONFIG)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert current.by_id("CLM.timestamps")[0].status == "pass", current.by_id("CLM.timestamps")[0].message
    assert current.by_id("S.f")[0].status == "pass"
    older = write_records(tmp_path / "older.jsonl", sample_records(n_trades=120, now=NOW, seed=3))
    as_utc = check_data(read_clm(older), CONFIG, now=NOW).by_id("S.f")[0].evidence
    naive = check_data(read_clm(older), CONFIG, now=NOW.replace(tzinfo=None)).by_id("S.f")[0].evidence
    elsewhere = NOW.astimezone(timezone(timedelta(hours=2)))
    shifted = check_data(read_clm(older), CONFIG, now=elsewhere).by_id("S.f")[0].evidence
    assert naive == as_utc
    assert shifted["age_hours"] == as_utc["age_hours"]
