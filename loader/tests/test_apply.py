"""apply: bit-for-bit the engine's ``np.clip(np.interp(...), 0, 1)``, always finite and in [0, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import config_bytes, replace
from hypothesis import given, settings
from hypothesis import strategies as st

from calpolicy_loader import NAN_CONFIDENCE, CalibrationLoader, parse_calibration


def knots(values: list[float]) -> dict[str, float]:
    xs = np.linspace(0, 1, len(values))
    return {repr(round(float(x), 6)): v for x, v in zip(xs, sorted(values), strict=True)}


def engine(probes: np.ndarray, mapping: dict[str, float]) -> np.ndarray:
    """What the engine's own loader computes: np.interp over the sorted keys, clipped to [0, 1]."""
    pairs = sorted((float(k), float(v)) for k, v in mapping.items())
    return np.clip(np.interp(probes, [p[0] for p in pairs], [p[1] for p in pairs]), 0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(0, 1), min_size=2, max_size=25),
    probes=st.lists(st.floats(-0.5, 1.5) | st.sampled_from([0.0, 0.5, 1.0]), min_size=1, max_size=40),
)
def test_scalar_and_array_equal_the_engine_exactly(values: list[float], probes: list[float]) -> None:
    mapping = knots(values)
    snap = parse_calibration(config_bytes("cal_v", mapping))
    expected = engine(np.array(probes), mapping)
    np.testing.assert_array_equal(snap.apply(np.array(probes)), expected)
    for probe, want in zip(probes, expected, strict=True):
        assert snap.apply(probe) == want, (probe, want)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.floats(0, 1), min_size=2, max_size=12),
    probe=st.floats(allow_nan=True, allow_infinity=True),
)
def test_any_float_gives_a_finite_value_in_unit_interval(values: list[float], probe: float) -> None:
    snap = parse_calibration(config_bytes("cal_v", knots(values)))
    for model in (None, "unknown"):
        got = snap.apply(probe, model)
        assert type(got) is float
        assert math.isfinite(got), (probe, got)
        assert 0.0 <= got <= 1.0, (probe, got)
        arr = snap.apply(np.array([probe]), model)
        assert np.isfinite(arr).all()
        assert ((arr >= 0) & (arr <= 1)).all()
        assert arr[0] == got


def test_nan_is_no_confidence() -> None:
    snap = parse_calibration(config_bytes("cal_v", {"0": 0.2, "1": 0.9}))
    assert snap.apply(float("nan")) == NAN_CONFIDENCE == 0.0
    assert snap.apply(float("inf")) == 0.9
    assert snap.apply(float("-inf")) == 0.2
    np.testing.assert_array_equal(snap.apply(np.array([np.nan, 0.5])), [0.0, 0.55])


def test_apply_kinds_and_models(live: Path) -> None:
    models = {"xgb": {"x": [0.0, 1.0], "y": [0.1, 0.9]}}
    replace(live, config_bytes("cal_m", {"0.0": 0.0, "1.0": 0.5}, models))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.apply(0.5) == 0.25
    assert loader.apply(1) == 0.5
    assert loader.apply(np.float32(0.5)) == 0.25
    assert loader.apply(0.5, model="xgb") == pytest.approx(0.5)
    assert loader.apply(0.5, model="unknown") == 0.5  # no map of its own: identity
    out = loader.apply(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(out, [0.0, 0.25, 0.5])
    np.testing.assert_array_equal(loader.apply([0.0, 1.0], model="xgb"), [0.1, 0.9])
    assert loader.apply_confidence_calibration(0.5) == 0.25
    assert type(loader.apply_confidence_calibration(np.float64(0.5))) is float


def test_identity_keeps_a_valid_confidence_and_clamps_the_rest(tmp_path: Path) -> None:
    loader = CalibrationLoader(tmp_path / "calibration.json", poll_interval_s=0, record=False)
    assert loader.version == "none"
    assert loader.apply(0.61) == 0.61
    assert loader.apply(1.7) == 1.0
    assert loader.apply(-0.2) == 0.0
    assert loader.apply(float("nan")) == 0.0
    np.testing.assert_array_equal(loader.apply(np.array([0.3, 2.0, np.nan])), [0.3, 1.0, 0.0])


def test_disabled_calibration_is_identity(live: Path) -> None:
    replace(live, config_bytes("cal_off", {"0": 0.2, "1": 0.3}, enabled=False))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.version == "cal_off"
    assert loader.enabled is False
    assert loader.calibration_loaded is True
    assert loader.apply(0.61) == 0.61
