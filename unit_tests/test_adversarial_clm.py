"""Adversarial CLM inputs (issue 9): each one through ``calpolicy check-data`` as a real child process.

Every case asserts the exit code, that the message names the problem, that the verdict is never GO, that
no Python traceback escapes, and that the child's peak memory and wall time stay bounded. The hostile
logs start from a healthy log that gives GO (checked below), so "never GO" is a claim that can fail.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calpolicy.clm import check_data
from calpolicy.clm.reader import parse_clm_bytes
from calpolicy.localenv.sample_log import sample_records
from calpolicy.vocabulary.config import load_config

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CALPOLICY = str(Path(sys.executable).parent / "calpolicy")
MiB = 2**20

# Runs one command and prints its exit code, wall time and peak RSS. RUSAGE_CHILDREN's ru_maxrss is the
# largest child so far, so a fresh wrapper per case measures exactly that case's child.
MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)
wall = time.perf_counter() - t0
sys.stderr.write(done.stderr)
print(done.returncode, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout, end="")
"""


@dataclass
class Gate:
    code: int
    wall_s: float
    rss_mib: float
    stdout: str
    stderr: str

    @property
    def verdict(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def finding(self, control: str) -> dict[str, Any]:
        return next(f for f in self.verdict["findings"] if f["id"] == control)

    def message(self, control: str) -> str:
        return str(self.finding(control)["message"])


@functools.cache
def _empty_config() -> Path:
    """An empty calpolicy.toml (the checklist's defaults); a config must be a regular file, not /dev/null."""
    path = Path(tempfile.mkdtemp(prefix="calpolicy-adversarial-")) / "calpolicy.toml"
    path.write_text("")
    return path


def run_gate(path: Path | str, *, prefix: tuple[str, ...] = ()) -> Gate:
    """``calpolicy check-data PATH --json`` in a child, measured by a wrapper process of its own."""
    command = [*prefix, CALPOLICY, "check-data", str(path), "--json", "--now", NOW.isoformat()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY")}
    env["CALPOLICY_CONFIG"] = str(_empty_config())  # no stray calpolicy.toml from the working directory
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, timeout=330, env=env
    )
    head, _, stdout = out.stdout.partition("\n")
    code, wall, rss_kib = head.split()
    return Gate(int(code), float(wall), int(rss_kib) / 1024, stdout, out.stderr)


def assert_stopped(gate: Gate, code: int, control: str, *words: str) -> str:
    """Never GO, the expected exit code, no traceback, and the named control's message says ``words``."""
    assert "Traceback" not in gate.stderr, gate.stderr
    assert gate.code == code, (gate.code, gate.stdout[:2000], gate.stderr[-2000:])
    verdict = gate.verdict
    assert verdict["verdict"] == "STOP"
    assert verdict["exit_code"] == code
    message = gate.message(control)
    for word in words:
        assert word in message, message
    return message


def healthy_lines(n: int = 60) -> list[str]:
    return [json.dumps(record) for record in sample_records(n_trades=n, now=NOW, seed=5)]


HEALTHY = healthy_lines()


def write(path: Path, lines: list[str] | list[bytes], end: bytes = b"\n") -> Path:
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    path.write_bytes(b"\n".join(raw) + end)
    return path


def mutated(index: int, new: str | bytes) -> list[bytes]:
    lines = [line.encode() for line in HEALTHY]
    lines[index] = new.encode() if isinstance(new, str) else new
    return lines


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    """The healthy log: GO, exit 0. Its peak RSS is the constant in the memory bounds below."""
    gate = run_gate(write(tmp_path_factory.mktemp("healthy") / "clm.jsonl", HEALTHY))
    assert gate.code == 0, gate.stdout
    assert gate.verdict["verdict"] == "GO"
    return gate


def assert_memory(gate: Gate, baseline: Gate, file_bytes: int) -> None:
    """Issue 9: peak memory within 4x the file size plus a constant (the healthy run's peak + 64 MiB)."""
    bound = 4 * file_bytes / MiB + baseline.rss_mib + 64
    assert gate.rss_mib <= bound, f"peak RSS {gate.rss_mib:.0f} MiB > {bound:.0f} MiB"


# ------------------------------------------------------------------------------------ false GO


@pytest.mark.parametrize(("before", "after"), [("\t", ""), (" \r\t", "\r ")])
def test_duplicate_key_with_any_json_whitespace(tmp_path: Path, baseline: Gate, before: str, after: str) -> None:
    line = HEALTHY[10][:-1] + f', "entry_price"{before}:{after}1.0}}'
    gate = run_gate(write(tmp_path / "clm.jsonl", mutated(10, line)))
    assert_stopped(gate, 1, "CLM.parse", "line 11", "'entry_price' appears more than once")


def test_duplicate_key_inside_model_predictions(tmp_path: Path, baseline: Gate) -> None:
    line = HEALTHY[3].replace('"confidence": ', '"confidence" \t: 0.99, "confidence": ', 2)
    gate = run_gate(write(tmp_path / "clm.jsonl", mutated(3, line)))
    assert_stopped(gate, 1, "CLM.parse", "line 4", "'confidence' appears more than once")


# ------------------------------------------------------------------------------------- crashes


def test_nesting_20000_deep_is_a_finding_not_a_segfault(tmp_path: Path, baseline: Gate) -> None:
    line = HEALTHY[10][:-1] + ', "x": ' + "[" * 20_000 + "]" * 20_000 + "}"
    gate = run_gate(write(tmp_path / "clm.jsonl", mutated(10, line)))
    assert_stopped(gate, 1, "CLM.parse", "line 11", "nested")


def test_nesting_just_over_the_bound_on_the_line_by_line_path(tmp_path: Path, baseline: Gate) -> None:
    line = HEALTHY[10][:-1] + ', "x": ' + "[" * 65 + "]" * 65 + "}"
    lines = mutated(10, line)
    lines[20] = b'{"torn": '  # a second defect, so the log is certainly not read by Arrow in one go
    gate = run_gate(write(tmp_path / "clm.jsonl", lines))
    assert_stopped(gate, 1, "CLM.parse", "line 11: nested 66 levels deep", "line 21")


def test_lone_surrogate(tmp_path: Path, baseline: Gate) -> None:
    line = HEALTHY[7].replace('"symbol": "', '"symbol": "\\ud800', 1)
    gate = run_gate(write(tmp_path / "clm.jsonl", mutated(7, line)))
    assert_stopped(gate, 1, "CLM.parse", "line 8", "surrogate")


@pytest.mark.parametrize("number", ["9" * 400, "9" * 5000, "1e309"])
def test_huge_numbers_in_a_price_on_the_line_by_line_path(tmp_path: Path, baseline: Gate, number: str) -> None:
    record = json.loads(HEALTHY[12])
    line = json.dumps(record).replace(f'"entry_price": {json.dumps(record["entry_price"])}', f'"entry_price": {number}')
    assert number in line
    lines = mutated(12, line)
    lines[30] = b"not json"
    gate = run_gate(write(tmp_path / "clm.jsonl", lines))
    assert_stopped(gate, 1, "P0.2.e", "entry_price is infinite (line 13)")
    assert "line 31" in gate.message("CLM.parse")


@pytest.mark.parametrize("number", ["9" * 5000, "-1e309"])
def test_huge_numbers_in_an_unknown_field(tmp_path: Path, baseline: Gate, number: str) -> None:
    lines = mutated(12, HEALTHY[12][:-1] + f', "extra": {number}}}')
    lines[30] = b'{"symbol": "BTC'  # forces the line-by-line path; the huge number itself is harmless
    gate = run_gate(write(tmp_path / "clm.jsonl", lines))
    assert_stopped(gate, 1, "CLM.parse", "1 line(s)", "line 31")
    assert gate.finding("P0.2.b")["evidence"]["records"] == len(HEALTHY) - 1


def test_file_inside_an_unreadable_directory(tmp_path: Path, baseline: Gate) -> None:
    """Root reads every folder, so the child runs as root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH
    (setpriv): then a folder's mode bits apply to it as they do to an operator's account."""
    folder = tmp_path / "locked"
    folder.mkdir()
    log = write(folder / "clm.jsonl", HEALTHY)
    folder.chmod(0o000)
    try:
        gate = run_gate(log, prefix=("setpriv", "--bounding-set=-dac_override,-dac_read_search"))
    finally:
        folder.chmod(0o755)
    assert_stopped(gate, 3, "P0.2.a", "permission denied", str(log))


def test_file_name_too_long(tmp_path: Path, baseline: Gate) -> None:
    gate = run_gate(tmp_path / ("c" * 300 + ".jsonl"))
    assert_stopped(gate, 3, "P0.2.a", "name is too long")


# -------------------------------------------------------------------------------- unbounded memory


def test_twenty_megabytes_of_junk_lines(tmp_path: Path, baseline: Gate) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b"x\n" * 10_000_000)
    gate = run_gate(path)
    message = assert_stopped(gate, 1, "CLM.parse", "10000000 line(s) cannot be read", "line 1:")
    evidence = gate.finding("CLM.parse")["evidence"]
    assert len(evidence["reasons"]) == 20
    assert evidence["count"] == 10_000_000
    assert len(message) < 2000
    assert_memory(gate, baseline, path.stat().st_size)
    assert gate.wall_s < 120


