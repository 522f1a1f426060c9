"""The CLM reader: both record shapes, faithful line numbers, and the fast and exact paths agreeing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calpolicy.clm._frame import _zoned
from calpolicy.clm.reader import parse_clm_bytes, read_clm
from unit_tests.conftest import FIXTURE_LOG

RECORDER_LINE = {
    "timestamp": "2026-03-11T03:18:56.120000+00:00",
    "symbol": "ADAUSDT",
    "side": "SHORT",
    "entry_price": 0.5123,
    "exit_price": 0.5118,
    "pnl_percent": 0.0976,
    "confidence": 0.71,
    "model_id": "ensemble_v3",
    "outcome_label": "NEUTRAL",
    "duration_seconds": 312,
    "strategy_id": None,
    "position_size": 150.0,
    "exit_reason": "take_profit",
}


def test_fixture_is_read_in_full_with_all_four_models() -> None:
    log = read_clm(FIXTURE_LOG)
    assert log.reader == "fast"
    assert log.records == 52 == log.line_count
    assert log.models == ("xgb", "lgbm", "nhits", "patchtst")
    assert log.frame["line"].tolist() == list(range(1, 53))
    first = log.frame.iloc[0]
    assert first["side"] == "BUY"  # read from "action"
    assert first["pnl_pct"] == -0.873
    assert first["duration_s"] == 89 * 60  # duration_minutes → seconds
    assert first["conf__xgb"] == 0.569
    assert first["action__patchtst"] == "HOLD"
    assert first["timestamp"] == pd.Timestamp("2026-01-23T06:03:03.334338", tz="UTC")
    assert bool(first["timestamp_naive"]) is True
    assert len(log.sha256) == 64


def test_recorder_format_and_checklist_pnl_name() -> None:
    other = dict(RECORDER_LINE, timestamp="2026-03-11T03:20:00+00:00")
    other.pop("pnl_percent")
    other["actual_pnl_pct"] = -0.25
    log = parse_clm_bytes((json.dumps(RECORDER_LINE) + "\n" + json.dumps(other) + "\n").encode())
    assert log.frame["pnl_pct"].tolist() == [0.0976, -0.25]
    assert log.frame["side"].tolist() == ["SHORT", "SHORT"]
    assert log.frame["duration_s"].tolist() == [312.0, 312.0]
    assert bool(log.frame["timestamp_naive"].iloc[0]) is False
    assert log.aliases_used["pnl_pct"] == ["actual_pnl_pct", "pnl_percent"]
    assert log.models == ()


def _exact(data: bytes):
    # object-shaped and record-sized: Arrow refuses the piece, which is then read line by line
    return parse_clm_bytes(data + b"{not json" + b" " * 100 + b"}\n")


def test_fast_and_exact_paths_agree_on_a_clean_file() -> None:
    data = FIXTURE_LOG.read_bytes()
    fast, exact = parse_clm_bytes(data), _exact(data)
    assert (fast.reader, exact.reader) == ("fast", "exact")
    columns = [c for c in fast.frame.columns]
    pd.testing.assert_frame_equal(
        fast.frame[columns].astype(object), exact.frame.iloc[:52][columns].astype(object), check_dtype=False
    )
    assert exact.parse_errors == [
        (53, "not valid JSON (Expecting property name enclosed in double quotes at column 2)")
    ]


def test_blank_lines_do_not_shift_line_numbers() -> None:
    lines = FIXTURE_LOG.read_bytes().splitlines()
    data = b"\n".join([lines[0], b"", b"   ", lines[1], lines[2]]) + b"\n"
    log = parse_clm_bytes(data)
    assert log.frame["line"].tolist() == [1, 4, 5]
    assert log.blank_lines.tolist() == [2, 3]


def test_defects_are_kept_and_located_never_dropped() -> None:
    good = json.loads(FIXTURE_LOG.read_text().splitlines()[0])
    lines = [
        json.dumps(good),
        json.dumps(dict(good, entry_price="42912.65")),  # a string price
        json.dumps(good).replace('"exit_price": 42538.18', '"exit_price": NaN'),  # Python's json.dumps of nan
        json.dumps(dict(good, pnl_percent=None)),
        "[1, 2, 3]",
        '{"symbol": "BTCUSDT", ',  # truncated write
        json.dumps(dict(good, model_predictions={"xgb": 0.5})),
    ]
    log = parse_clm_bytes(("\n".join(lines) + "\n").encode())
    assert log.reader == "exact"
    assert log.records == 5  # the two non-objects are reported, the rest kept
    assert [n for n, _ in log.parse_errors] == [5, 6]
    assert "not a JSON object (a JSON list)" in log.parse_errors[0][1]
    assert log.type_errors["entry_price"].tolist() == [2]
    assert np.isnan(log.frame.loc[log.frame["line"] == 3, "exit_price"]).all()
    assert log.nulls["pnl_pct"].tolist() == [4]
    assert log.type_errors["conf__xgb"].tolist() == [7]


def test_missing_directory_and_oversized_files_are_read_errors(tmp_path: Path) -> None:
    assert "not found" in (read_clm(tmp_path / "absent.jsonl").read_error or "")
    assert not read_clm(tmp_path / "absent.jsonl").exists
    assert "not a regular file" in (read_clm(tmp_path).read_error or "")
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 4096)
    assert "above the configured limit" in (read_clm(big, max_bytes=1024).read_error or "")


def test_empty_file_reads_as_zero_records(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    log = read_clm(empty)
    assert log.read_error is None
    assert log.records == 0
    assert log.line_count == 0


@pytest.mark.parametrize("raw", [b'{"a": 1}', b'{"a": 1}\n{"b": 2}'])
def test_last_line_without_newline_is_noticed(raw: bytes) -> None:
    log = parse_clm_bytes(raw)
    assert log.missing_final_newline
    assert log.line_count == raw.count(b"\n") + 1


@pytest.mark.parametrize("raw", [b"null\n", b"null\n" + FIXTURE_LOG.read_bytes(), b'  {"a": 1}\n', b"{} null\n"])
def test_inputs_that_crash_arrow_never_reach_it(raw: bytes) -> None:
    """pyarrow 26 segfaults on a log whose first value is ``null``; such lines must never reach it (they
    are not object-shaped, so they are reported, and only ``{...}`` lines go to Arrow)."""
    log = parse_clm_bytes(raw)
    assert log.parse_errors or log.records
    assert log.records + log.parse_error_count == raw.count(b"\n")


def test_line_scan_is_exact_across_block_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-object-per-line proof is computed in blocks; a boundary straddling two blocks still counts."""
    import calpolicy.clm.scan as scan

    data = FIXTURE_LOG.read_bytes()
    whole = scan.scan_lines(data)
    monkeypatch.setattr(scan, "SCAN_BLOCK", 7)
    assert scan.scan_lines(data) == whole
    assert (whole.newlines, whole.boundaries) == (52, 51)
    gap = parse_clm_bytes(data.replace(b"}\n{", b"}\n\n{", 1))
    assert gap.blank_lines.tolist() == [2]
    assert gap.frame["line"].tolist() == [1, *range(3, 54)]


