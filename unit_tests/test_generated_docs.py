"""The generated docs match the code: the README's traceability table and the configuration reference.

Each test fails when the committed copy is stale; ``tools/gen_docs.py`` regenerates both.
"""

from __future__ import annotations

import pytest

from calpolicy.cli.docs_gen import (
    BEGIN,
    END,
    README,
    REFERENCE,
    config_keys,
    config_reference,
    readme_with_table,
    traceability_table,
)
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.controls import REGISTRY
from calpolicy.vocabulary.waivers import BINDINGS
from unit_tests.test_plugin import POLICY_DIR, REPO

STALE = "is stale: run .venv/bin/python tools/gen_docs.py and commit the result"


def test_the_readme_traceability_table_is_current() -> None:
    readme = (REPO / README).read_text(encoding="utf-8")
    table = traceability_table(POLICY_DIR)
    assert readme_with_table(readme, table) == readme, f"README.md's traceability table {STALE}"
    assert table.count("\n| ") == len(REGISTRY)  # one row per registry ID
    assert "**none**" not in table  # every ID has a test


def test_the_configuration_reference_is_current() -> None:
    assert (REPO / REFERENCE).read_text(encoding="utf-8") == config_reference(), f"{REFERENCE} {STALE}"


def test_every_config_key_is_described_with_its_default_and_checklist_items() -> None:
    keys = {entry["key"]: entry for entry in config_keys()}
    defaults = Config()
    assert "sources" not in keys
    assert set(BINDINGS) <= set(keys)
    for key, entry in keys.items():
        assert entry["description"].strip(), f"{key} has no description (add a docstring under its field)"
        section, _, name = key.partition(".")
        assert entry["default"] == (defaults.as_dict()[section][name] if name else defaults.as_dict()[section])
    assert keys["cadence.min_trades"]["items"] == ["P0.2.b", "S.a"]  # from the waiver binding
    assert keys["cadence.min_trades"]["binding"] is True
    assert keys["paths.model_weights"]["items"] == ["P1.1.a"]  # from the description
    assert keys["paths.jobs_dir"]["items"] == []


def test_a_readme_without_its_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="controls:begin"):
        readme_with_table("# no markers here\n", "| table |")
    assert readme_with_table(f"a\n{BEGIN}\nold\n{END}\nb\n", "NEW").endswith(f"NEW\n\n{END}\nb\n")
