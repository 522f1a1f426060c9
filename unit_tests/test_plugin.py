"""The plugin refuses untraceable policy tests and records one result line per test, in a real child pytest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import policy_tests

POLICY_DIR = Path(policy_tests.__file__).parent
REPO = POLICY_DIR.parent


def run_pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def _suite(tmp_path: Path, body: str, phase: str | None = "preflight") -> Path:
    """A one-file policy suite; its tests carry the ``phase`` marker their IDs are registered under."""
    folder = tmp_path / "policy_tests"
    folder.mkdir()
    header = "import pytest\nfrom calpolicy.plugin import CouldNotCheck\n\n"
    if phase:
        header += f"pytestmark = pytest.mark.{phase}\n\n"
    (folder / "test_items.py").write_text(header + body)
    return folder


def test_unknown_control_id_fails_collection(tmp_path: Path) -> None:
    folder = _suite(tmp_path, '@pytest.mark.control("P9.9.z")\ndef test_x():\n    pass\n')
    result = run_pytest(str(folder), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "unknown control ID(s) P9.9.z" in result.stderr


def test_policy_test_without_control_id_fails_collection(tmp_path: Path) -> None:
    folder = _suite(tmp_path, "def test_untraced():\n    pass\n")
    result = run_pytest(str(folder), cwd=tmp_path)
    assert result.returncode == 4
    assert "carries no @pytest.mark.control" in result.stderr


def test_misspelt_phase_marker_is_refused_by_the_plugin_itself(tmp_path: Path) -> None:
    """No ``--strict-markers`` here: the plugin's own traceability check must refuse the test, because a
    misspelt phase marker would silently drop it from ``pytest -m preflight``."""
    body = '@pytest.mark.preflihgt\n@pytest.mark.control("S.a")\ndef test_x():\n    pass\n'
    folder = _suite(tmp_path, body, phase=None)
    result = run_pytest(str(folder), "-W", "ignore::pytest.PytestUnknownMarkWarning", cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "S.a is enforced in phase 'preflight' but the test carries no @pytest.mark.preflight" in result.stderr


def test_results_file_records_pass_fail_and_could_not_check(tmp_path: Path) -> None:
    folder = _suite(
        tmp_path,
        "pytestmark = pytest.mark.preflight\n"
        '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n'
        '@pytest.mark.control("S.b")\ndef test_bad():\n    assert False, "market halted"\n'
        '@pytest.mark.control("S.e")\ndef test_unknown():\n    raise CouldNotCheck("redis refused")\n',
    )
    results = tmp_path / "out" / "results.jsonl"
    outcome = run_pytest(str(folder), "--calpolicy-results", str(results), cwd=tmp_path)
    assert outcome.returncode == 1
    rows = {row["controls"][0]: row for row in map(json.loads, results.read_text().splitlines())}
    assert rows["S.a"]["status"] == "pass"
    assert rows["S.b"]["status"] == "fail"
    assert "market halted" in rows["S.b"]["message"]
    assert rows["S.e"]["status"] == "error"
    assert "redis refused" in rows["S.e"]["message"]


def test_every_shipped_policy_test_is_traceable() -> None:
    result = run_pytest(str(POLICY_DIR), "--collect-only", cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "test_clm_integrity.py" in result.stdout


def test_phase_marker_alone_selects_the_policy_suite() -> None:
    """``pytest -m preflight`` with no path is the operator's command: it must reach policy_tests/."""
    result = run_pytest("-m", "preflight", "--collect-only", cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:]
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected
    assert all(line.startswith("policy_tests/") for line in collected)
    assert any("test_system_health.py" in line for line in collected)
    unit = run_pytest("-m", "not preflight", "--collect-only", cwd=REPO)
    assert "unit_tests/" in unit.stdout
