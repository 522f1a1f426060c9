"""A calibration task whose ``proposal.json`` is malformed, for ``unit_tests/test_run_heldout.py``.

Its own module: the calibration stack (numpy, pandas) must be imported before the sandbox's hook is in
place, as for the real task, and the other held-out attempts stay light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calpolicy.calibrate.task import PROPOSAL_FILE, calibrate


def _replaced(args: dict[str, Any], workdir: Path, text: str) -> dict[str, Any]:
    """Calibrate for real, then replace ``proposal.json`` with ``text``: the parent must not trust it."""
    result = calibrate(args, workdir)
    (workdir / PROPOSAL_FILE).write_text(text, encoding="utf-8")
    return result


def wrong_shape(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _replaced(args, workdir, '{"schema": "not a proposal"}')


def nested_deep(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return _replaced(args, workdir, "[" * 50_000 + "]" * 50_000)
