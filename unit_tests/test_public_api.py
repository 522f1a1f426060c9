"""Every public name resolves; the light ones load without scikit-learn (the preflight depends on that)."""

from __future__ import annotations

import subprocess
import sys

import calpolicy


def test_every_exported_name_resolves() -> None:
    for name in calpolicy.__all__:
        assert getattr(calpolicy, name) is not None, name


def test_data_gate_does_not_import_scikit_learn() -> None:
    code = (
        "import sys, calpolicy; calpolicy.load_config; calpolicy.read_clm; calpolicy.check_data; "
        "print('sklearn' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]