def test_a_defect_costs_only_its_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken line sends its own piece line by line; the other pieces stay on Arrow, same result."""
    import calpolicy.clm._irregular as irregular
    import calpolicy.clm.reader as reader

    lines = FIXTURE_LOG.read_bytes().splitlines()
    lines[24] = lines[24].replace(b'"entry_price": ', b'"entry_price": "oops", "was": ')
    lines[40] = lines[40].replace(b'"xgb": {', b'"xgb": 7, "old_xgb": {')
    data = b"\n".join(lines) + b"\n"
    whole = reader.parse_clm_bytes(data)
    monkeypatch.setattr(irregular, "_PIECE_LINES", 10)
    pieces = reader.parse_clm_bytes(data)
    assert (whole.reader, pieces.reader) == ("exact", "mixed")
    assert pieces.type_errors.keys() == whole.type_errors.keys()
    for column, found in whole.type_errors.items():
        assert pieces.type_errors[column].tolist() == found.tolist()
    assert pieces.type_errors["entry_price"].tolist() == [25]
    assert pieces.type_errors["conf__xgb"].tolist() == [41]
    assert pieces.models == whole.models
    columns = sorted(whole.frame.columns)
    assert sorted(pieces.frame.columns) == columns
    pd.testing.assert_frame_equal(
        pieces.frame[columns].astype(object), whole.frame[columns].astype(object), check_dtype=False
    )


_BAD_VALUES = st.sampled_from([None, 0.0, -1.0, 1.5, float("nan"), float("inf"), "", "HOLD", "x", 7, "BUY", 0.5, 1e309])
_SCHEMA_FIELDS = st.sampled_from(
    ["entry_price", "exit_price", "pnl_percent", "confidence", "symbol", "action", "timestamp", "model_predictions"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.integers(0, 51), _SCHEMA_FIELDS, _BAD_VALUES), max_size=3))
def test_vectorised_schema_equals_pandera(changes: list[tuple[int, str, Any]]) -> None:
    """The NumPy masks report exactly what pandera's lazy validation of ``clm_schema`` reports."""
    from calpolicy.clm import schema

    records = [json.loads(line) for line in FIXTURE_LOG.read_text().splitlines()]
    for index, key, value in changes:
        records[index][key] = value
    log = parse_clm_bytes(("\n".join(json.dumps(r) for r in records) + "\n").encode())
    ours = schema.schema_violations(log.frame, log.models)
    theirs = schema.pandera_violations(log.frame, log.models)
    assert {k: v.tolist() for k, v in ours.items()} == {k: v.tolist() for k, v in theirs.items()}


