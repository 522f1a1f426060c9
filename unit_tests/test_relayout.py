"""tools/relayout.py: the old flat module paths → the package-per-stage layout (issue 23).

The lead runs the tool over tests written against the old layout on other branches; a wrong entry in its
map would turn a working import into a broken one. So the map is checked against the package itself:
every target imports, every split name is defined where the map sends it, no old module still exists,
and rewriting is idempotent.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "relayout.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("relayout_under_test", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


relayout = _tool()

OLD = """from calpolicy.deploy import approve_job, _note
from calpolicy import apply_history, loader
from calpolicy.config import Config
import calpolicy.probes.redis_probe as redis_probe
    from calpolicy.run import RunOutcome, run_job
CHILD = [sys.executable, "-m", "calpolicy.sandbox"]
TASK = "calpolicy.calibration_task:calibrate"
SCHEMA = "calpolicy.report/1"
CONFIG = "calpolicy.toml"
# see calpolicy/jobs.py, calpolicy/probes/readiness.py and calpolicy/deploy.py
"""

NEW = """from calpolicy.apply.deploy.approve import approve_job
from calpolicy.apply.deploy.common import _note
from calpolicy import loader
from calpolicy.jobs import history as apply_history
from calpolicy.vocabulary.config import Config
import calpolicy.preflight.probes.redis as redis_probe
    from calpolicy.run.outcome import RunOutcome
    from calpolicy.run.job import run_job
CHILD = [sys.executable, "-m", "calpolicy.lockdown.sandbox"]
TASK = "calpolicy.calibrate.task:calibrate"
SCHEMA = "calpolicy.report/1"
CONFIG = "calpolicy.toml"
# see calpolicy/jobs/__init__.py, calpolicy/preflight/probes/readiness.py and calpolicy/apply/deploy/*
"""


def test_old_imports_strings_and_paths_are_rewritten_and_file_formats_are_not() -> None:
    assert relayout.rewrite(OLD) == NEW


def test_rewriting_twice_changes_nothing_more() -> None:
    assert relayout.rewrite(NEW) == NEW


@pytest.mark.parametrize("old", sorted(relayout.MOVES))
def test_every_new_module_imports_and_no_old_one_is_left(old: str) -> None:
    importlib.import_module(relayout.MOVES[old])
    if relayout.MOVES[old] != old and not old.startswith("calpolicy.probes."):
        assert importlib.util.find_spec(old) is None, f"{old} still exists beside {relayout.MOVES[old]}"


@pytest.mark.parametrize("old", sorted(relayout.SYMBOLS))
def test_every_split_name_is_defined_where_the_map_sends_it(old: str) -> None:
    for name, new in relayout.SYMBOLS[old].items():
        assert hasattr(importlib.import_module(new), name), f"{old}.{name} is not in {new}"


def test_every_mapped_path_exists() -> None:
    for new in relayout.SPLIT_PATHS.values():
        assert list(ROOT.glob(new)), new
    for new in relayout.FILES.values():
        assert (ROOT / new).is_file(), new


def test_check_mode_reports_and_writes_nothing(tmp_path: Path) -> None:
    old, new = tmp_path / "old.py", tmp_path / "new.py"
    old.write_text(OLD, encoding="utf-8")
    new.write_text(NEW, encoding="utf-8")
    done = subprocess.run([sys.executable, str(TOOL), "--check", str(old), str(new)], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout == f"would rewrite {old}\n"
    assert old.read_text(encoding="utf-8") == OLD
    done = subprocess.run([sys.executable, str(TOOL), str(old)], capture_output=True, text=True)
    assert (done.returncode, old.read_text(encoding="utf-8")) == (0, NEW)


def test_an_unreadable_file_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "missing.py")], capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stderr.startswith("relayout: cannot read ")
    assert done.stderr.count("\n") == 1
