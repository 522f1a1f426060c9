"""Property tests that can fail: start from a healthy log of 60 records (GO) and break exactly one thing.

Because the base is GO and large enough for every count rule, a STOP can only come from the one defect
put in, and each test also checks that the defect is *located* (its line or its item is named). A test
that fed random bytes alone could never reach 50 records, so its "never GO" would hold by the trade
count and prove nothing.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from calpolicy.clm import check_data
from calpolicy.clm.reader import parse_clm_bytes
from calpolicy.localenv.sample_log import sample_records
from calpolicy.vocabulary.config import load_config
from calpolicy.vocabulary.verdict import Verdict

CONFIG = load_config(environ={})
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HEALTHY = sample_records(n_trades=60, now=NOW, seed=11)
LINES = [json.dumps(r).encode() + b"\n" for r in HEALTHY]
HEALTHY_BYTES = b"".join(LINES)
# CALPOLICY_PROPERTY_EXAMPLES=n: n examples, always the same ones (tools/mutation.sh runs these tests once per
# mutant; a small fixed set keeps that fast and its result repeatable). Unset: 40 fresh examples per test.
_EXAMPLES = os.environ.get("CALPOLICY_PROPERTY_EXAMPLES")
SETTINGS = settings(
    max_examples=int(_EXAMPLES or 40),
    derandomize=_EXAMPLES is not None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Items that judge the whole log rather than one line; a defect may show there instead of at its line.
WHOLE_LOG_ITEMS = {"P0.2.c", "S.a"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _verdict(data: bytes, now: datetime = NOW) -> Verdict:
    verdict = check_data(parse_clm_bytes(data), CONFIG, now=now)
    json.loads(verdict.to_json())  # the --json output never breaks either
    return verdict


def _names_line(verdict: Verdict, number: int) -> bool:
    """Whether a failing finding points at line ``number``, in its evidence or in its message."""
    for finding in verdict.failures:
        nested = [value for value in finding.evidence.values() if isinstance(value, dict)]
        if any(number in evidence.get("lines", []) for evidence in (finding.evidence, *nested)):
            return True
    pattern = re.compile(rf"\blines? (?:\d+, )*{number}\b")
    return any(pattern.search(f.message) for f in verdict.failures)


def _with_line(index: int, line: bytes) -> bytes:
    return b"".join(LINES[:index]) + line + b"".join(LINES[index + 1 :])


def test_healthy_base_is_go_and_large_enough() -> None:
    assert len(HEALTHY) >= CONFIG.cadence.min_trades
    assert _verdict(HEALTHY_BYTES).go


@SETTINGS
@given(index=st.integers(0, len(LINES) - 1), junk=st.binary(min_size=1, max_size=200))
def test_one_line_of_random_bytes_stops_at_that_line(index: int, junk: bytes) -> None:
    assume(junk.strip() and b"\n" not in junk and b"\r" not in junk)
    verdict = _verdict(_with_line(index, junk + b"\n"))
    assert not verdict.go
    # a NUL byte anywhere makes the whole file not UTF-8 text: that is named for the file, not a line
    whole_file = b"\x00" in junk and any("NUL bytes" in f.message for f in verdict.failures)
    assert _names_line(verdict, index + 1) or whole_file, verdict.to_json()


@SETTINGS
@given(index=st.integers(0, len(LINES) - 1), value=json_values)
def test_one_line_of_random_json_stops_at_that_line(index: int, value: Any) -> None:
    verdict = _verdict(_with_line(index, json.dumps(value).encode() + b"\n"))
    assert not verdict.go
    assert _names_line(verdict, index + 1) or {f.id for f in verdict.failures} & WHOLE_LOG_ITEMS


FIELDS = ("timestamp", "symbol", "action", "entry_price", "exit_price", "pnl_percent", "confidence")
DELETE = object()
BAD_VALUES: dict[str, Any] = {
    "null": None, "nan": math.nan, "inf": math.inf, "zero": 0.0, "minus_one": -1.0, "empty": "",
    "text": "abc", "true": True, "list": [1, 2], "deleted": DELETE,
}  # fmt: skip
INDICES = (0, 29, 59)  # first, middle and last line: ordering checks see each position differently


def _is_still_valid(field: str, original: Any, value: Any) -> bool:
    """A "corruption" that is a valid value for the field is no corruption; such pairs are not generated."""
    if value is DELETE or isinstance(value, bool):
        return False
    if field == "symbol":
        return isinstance(value, str) and value != ""
    is_number = isinstance(value, float) and math.isfinite(value)
    if field == "confidence":
        return is_number and 0 <= value <= 1
    if field == "pnl_percent":
        return is_number and value * original > 0
    return False


CORRUPTIONS = [
    pytest.param(index, field, value, id=f"line{index + 1}-{field}-{name}")
    for index in INDICES
    for field in FIELDS
    for name, value in BAD_VALUES.items()
    if not _is_still_valid(field, HEALTHY[index][field], value)
]


def test_only_valid_values_are_left_out_of_the_corruption_grid() -> None:
    """Symbol "abc", confidence 0.0 and PnL -1.0 on a losing trade are valid records, not corruptions."""
    left_out = {
        (field, name)
        for index in INDICES
        for field in FIELDS
        for name, value in BAD_VALUES.items()
        if _is_still_valid(field, HEALTHY[index][field], value)
    }
    assert left_out <= {("symbol", "text"), ("confidence", "zero"), ("pnl_percent", "minus_one")}
    assert len(CORRUPTIONS) >= len(INDICES) * (len(FIELDS) * len(BAD_VALUES) - 3)


@pytest.mark.parametrize(("index", "field", "value"), CORRUPTIONS)
def test_one_corrupted_field_stops_and_is_located(index: int, field: str, value: Any) -> None:
    records = copy.deepcopy(HEALTHY)
    if value is DELETE:
        del records[index][field]
    else:
        records[index][field] = value
    verdict = _verdict("".join(json.dumps(r) + "\n" for r in records).encode())
    assert not verdict.go, (field, value)
    assert _names_line(verdict, index + 1) or {f.id for f in verdict.failures} & WHOLE_LOG_ITEMS, verdict.to_json()


@SETTINGS
@given(first=st.integers(0, len(HEALTHY) - 1), second=st.integers(0, len(HEALTHY) - 1))
def test_a_reused_trade_id_alone_is_a_duplicate(first: int, second: int) -> None:
    """Everything else differs (time, symbol, prices, confidences): only the trade_id repeats."""
    assume(first != second)
    records = copy.deepcopy(HEALTHY)
    records[second]["trade_id"] = records[first]["trade_id"]
    verdict = _verdict("".join(json.dumps(r) + "\n" for r in records).encode())
    assert {f.id for f in verdict.failures} == {"CLM.duplicates"}
    (finding,) = verdict.by_id("CLM.duplicates")
    assert finding.evidence["lines"] == [max(first, second) + 1]


@SETTINGS
@given(index=st.integers(0, len(LINES) - 2), cut=st.floats(0.01, 0.99))
def test_a_torn_line_in_the_middle_stops_at_that_line(index: int, cut: float) -> None:
    line = LINES[index]
    torn = line[: max(1, int(cut * (len(line) - 1)))] + b"\n"
    verdict = _verdict(_with_line(index, torn))
    assert "CLM.parse" in {f.id for f in verdict.failures}
    assert verdict.by_id("CLM.parse")[0].evidence["lines"] == [index + 1]


@SETTINGS
@given(cut=st.integers(1, len(LINES[-1]) - 2))
def test_a_log_cut_inside_its_last_line_stops_and_says_so(cut: int) -> None:
    data = HEALTHY_BYTES[: len(HEALTHY_BYTES) - len(LINES[-1]) + cut]
    verdict = _verdict(data)
    assert not verdict.go
    (parse,) = verdict.by_id("CLM.parse")
    assert parse.status == "fail"
    assert parse.evidence["lines"] == [len(LINES)]
    assert "the last line has no newline" in parse.message


@pytest.mark.parametrize("kept", [1, 2, 49, 50, 51, 60])
def test_a_log_cut_at_a_line_end_is_judged_on_the_lines_kept(kept: int) -> None:
    """A clean prefix is a valid log: only the count rules may stop it, exactly at ``min_trades``."""
    last_trade = datetime.fromisoformat(HEALTHY[kept - 1]["timestamp"]).replace(tzinfo=UTC)
    verdict = _verdict(b"".join(LINES[:kept]), now=last_trade)  # judged when it was written: no starvation
    enough = kept >= CONFIG.cadence.min_trades
    assert verdict.by_id("P0.2.b")[0].status == ("pass" if enough else "fail")
    assert verdict.by_id("CLM.parse")[0].status == "pass"
    failing = {f.id for f in verdict.failures}
    if enough:
        assert verdict.go, failing
    else:
        assert {"P0.2.b", "S.a"} <= failing <= {"P0.2.b", "P0.2.c", "P0.2.d", "S.a", "CLM.constant_confidence"}


def test_hypothesis_is_derandomized_in_ci() -> None:
    """Issue 24: a property failure CI found once must fail on every CI run until fixed. With CI set, the
    suite's conftest loads the "ci" profile: examples seeded from each test, no example database."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import unit_tests.conftest\n"
        "from hypothesis import settings\n"
        "print(settings.default.derandomize, settings.default.database)\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "CI": "true"}
    env.pop("HYPOTHESIS_PROFILE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, timeout=120)
    assert done.stdout.split() == ["True", "None"], done.stderr
    env["CI"] = "false"
    local = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, timeout=120)
    assert local.stdout.split()[0] == "False", local.stderr
