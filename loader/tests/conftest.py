"""Shared helpers for the loader's own tests: real files in a temp folder, built from the engine's own file.

Nothing here imports calpolicy: these tests run in a venv that has only numpy, pytest and hypothesis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
EXISTING_TOOL_FILE = DATA / "calibration_example_existing_tool.json"  # the existing tool's real output
EXISTING_VERSION = "cal_20260206_060303"


def config_doc(
    version: str = "cal_v",
    mapping: dict[str, Any] | None = None,
    models: dict[str, Any] | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXISTING_TOOL_FILE.read_bytes())
    doc["version"] = version
    if mapping is not None:
        doc["confidence_calibration"]["mapping"] = mapping
    doc["confidence_calibration"]["enabled"] = enabled
    if models is not None:
        doc["calpolicy"] = {"job_id": version, "statement_sha256": None, "models": models}
    return doc


def config_bytes(
    version: str = "cal_v",
    mapping: dict[str, Any] | None = None,
    models: dict[str, Any] | None = None,
    enabled: bool = True,
) -> bytes:
    return json.dumps(config_doc(version, mapping, models, enabled)).encode()


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "calibration.json"
    path.write_bytes(EXISTING_TOOL_FILE.read_bytes())
    return path


def replace(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` the way approve does: a temp file renamed over it."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data)
    temp.replace(path)


def pytest_report_header() -> str:
    import numpy

    return f"calpolicy-loader tests on numpy {numpy.__version__}"
