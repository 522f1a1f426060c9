"""``calpolicy controls``: the table from the collected suite, and each ID's latest result from a results file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from calpolicy.plugin.controls_table import TraceError, build_rows, read_results, render_text
from calpolicy.vocabulary.controls import REGISTRY


def _calpolicy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "calpolicy.cli", "controls", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=180, check=False)


def test_json_lists_every_id_with_its_tests_and_latest_result(tmp_path: Path) -> None:
    results = tmp_path / "policy_results.jsonl"
    rows = [
        {"nodeid": "policy_tests/stop_signals/test_halt.py::test_x", "controls": ["S.e"], "status": "fail"},
        {"nodeid": "policy_tests/stop_signals/test_halt.py::test_x", "controls": ["S.e"], "status": "pass"},
        {"nodeid": "a::b", "ids": ["P0.1.a"], "outcome": "passed"},
        {"nodeid": "a::c", "ids": ["P0.1.a"], "outcome": "failed"},
    ]
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = _calpolicy("--json", "--results", str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    payload = json.loads(done.stdout)
    assert (payload["verdict"], payload["exit_code"], payload["findings"]) == ("GO", 0, [])
    by_id = {row["id"]: row for row in payload["controls"]}
    assert list(by_id) == [check.id for check in REGISTRY]
    assert all(row["tests"] for row in by_id.values())
    assert by_id["P4.2.a"]["tests"] == ["policy_tests/phase4/test_watch.py::test_pnl_drift_within_normal"]
    assert by_id["S.e"]["result"] == "pass"  # the later row of the same test wins
    assert by_id["P0.1.a"]["result"] == "fail"  # one failing test of an item fails the item
    assert by_id["P0.1.b"]["result"] is None


def test_text_table_and_a_bad_results_file(tmp_path: Path) -> None:
    text = _calpolicy(cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"{len(REGISTRY)} of {len(REGISTRY)} IDs have a policy test" in text.stdout
    assert "policy_tests/phase0/test_system_health.py::test_unit_is_active[quantum-ai-engine]" in text.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"controls": ["S.a"], "status": "pass"}\nnot json\n')
    refused = _calpolicy("--results", str(bad), cwd=tmp_path)
    assert refused.returncode == 2
    assert f"{bad}:2: not a JSON object" in refused.stderr


def test_an_untested_id_is_a_stop_in_the_table() -> None:
    tests = {"policy_tests/x.py::t": [c.id for c in REGISTRY if c.id != "S.b"]}
    rows = build_rows(tests, {"S.a": {"policy_tests/x.py::t": "skip"}})
    text = render_text(rows, with_results=True)
    assert "NO TEST names this ID" in text
    assert text.rstrip().endswith("none: S.b")
    assert "[SKIP]" in text


@pytest.mark.parametrize(
    ("line", "why"),
    [('{"status": "pass"}', "no list of control IDs"), ('{"controls": ["S.a"], "status": "maybe"}', "unknown status"),
     ("[1]", "not a JSON object")],
)  # fmt: skip
def test_malformed_result_rows_are_named(tmp_path: Path, line: str, why: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(TraceError, match=why):
        read_results(path)
