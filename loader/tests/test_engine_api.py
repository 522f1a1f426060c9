"""The names and behaviour the engine uses (quantum_trader ``ai_engine/calibration_loader.py``), so that
adopting this loader is a one-line import change."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from conftest import EXISTING_VERSION, config_doc, replace

import calpolicy_loader
from calpolicy_loader import FALLBACK_WEIGHTS, CalibrationLoader

ENGINE_STATUS_KEYS = {
    "loaded",
    "version",
    "created_at",
    "based_on_trades",
    "confidence_enabled",
    "weights_override",
    "config_path",
    "config_exists",
}


def test_engine_attributes_on_the_existing_tools_file(live: Path) -> None:
    loader = CalibrationLoader(str(live), poll_interval_s=0, record=False)
    assert loader.calibration_loaded is True
    assert loader.confidence_calibration_enabled is True
    assert loader.version == EXISTING_VERSION
    assert loader.based_on_trades == 52
    assert loader.created_at == datetime.fromisoformat("2026-02-06T06:03:03.350649")
    assert len(loader.confidence_mapping) == 11
    assert loader.confidence_mapping[0.5] == 0.0
    assert loader.ensemble_weights is None
    assert loader.config_path == live
    status = loader.get_status()
    assert set(status) >= ENGINE_STATUS_KEYS
    assert status["loaded"] is True
    assert status["weights_override"] is False
    assert status["config_exists"] is True
    assert status["created_at"] == "2026-02-06T06:03:03.350649"


def test_get_ensemble_weights_follows_the_engines_rule(live: Path, tmp_path: Path) -> None:
    baseline = {"xgb": 0.25, "lgbm": 0.25, "nhits": 0.30, "patchtst": 0.20}
    absent = CalibrationLoader(tmp_path / "nothing.json", poll_interval_s=0, record=False)
    assert absent.calibration_loaded is False
    assert absent.get_ensemble_weights(baseline) == baseline
    assert absent.get_ensemble_weights() == FALLBACK_WEIGHTS
    loaded = CalibrationLoader(live, poll_interval_s=0, record=False)  # override disabled
    assert loaded.get_ensemble_weights(baseline) == baseline
    assert loaded.get_ensemble_weights() == {"xgb": 0.30, "lgbm": 0.30, "nhits": 0.20, "patchtst": 0.20}
    doc = config_doc("cal_w")
    doc["ensemble_weights"]["enabled"] = True
    doc["ensemble_weights"]["weights"] = {"xgb": 0.4, "lgbm": 0.2, "nhits": 0.2, "patchtst": 0.2}
    replace(live, json.dumps(doc).encode())
    assert loaded.reload() is True
    assert loaded.ensemble_weights == doc["ensemble_weights"]["weights"]
    assert loaded.get_ensemble_weights(baseline) == doc["ensemble_weights"]["weights"]
    returned = loaded.get_ensemble_weights()
    returned["xgb"] = 9.0  # a copy, as the engine's is
    assert loaded.get_ensemble_weights()["xgb"] == 0.4


def test_a_file_without_a_calibration_section_loads_disabled_as_in_the_engine(live: Path) -> None:
    replace(live, b'{"version": "cal_20260206_060303", "ensemble_weights": {"enabled": false}}')
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.calibration_loaded is True
    assert loader.confidence_calibration_enabled is False
    assert loader.apply(0.42) == 0.42


def test_singleton_accessor_and_reload_calibration_on_the_default_path(tmp_path: Path) -> None:
    """``get_calibration_loader()`` on ``DEFAULT_CONFIG_PATH``, in a child so the singleton is fresh."""
    live = tmp_path / "calibration.json"
    live.write_bytes((Path(__file__).parent / "data" / "calibration_example_existing_tool.json").read_bytes())
    script = textwrap.dedent(
        f"""
        import calpolicy_loader
        from calpolicy_loader import CalibrationLoader, get_calibration_loader, reload_calibration
        CalibrationLoader.DEFAULT_CONFIG_PATH = {str(live)!r}
        first = get_calibration_loader()
        assert first is get_calibration_loader()
        assert first.calibration_loaded and first.version == {EXISTING_VERSION!r}
        assert reload_calibration() is True
        print(first.get_status()["hot_reload"])
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "True"


def test_the_engine_default_path_is_the_engines() -> None:
    assert CalibrationLoader.DEFAULT_CONFIG_PATH == "/home/qt/quantum_trader/config/calibration.json"
    assert calpolicy_loader.get_calibration_loader.__name__ == "get_calibration_loader"


def test_imports_numpy_and_the_standard_library_only() -> None:
    script = textwrap.dedent(
        """
        import os, sys
        before = set(sys.modules)
        import calpolicy_loader, numpy
        allowed = [os.path.dirname(numpy.__file__), os.path.dirname(calpolicy_loader.__file__)]
        foreign = []
        for name in sorted(set(sys.modules) - before):
            path = getattr(sys.modules[name], "__file__", None)  # None: built in (or numpy's cython runtime)
            if name.split(".")[0] not in sys.stdlib_module_names and path is not None:
                if not any(os.path.realpath(path).startswith(os.path.realpath(a)) for a in allowed):
                    foreign.append(name)
        print(",".join(foreign))
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert child.stdout.strip() == "", f"calpolicy_loader imported {child.stdout.strip()}"


@pytest.mark.parametrize(
    "name",
    ["calibration_loaded", "version", "reload", "get_status", "apply_confidence_calibration", "get_ensemble_weights"],
)
def test_engine_names_exist(name: str) -> None:
    assert hasattr(CalibrationLoader, name)


ADOPTION_LINE = "from calpolicy_loader import *  # noqa: F403"


def test_the_one_line_adoption_keeps_the_engines_importers_working(tmp_path: Path) -> None:
    """docs/apply.md: the engine's ``ai_engine/calibration_loader.py`` becomes one line; its importers keep
    ``from ai_engine.calibration_loader import ...`` and get this loader, with hot reload."""
    package = tmp_path / "engine" / "ai_engine"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "calibration_loader.py").write_text(ADOPTION_LINE + "\n")
    live = tmp_path / "calibration.json"
    live.write_bytes((Path(__file__).parent / "data" / "calibration_example_existing_tool.json").read_bytes())
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "engine")!r})
        from ai_engine.calibration_loader import CalibrationLoader, get_calibration_loader, reload_calibration
        CalibrationLoader.DEFAULT_CONFIG_PATH = {str(live)!r}
        loader = get_calibration_loader()
        print(loader.calibration_loaded, loader.version, loader.get_ensemble_weights()["xgb"], reload_calibration())
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["True", EXISTING_VERSION, "0.3", "True"]
