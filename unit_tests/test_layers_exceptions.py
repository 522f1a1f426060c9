"""The import contracts hold without exceptions: no ``ignore_imports`` lets an import run back up the layers.

Issue 23's bar is "0 imports run back up". The two exceptions the contracts once carried (the vocabulary's
``decisions`` importing the Redis probe's types, ``run`` importing the local environment's TOML writer) are
gone; an exception added later has to remove this test first, in plain sight of the review.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_contract_ignores_an_import() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert contracts, "pyproject.toml has no import contracts"
    excepted = {c["id"]: c["ignore_imports"] for c in contracts if c.get("ignore_imports")}
    assert excepted == {}, f"import contracts with exceptions: {excepted}"
