"""The import contracts in pyproject.toml (``[tool.importlinter]``) hold: the layers run in the test command.

``lint-imports`` (import-linter) reads the contracts and the import graph of ``calpolicy`` and
``calpolicy_loader``; a broken contract fails this test with the chain of imports that breaks it. The
second test keeps the contracts honest as modules are added: every top-level module of calpolicy must be
named by the vocabulary contract, either as vocabulary or as something the vocabulary may not import. The
third and fourth keep the layout one package per checklist stage (README "Layout"): every stage package
has its place in the layers contract, and nothing flat sits at the top but the package's own entry points
and the one compatibility re-export (``calpolicy.loader``).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {contract["id"]: contract for contract in config["tool"]["importlinter"]["contracts"]}


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.is_file(), f"{lint} is missing: install the dev extras (pip install -e '.[dev]')"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_module_is_placed_by_the_vocabulary_contract() -> None:
    contract = _contracts()["vocabulary"]
    named = {str(m) for m in [*contract["source_modules"], *contract["forbidden_modules"]]}  # type: ignore[misc]
    package = ROOT / "calpolicy"
    modules = {
        f"calpolicy.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and not path.stem.startswith("__")) or (path / "__init__.py").is_file()
    }
    assert modules - named == set(), "name these modules in pyproject.toml's import contracts"


# Not stages: the local environment sits beside the command line (contract "localenv"), and
# calpolicy.loader re-exports the loader distribution under its old import path.
OUTSIDE_THE_LAYERS = {"calpolicy.localenv", "calpolicy.loader"}
FLAT_AT_THE_TOP = {"__init__.py", "__main__.py", "loader.py"}


def test_every_stage_package_has_its_place_in_the_layers() -> None:
    layers = _contracts()["layers"]["layers"]
    placed = {name.strip() for layer in layers for name in str(layer).split("|")}  # type: ignore[union-attr]
    package = ROOT / "calpolicy"
    packages = {f"calpolicy.{path.name}" for path in package.iterdir() if (path / "__init__.py").is_file()}
    assert packages - OUTSIDE_THE_LAYERS - placed == set(), "give these packages a layer in pyproject.toml"
    assert placed - packages == set(), "the layers contract names packages that do not exist"


def test_nothing_flat_at_the_top_but_the_entry_points_and_the_loader_shim() -> None:
    flat = {path.name for path in (ROOT / "calpolicy").glob("*.py")}
    assert flat - FLAT_AT_THE_TOP == set(), "move these modules into the package of their checklist stage"