@pytest.mark.parametrize("line", [b"{}", b'{"symbol": "BTCUSDT", "x": "' + b"a" * 60 + b'"}'])
def test_a_flood_of_tiny_objects(tmp_path: Path, baseline: Gate, line: bytes) -> None:
    """Objects too short to be a record are counted like junk: 30 MB of them must not become a 2 GB frame."""
    path = tmp_path / "tiny.jsonl"
    path.write_bytes((line + b"\n") * (30_000_000 // (len(line) + 1)))
    gate = run_gate(path)
    assert_stopped(gate, 1, "CLM.parse", "line 1:", "too short to hold all seven required fields")
    assert_memory(gate, baseline, path.stat().st_size)


@pytest.mark.parametrize(
    "record",
    [
        {f"k{i}": 1 for i in range(16)},  # no field the gate reads: every one of its columns is empty
        {"entry_price": 1, "exit_price": 2, "pnl_percent": 1, "confidence": 0.5, "x": 1, "y": 2, "z": 3},
    ],
    ids=["unknown-keys-only", "numbers-without-strings"],
)
def test_short_records_missing_fields_stay_within_four_times_the_file(
    tmp_path: Path, baseline: Gate, record: dict[str, int | float]
) -> None:
    """Lines of 100-160 bytes whose fields the gate mostly does not read: Arrow's columns for them (8 bytes
    per key per line) outgrew the file, and peak memory reached 6.6x its size before issue 9's fix."""
    line = json.dumps(record).encode() + b"\n"
    path = tmp_path / "short.jsonl"
    path.write_bytes(line * (60 * MiB // len(line)))
    gate = run_gate(path)
    assert_stopped(gate, 1, "CLM.schema")
    assert_memory(gate, baseline, path.stat().st_size)


@pytest.mark.parametrize("body", [b"x" * (200 * MiB), b'{"a": "' + b"x" * (64 * MiB) + b'"}'])
def test_one_huge_line(tmp_path: Path, baseline: Gate, body: bytes) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_bytes(body + b"\n")
    gate = run_gate(path)
    assert_stopped(gate, 1, "P0.2.b", "0 trades" if body[:1] == b"x" else "1 trades")
    assert_memory(gate, baseline, len(body))
    assert gate.wall_s < 120


# ------------------------------------------------------------------------------------- smaller


def test_blank_line_in_the_middle_is_reported_with_its_number(tmp_path: Path, baseline: Gate) -> None:
    gate = run_gate(write(tmp_path / "clm.jsonl", mutated(25, b"")))
    assert_stopped(gate, 1, "CLM.parse", "1 blank line", "line 26")


def test_messages_use_the_records_own_field_paths(tmp_path: Path, baseline: Gate) -> None:
    records = [json.loads(line) for line in HEALTHY]
    model = next(iter(records[5]["model_predictions"]))
    records[5]["model_predictions"][model]["confidence"] = 1.7
    records[9]["timestamp"] = 1773400000
    gate = run_gate(write(tmp_path / "clm.jsonl", [json.dumps(r) for r in records]))
    assert_stopped(gate, 1, "CLM.confidence", f"model_predictions.{model}.confidence is outside [0, 1] (line 6)")
    assert "timestamp has the wrong JSON type (line 10)" in gate.message("CLM.schema")
    assert "conf__" not in gate.stdout
    assert "timestamp_raw" not in gate.stdout


def test_torn_last_line_gets_the_mid_append_hint(tmp_path: Path, baseline: Gate) -> None:
    lines = mutated(len(HEALTHY) - 1, HEALTHY[-1][:40])
    gate = run_gate(write(tmp_path / "clm.jsonl", lines, end=b""))
    assert_stopped(gate, 1, "CLM.parse", f"line {len(HEALTHY)}", "mid-append")


def test_utf16_log_is_named_and_not_called_torn(tmp_path: Path, baseline: Gate) -> None:
    path = tmp_path / "clm.jsonl"
    path.write_bytes("\n".join(HEALTHY).encode("utf-16"))  # no final newline either
    gate = run_gate(path)
    assert_stopped(gate, 3, "P0.2.a", "UTF-16")
    assert "mid-append" not in gate.stdout


def test_utf8_bom_is_named(tmp_path: Path, baseline: Gate) -> None:
    path = tmp_path / "clm.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(HEALTHY).encode() + b"\n")
    gate = run_gate(path)
    assert_stopped(gate, 1, "CLM.parse", "byte-order mark", "line 1")
    assert "mid-append" not in gate.stdout


def test_json_array_is_not_called_torn(tmp_path: Path, baseline: Gate) -> None:
    path = tmp_path / "clm.jsonl"
    path.write_bytes(("[\n" + ",\n".join(HEALTHY) + "\n]").encode())  # no final newline
    gate = run_gate(path)
    assert_stopped(gate, 1, "CLM.parse", "line 1")
    assert "mid-append" not in gate.stdout


# ------------------------------------------------------------------------------ hypothesis


def _hostile(draw: st.DrawFn) -> tuple[int, bytes, str]:
    """One hostile mutation of one healthy line: (index, new line, a word the message must contain)."""
    index = draw(st.integers(0, len(HEALTHY) - 1))
    line = HEALTHY[index]
    kind = draw(st.sampled_from(["duplicate", "surrogate", "deep", "torn", "huge_price"]))
    if kind == "duplicate":
        key = draw(st.sampled_from([key for key in json.loads(line) if key != "model_predictions"]))
        gap = st.text(alphabet=" \t\r", max_size=3)
        value = json.dumps(draw(st.one_of(st.floats(allow_nan=False), st.text(max_size=5), st.none())))
        return index, f'{line[:-1]}, "{key}"{draw(gap)}:{draw(gap)}{value}}}'.encode(), "appears more than once"
    if kind == "surrogate":
        unit = draw(st.integers(0xD800, 0xDFFF))
        return index, line.replace('"symbol": "', f'"symbol": "\\u{unit:04x}', 1).encode(), "surrogate"
    if kind == "deep":
        depth = draw(st.integers(65, 30_000))
        return index, f'{line[:-1]}, "x": {"[" * depth}{"]" * depth}}}'.encode(), "nested"
    if kind == "torn":
        cut = draw(st.integers(1, len(line) - 2))
        return index, line[:cut].encode(), "line"
    digits = draw(st.integers(310, 6000))
    record = json.loads(line)
    price = f'"exit_price": {json.dumps(record["exit_price"])}'
    return index, line.replace(price, f'"exit_price": {"9" * digits}').encode(), "infinite"


hostile = st.composite(_hostile)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=hostile())
def test_hostile_line_through_the_cli_is_never_go(tmp_path: Path, case: tuple[int, bytes, str]) -> None:
    index, line, word = case
    lines = mutated(index, line)
    gate = run_gate(write(tmp_path / "clm.jsonl", lines))
    assert "Traceback" not in gate.stderr
    assert gate.code in (1, 3)
    assert gate.verdict["verdict"] == "STOP"
    flagged = " ".join(f["message"] for f in gate.verdict["findings"] if f["status"] != "pass")
    assert f"line {index + 1}" in flagged, flagged
    assert word in flagged, flagged


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=hostile(), extra=st.lists(st.integers(0, len(HEALTHY) - 1), max_size=3))
def test_hostile_lines_in_process_are_never_go(case: tuple[int, bytes, str], extra: list[int]) -> None:
    """The same mutations, many more of them, through the library (the CLI adds only printing)."""
    index, line, word = case
    lines = mutated(index, line)
    for other in extra:  # blank lines elsewhere: reported too, never shift the mutated line's number
        if other != index:
            lines[other] = b""
    verdict = check_data(parse_clm_bytes(b"\n".join(lines) + b"\n"), load_config(environ={}), now=NOW)
    assert not verdict.go
    flagged = " ".join(f.message for f in verdict.findings if f.status != "pass")
    assert f"line {index + 1}" in flagged, flagged
    assert word in flagged, flagged


def test_rusage_children_is_what_the_wrapper_reads() -> None:
    """The wrapper's figure is the child's own peak: a child that allocates 300 MiB shows at least that."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            sys.executable,
            "-c",
            "x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout.split()[2]) / 1024 >= 300
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
