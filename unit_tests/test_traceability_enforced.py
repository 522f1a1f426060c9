"""The whole-suite rule: when every policy test module is collected, every registry ID must have a test.

Proven on real child pytest runs: the shipped suite passes collection, and a copy of it with one test file
removed is refused (exit 4, naming exactly the IDs only that file tested), while a part of the copy (one
phase folder) is not judged as the whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from unit_tests.test_plugin import POLICY_DIR, REPO, run_pytest

WATCH_IDS = "P4.2.a, P4.2.b, P4.2.c, P4.2.d"


def _copy_without(tmp_path: Path, relative: str) -> Path:
    suite = tmp_path / "policy_tests"
    shutil.copytree(POLICY_DIR, suite, ignore=shutil.ignore_patterns("__pycache__"))
    (suite / relative).unlink()
    return suite


def test_the_shipped_suite_names_every_registered_id() -> None:
    result = run_pytest(str(POLICY_DIR), "--collect-only", cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "traceability" not in result.stderr


def test_a_suite_missing_the_only_test_of_some_ids_is_refused(tmp_path: Path) -> None:
    suite = _copy_without(tmp_path, "phase4/test_watch.py")
    for selection in ((), ("-m", "preflight")):  # -m selects after the check: the suite is judged whole
        result = run_pytest(str(suite), *selection, "--collect-only", cwd=tmp_path)
        assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
        assert f"4 checklist ID(s) have no test: {WATCH_IDS}" in result.stderr
        assert str(suite) in result.stderr  # the copy was judged, not the installed suite


def test_a_part_of_the_suite_is_not_judged_as_the_whole(tmp_path: Path) -> None:
    suite = _copy_without(tmp_path, "phase4/test_watch.py")
    result = run_pytest(str(suite / "phase0"), "--collect-only", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_a_misspelt_id_is_named_before_the_id_it_left_untested(tmp_path: Path) -> None:
    suite = _copy_without(tmp_path, "phase0/test_cadence_gate.py")
    watch = suite / "phase4" / "test_watch.py"
    watch.write_text(watch.read_text().replace('"P4.2.a"', '"P4.2.z"'))
    result = run_pytest(str(suite), "--collect-only", cwd=tmp_path)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    unknown = result.stderr.index("unknown control ID(s) P4.2.z")
    assert result.stderr.index("4 checklist ID(s) have no test: P0.3.a, P0.3.b, P0.3.c, P4.2.a") > unknown
