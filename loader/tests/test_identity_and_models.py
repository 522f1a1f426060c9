"""What the loader serves with no calibration, on every input type, and how it names a bad per-model map.

Found by mutation testing (docs/mutation.md): the identity path for ints, numpy scalars and 0-d arrays,
the caller's array left untouched, the "missing" warning given once, and the per-model refusals naming
the model and the field.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from conftest import config_bytes

from calpolicy_loader import CalibrationError, CalibrationLoader, identity_snapshot, parse_calibration

# input -> what no calibration serves: the input clamped to [0, 1], NaN as 0.0
IDENTITY_CASES = [
    (1, 1.0),
    (0, 0.0),
    (2, 1.0),
    (-3, 0.0),
    (np.float64(0.5), 0.5),
    (np.float64(1.0), 1.0),
    (np.float64(0.0), 0.0),
    (np.float64(1.5), 1.0),
    (np.float64(-0.5), 0.0),
    (np.float64(math.nan), 0.0),
    (np.float32(0.25), 0.25),
    (Decimal("0.75"), 0.75),
    (np.array(0.5), 0.5),
    (np.array(1.0), 1.0),
    (np.array(2.0), 1.0),
    (np.array(-2.0), 0.0),
    (np.array(math.nan), 0.0),
]


@pytest.mark.parametrize(("given", "served"), IDENTITY_CASES, ids=[repr(c[0]) for c in IDENTITY_CASES])
@pytest.mark.parametrize("model", [None, "xgb"])
def test_no_calibration_serves_every_input_type_clamped(given: object, served: float, model: str | None) -> None:
    snap = identity_snapshot()
    got = snap.apply(given, model)
    assert float(got) == served
    assert snap.enabled is False
    assert snap.from_file is False
    assert snap.weights_count == 0


def test_a_calibrated_0d_array_is_a_finite_unit_value(live: Path) -> None:
    snap = parse_calibration(config_bytes("cal_0d", {"0": 0.0, "1": 1.0}))
    assert float(snap.apply(np.array(0.25))) == 0.25
    assert float(snap.apply(np.array(7.0))) == 1.0
    assert float(snap.apply(np.array(math.nan))) == 0.0


@pytest.mark.parametrize("calibrated", [False, True])
def test_apply_never_changes_the_callers_array(calibrated: bool) -> None:
    snap = parse_calibration(config_bytes("cal_a", {"0": 0.0, "1": 1.0})) if calibrated else identity_snapshot()
    mine = np.array([-0.5, 0.25, 1.5, math.nan])
    got = snap.apply(mine)
    np.testing.assert_array_equal(got, [0.0, 0.25, 1.0, 0.0])
    np.testing.assert_array_equal(mine, [-0.5, 0.25, 1.5, math.nan])


def test_a_missing_file_is_announced_once_not_on_every_look(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="calpolicy_loader")
    loader = CalibrationLoader(tmp_path / "calibration.json", poll_interval_s=0)
    for _ in range(3):
        assert loader.reload(force=True) is False
    assert caplog.text.count("is missing: serving NO calibration (identity)") == 1
    assert loader.version == "none"
    assert loader.apply(1) == 1.0
    assert loader.apply(0.5, model="xgb") == 0.5


MODEL_CASES = {
    "not an object": ([0.1, 0.9], "calpolicy.models.xgb must be an object with lists 'x' and 'y'"),
    "no y": ({"x": [0, 1]}, "calpolicy.models.xgb must be an object with lists 'x' and 'y'"),
    "y a string": ({"x": [0, 1], "y": "01"}, "calpolicy.models.xgb must be an object with lists 'x' and 'y'"),
    "x a string": ({"x": "01", "y": [0, 1]}, "calpolicy.models.xgb must be an object with lists 'x' and 'y'"),
    "x not a number": ({"x": [0, "1"], "y": [0, 1]}, "calpolicy.models.xgb.x must be a number, got '1'"),
    "y not a number": ({"x": [0, 1], "y": [0, None]}, "calpolicy.models.xgb.y must be a number, got None"),
    "one point": ({"x": [0.5], "y": [0.5]}, "calpolicy.models.xgb must have at least 2 points"),
    "lengths differ": ({"x": [0, 1], "y": [0]}, "calpolicy.models.xgb: x and y must have the same length (2 and 1)"),
    "x falls": ({"x": [0.6, 0.4], "y": [0, 1]}, "calpolicy.models.xgb: x must be strictly increasing (0.6 then 0.4)"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_a_bad_per_model_map_is_refused_naming_the_model_and_field(case: str) -> None:
    raw, message = MODEL_CASES[case]
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(config_bytes("cal_m", {"0": 0.0, "1": 1.0}, {"xgb": raw}))
    assert str(caught.value) == f"calibration.json: {message}"


@pytest.mark.parametrize("calibrated", [False, True])
def test_an_array_of_any_numeric_type_comes_back_as_float64(calibrated: bool) -> None:
    snap = parse_calibration(config_bytes("cal_a", {"0": 0.0, "1": 1.0})) if calibrated else identity_snapshot()
    for given in (np.array([0.25, 2.0], dtype=np.float32), [0, 1, 2], (0.25, -1)):
        got = snap.apply(given)
        assert got.dtype == np.float64, (given, got.dtype)
        assert ((got >= 0) & (got <= 1)).all()


def test_knots_too_close_are_named_both() -> None:
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(config_bytes("cal_sub", {"0": 0.0, "1e-320": 1.0, "1": 1.0}))
    assert str(caught.value) == (
        "calibration.json: confidence_calibration.mapping: knots 0.0 and 1e-320 are too close together "
        "(the slope between them is not a finite number)"
    )
