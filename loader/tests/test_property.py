"""Property tests: for any bytes in the file the loader never raises, never serves an invalid file, and
``apply`` gives a finite value in [0, 1] for any float."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from conftest import EXISTING_TOOL_FILE, config_doc
from hypothesis import given, settings
from hypothesis import strategies as st

from calpolicy_loader import CalibrationError, CalibrationLoader, parse_calibration

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([5e-324, -5e-324, 1 - 1e-16, 1e-300])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | ANY_FLOAT | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
PATHS = [
    ("version",),
    ("confidence_calibration",),
    ("confidence_calibration", "enabled"),
    ("confidence_calibration", "mapping"),
    ("confidence_calibration", "mapping", "0.5"),
    ("confidence_calibration", "mapping", "0.7000000000000002"),
    ("ensemble_weights",),
    ("ensemble_weights", "enabled"),
    ("ensemble_weights", "weights"),
    ("ensemble_weights", "weights", "xgb"),
    ("calpolicy",),
    ("calpolicy", "models"),
    ("calpolicy", "models", "xgb"),
    ("calpolicy", "models", "xgb", "x"),
    ("calpolicy", "models", "xgb", "y"),
    ("created_at",),
    ("based_on_trades",),
]


def check_loader_on(data: bytes, probes: list[float]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        live = Path(folder) / "calibration.json"
        live.write_bytes(EXISTING_TOOL_FILE.read_bytes())
        serving = CalibrationLoader(live, poll_interval_s=0, record=False)  # must not raise
        live.write_bytes(data)
        result = serving.reload()  # must not raise
        fresh = CalibrationLoader(live, poll_interval_s=0, record=False)  # must not raise
        try:
            parse_calibration(data)
            valid = True
        except CalibrationError:
            valid = False
        assert result is valid
        assert fresh.calibration_loaded is valid
        assert serving.calibration_loaded is True  # the old file or the new valid one
        if not valid:
            assert serving.version == "cal_20260206_060303"  # never the invalid one
        for loader in (serving, fresh):
            status = loader.get_status()
            assert isinstance(status, dict)
            for probe in probes:
                for model in (None, "xgb"):
                    got = loader.apply(probe, model)
                    assert isinstance(got, float)
                    assert math.isfinite(got), (probe, got)
                    assert 0.0 <= got <= 1.0, (probe, got)
            arr = loader.apply(np.array(probes, dtype=np.float64))
            assert np.isfinite(arr).all()
            assert ((arr >= 0.0) & (arr <= 1.0)).all()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), probes=st.lists(ANY_FLOAT, min_size=1, max_size=6))
def test_any_bytes_never_raise_and_apply_stays_in_unit_interval(data: bytes, probes: list[float]) -> None:
    check_loader_on(data, probes)


def put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target: Any = doc
    for part in path[:-1]:
        if not isinstance(target, dict):
            return
        target = target.setdefault(part, {})
    if isinstance(target, dict):
        target[path[-1]] = value


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(st.tuples(st.sampled_from(PATHS), JSON_VALUES), min_size=1, max_size=3),
    models=st.booleans(),
    probes=st.lists(ANY_FLOAT, min_size=1, max_size=6),
)
def test_any_edit_of_a_good_file_never_raises_and_never_serves_out_of_range(
    edits: list[tuple[tuple[str, ...], Any]], models: bool, probes: list[float]
) -> None:
    doc = config_doc("cal_prop", models={"xgb": {"x": [0.0, 0.5, 1.0], "y": [0.1, 0.5, 0.9]}} if models else None)
    for path, value in edits:
        put(doc, path, value)
    check_loader_on(json.dumps(doc, allow_nan=True).encode(), probes)
