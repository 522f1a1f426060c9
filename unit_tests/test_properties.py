"""Property tests: whatever bytes arrive, the gate answers (never raises) and never says GO on a defect."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calpolicy.clm import check_data
from calpolicy.clm.reader import parse_clm_bytes
from calpolicy.config import load_config
from calpolicy.localenv.sample_log import sample_records

CONFIG = load_config(environ={})
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HEALTHY = sample_records(n_trades=60, now=NOW, seed=11)
HEALTHY_BYTES = "".join(json.dumps(r) + "\n" for r in HEALTHY).encode()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _verdict(data: bytes):
    return check_data(parse_clm_bytes(data), CONFIG, now=NOW)


def test_healthy_base_is_go() -> None:
    assert _verdict(HEALTHY_BYTES).go


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_and_never_go(data: bytes) -> None:
    verdict = _verdict(data)
    assert not verdict.go
    assert verdict.exit_code in (1, 3)
    assert json.loads(verdict.to_json())["verdict"] == "STOP"  # the --json output never breaks either


@SETTINGS
@given(st.lists(json_values, min_size=0, max_size=60))
def test_random_json_lines_never_raise_and_never_go(values: list[Any]) -> None:
    data = "".join(json.dumps(v) + "\n" for v in values).encode()
    verdict = _verdict(data)
    assert not verdict.go
    assert json.loads(verdict.to_json())["exit_code"] in (1, 3)


FIELDS = ("timestamp", "symbol", "action", "entry_price", "exit_price", "pnl_percent", "confidence")
BAD_VALUES = st.one_of(
    st.none(),
    st.just(math.nan),
    st.just(math.inf),
    st.just(0.0),
    st.just(-1.0),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.just("__delete__"),
)


def _still_valid(field: str, original: Any, value: Any) -> bool:
    if value == original:
        return True
    if field == "symbol":
        return isinstance(value, str) and value != ""
    is_number = isinstance(value, float) and math.isfinite(value)
    if field == "confidence":
        return is_number and 0 <= value <= 1
    if field == "pnl_percent":
        return is_number and value * original > 0
    return False


@SETTINGS
@given(index=st.integers(0, len(HEALTHY) - 1), field=st.sampled_from(FIELDS), value=BAD_VALUES)
def test_one_corrupted_field_is_never_go(index: int, field: str, value: Any) -> None:
    records = copy.deepcopy(HEALTHY)
    original = records[index][field]
    if value == "__delete__":
        del records[index][field]
    else:
        if _still_valid(field, original, value):
            value = None  # a "corruption" that is a valid value is no corruption; use null instead
        records[index][field] = value
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    verdict = _verdict(data)
    assert not verdict.go, (field, value)
    json.loads(verdict.to_json())
    flagged = {n for f in verdict.failures for n in f.evidence.get("lines", [])}
    located = any(f"line {index + 1}" in f.message or (index + 1) in flagged for f in verdict.failures)
    assert located or any(f.id in ("P0.2.c", "CLM.timestamps", "S.a") for f in verdict.failures)


@SETTINGS
@given(cut=st.integers(1, len(HEALTHY_BYTES) - 2))
def test_truncated_file_never_goes_unless_cut_at_a_line_end(cut: int) -> None:
    data = HEALTHY_BYTES[:cut]
    verdict = _verdict(data)
    if data.endswith(b"\n") and data.count(b"\n") >= CONFIG.cadence.min_trades:
        return  # a clean prefix of a healthy log is itself a valid log
    if not data.endswith(b"\n"):
        assert not verdict.go
