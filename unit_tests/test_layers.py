"""The import contracts in pyproject.toml (``[tool.importlinter]``) hold: the layers run in the test command.

``lint-imports`` (import-linter) reads the contracts and the import graph of ``calpolicy`` and
``calpolicy_loader``; a broken contract fails this test with the chain of imports that breaks it. The
second test keeps the contracts honest as modules are added: every top-level module of calpolicy must be
named by the vocabulary contract, either as vocabulary or as something the vocabulary may not import.
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