_ENDINGS = st.sampled_from(["Z", "z", "+00:00", "-05:30", "+0530", "+05", "", "+5", "+00:0", "Z\n", "é", "+00:00 "])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(st.text(max_size=12), _ENDINGS).map("".join)), max_size=40))
def test_a_stamp_is_naive_exactly_when_it_names_no_zone_at_its_end(stamps: list[str | None]) -> None:
    """The zone test runs once per distinct ending and is mapped back: it must agree, stamp by stamp, with
    the rule applied to each stamp on its own (Z, or ±hh[:mm] as the last characters; missing = zoned)."""
    rule = re.compile(r"(?:Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)\Z")
    expected = [s is None or bool(rule.search(s)) for s in stamps]
    half = len(stamps) // 2
    chunked = pa.chunked_array([stamps[:half], stamps[half:]], type=pa.large_string())
    assert _zoned(chunked).tolist() == expected
    assert _zoned(pa.array(stamps, type=pa.large_string())).tolist() == expected


_NUMBER = st.one_of(st.none(), st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False))
_TEXT = st.one_of(st.none(), st.sampled_from(["BUY", "SELL", "LONG", "x", ""]))


@st.composite
def _records_with_aliases(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Recorder lines where each record picks its own names: side or action (or both), pnl_percent or
    actual_pnl_pct, seconds or minutes, each maybe null, maybe absent, and maybe disagreeing."""
    records = []
    for _ in range(draw(st.integers(1, 12))):
        record = dict(RECORDER_LINE)
        for first, second, values in (
            ("side", "action", _TEXT),
            ("pnl_percent", "actual_pnl_pct", _NUMBER),
            ("duration_seconds", "duration_minutes", _NUMBER),
        ):
            record.pop(first)
            for name in draw(st.sampled_from([(first,), (second,), (first, second), ()])):
                record[name] = draw(values)
        records.append(record)
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_records_with_aliases())
def test_fast_and_exact_paths_agree_on_every_mix_of_field_names(records: list[dict[str, Any]]) -> None:
    """Arrow's columns are coalesced alias by alias; the line-by-line path decides per record. Whatever
    names each record uses, both give the same values, the same missing lines and the same conflicts."""
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    fast, exact = parse_clm_bytes(data), _exact(data)
    assert fast.reader == "fast"
    columns = list(fast.frame.columns)
    pd.testing.assert_frame_equal(
        fast.frame[columns].astype(object),
        exact.frame.iloc[: len(records)][columns].astype(object),
        check_dtype=False,
    )
    for name in ("nulls", "alias_conflicts", "type_errors"):
        assert {k: v.tolist() for k, v in getattr(fast, name).items()} == {
            k: v.tolist() for k, v in getattr(exact, name).items()
        }, name
    assert fast.aliases_used == exact.aliases_used
