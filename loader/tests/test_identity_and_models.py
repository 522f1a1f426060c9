"""What the loader serves with no calibration, on every input type, and how it names a bad per-model map.

Found by mutation testing (docs/mutation.md): the identity path for ints, numpy scalars and 0-d arrays,
the caller's array left untouched, the "missing" warning given once, and the per-model refusals naming
the model and the field.
"""

from __future__ import annotations

import json
import logging
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from conftest import config_bytes, config_doc

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


def _doc_with(junk: bytes) -> bytes:
    return b'{"version": "cal_j", "junk": ' + junk + b"}"


NESTING_CASES = {
    # the top-level object counts as one level; MAX_DEPTH is 32
    "arrays 32 deep": (_doc_with(b"[" * 31 + b"]" * 31), None),
    "arrays 33 deep": (_doc_with(b"[" * 32 + b"]" * 32), "is nested more than 32 levels deep"),
    "objects 33 deep": (_doc_with(b'{"a": ' * 32 + b"1" + b"}" * 32), "is nested more than 32 levels deep"),
    "33 deep after a closed sibling": (
        _doc_with(b"[[], " + b"[" * 31 + b"]" * 31 + b"]"),
        "is nested more than 32 levels deep",
    ),
    "33 deep after a closed nested sibling": (
        _doc_with(b"[[[], " + b"[" * 30 + b"]" * 30 + b"]]"),
        "is nested more than 32 levels deep",
    ),
    "many shallow arrays": (_doc_with(b"[" + b"[], " * 40 + b"[]]"), None),
    "many shallow objects": (_doc_with(b"[" + b"{}, " * 40 + b"{}]"), None),
    "brackets inside strings": (_doc_with(b'"' + b"[{" * 40 + b'"'), None),
}


@pytest.mark.parametrize("case", list(NESTING_CASES))
def test_nesting_is_counted_exactly(case: str) -> None:
    data, refusal = NESTING_CASES[case]
    if refusal is None:
        assert parse_calibration(data).version == "cal_j"
    else:
        with pytest.raises(CalibrationError) as caught:
            parse_calibration(data)
        assert str(caught.value) == f"calibration.json {refusal}"


def test_integers_up_to_30_digits_are_read_and_longer_ones_refused() -> None:
    assert parse_calibration(_doc_with(b"1" + b"0" * 29)).version == "cal_j"
    assert parse_calibration(_doc_with(b"-" + b"9" * 30)).version == "cal_j"
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(_doc_with(b"-" + b"9" * 31))
    assert str(caught.value) == "calibration.json holds an integer of 31 digits (at most 30)"


def test_a_repeated_key_is_named_up_to_60_characters() -> None:
    key = "k" * 70
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(f'{{"{key}": 1, "{key}": 2}}'.encode())
    assert str(caught.value) == f"calibration.json the key {'k' * 60!r} appears twice in one object"


MAPPING_CASES = {
    "key not a number": ({"0": 0.0, "abc": 0.5, "1": 1.0}, " key 'abc' is not a number"),
    "key of 58 characters shown whole": ({"0": 0.0, "x" * 58: 0.5}, f" key {'x' * 58!r} is not a number"),
    "key of 59 characters cut": ({"0": 0.0, "x" * 59: 0.5}, f" key '{'x' * 56}... is not a number"),
    "key not finite": ({"0": 0.0, "inf": 0.5, "1": 1.0}, " key 'inf' is not a finite number"),
    "key repeats a point": ({"0": 0.0, "0.5": 0.5, "0.50": 0.5, "1": 1.0}, " key '0.50' repeats the point 0.5"),
    "value a string": ({"0": 0.0, "1": "1.0"}, "['1'] must be a number, got '1.0'"),
    "knot below 0": ({"-0.1": 0.0, "0.5": 0.5, "1": 1.0}, ": knot -0.1 is outside [0, 1]"),
    "knot above 1": ({"0": 0.0, "0.5": 0.5, "1.5": 1.0}, ": knot 1.5 is outside [0, 1]"),
    "knot above 1 with the lowest at the tolerance": (
        {"-0.000001": 0.0, "0.5": 0.5, "1.5": 1.0},
        ": knot 1.5 is outside [0, 1]",
    ),
}


@pytest.mark.parametrize("case", list(MAPPING_CASES))
def test_a_bad_mapping_is_refused_naming_the_key(case: str) -> None:
    mapping, message = MAPPING_CASES[case]
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(config_bytes("cal_k", mapping))
    assert str(caught.value) == f"calibration.json: confidence_calibration.mapping{message}"


def test_knots_at_exactly_the_key_tolerance_are_served() -> None:
    snap = parse_calibration(config_bytes("cal_t", {"-0.000001": 0.0, "0.5": 0.5, "1.000001": 1.0}))
    assert snap.version == "cal_t"
    assert snap.apply(0.5) == 0.5


REPEATED = {"xgb": {"x": [0, 0.5, 0.5, 1], "y": [0, 0, 1, 1]}}


def test_a_repeated_per_model_knot_is_refused_not_divided_by_zero() -> None:
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(config_bytes("cal_m", {"0": 0.0, "1": 1.0}, REPEATED))
    assert str(caught.value) == "calibration.json: calpolicy.models.xgb: x must be strictly increasing (0.5 then 0.5)"


def test_an_overflowing_value_is_named_with_what_it_became() -> None:
    doc = config_bytes("cal_inf", {"0": 0.0, "0.5": 0.25, "1": 1.0}).replace(b"0.25", b"1e400")
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(doc)
    assert str(caught.value) == (
        "calibration.json: confidence_calibration.mapping['0.5'] must be a finite number, got inf"
    )


def _edited(**sections: object) -> bytes:
    doc = config_doc("cal_w")
    doc.update(sections)
    return json.dumps(doc).encode()


WEIGHTS = {"xgb": 0.25, "lgbm": 0.25, "nhits": 0.25, "patchtst": 0.25}
SECTION_CASES = {
    "calibration flag a string": (
        _edited(confidence_calibration={"enabled": "yes"}),
        "confidence_calibration.enabled must be true or false, got 'yes'",
    ),
    "weights flag a number": (
        _edited(ensemble_weights={"enabled": 1, "weights": WEIGHTS}),
        "ensemble_weights.enabled must be true or false, got 1",
    ),
    "section a list": (_edited(ensemble_weights=[1, 2]), "'ensemble_weights' must be an object, got [1, 2]"),
    "weights a list": (
        _edited(ensemble_weights={"enabled": False, "weights": [0.5]}),
        "ensemble_weights.weights must be an object, got [0.5]",
    ),
    "a weight above 1": (
        _edited(ensemble_weights={"enabled": True, "weights": {**WEIGHTS, "xgb": 1.5, "lgbm": -0.5}}),
        "ensemble_weights.weights.xgb = 1.5 is outside [0, 1]",
    ),
    "enabled without a mapping": (
        _edited(confidence_calibration={"enabled": True}),
        "confidence_calibration is enabled but has no mapping",
    ),
    "calpolicy block a list": (_edited(calpolicy=[1]), "'calpolicy.models' must be an object"),
    "calpolicy models a list": (_edited(calpolicy={"models": [1]}), "'calpolicy.models' must be an object"),
    "version a number": (_edited(version=20260206), "'version' must be a non-empty string, got 20260206"),
    "version of 201 characters": (
        _edited(version="v" * 201),
        f"'version' must be printable text of at most 200 characters, got '{'v' * 56}...",
    ),
}


@pytest.mark.parametrize("case", list(SECTION_CASES))
def test_a_bad_section_is_refused_saying_what_it_got(case: str) -> None:
    data, message = SECTION_CASES[case]
    with pytest.raises(CalibrationError) as caught:
        parse_calibration(data)
    assert str(caught.value) == f"calibration.json: {message}"


def test_a_weight_of_zero_and_a_version_of_200_characters_are_served() -> None:
    weights = {"xgb": 0.0, "lgbm": 0.5, "nhits": 0.25, "patchtst": 0.25}
    snap = parse_calibration(_edited(version="v" * 200, ensemble_weights={"enabled": True, "weights": weights}))
    assert snap.version == "v" * 200
    assert snap.weights_override == weights


def test_a_text_document_is_read_as_its_utf8_bytes() -> None:
    text = config_bytes("cal_text_é", {"0": 0.0, "1": 1.0}).decode()
    snap = parse_calibration(text)
    assert snap.version == "cal_text_é"
    assert snap.sha256 == parse_calibration(text.encode()).sha256


def test_a_text_document_with_a_lone_surrogate_is_refused_not_raised() -> None:
    with pytest.raises(CalibrationError) as caught:
        parse_calibration('{"version": "cal_\ud800"}')
    assert str(caught.value) == (
        "calibration.json: 'version' must be printable text of at most 200 characters, got 'cal_\\ud800'"
    )


def test_a_calpolicy_block_without_models_has_no_per_model_maps() -> None:
    snap = parse_calibration(_edited(calpolicy={"job_id": "cal_w"}))
    assert snap.models == {}
    assert snap.apply(0.3, model="xgb") == 0.3


def test_per_model_maps_of_a_disabled_calibration_are_not_served() -> None:
    models = {"xgb": {"x": [0, 1], "y": [0.5, 0.5]}}
    snap = parse_calibration(config_bytes("cal_off", {"0": 0.0, "1": 1.0}, models, enabled=False))
    assert snap.models == {}
    assert snap.apply(0.3, model="xgb") == 0.3
    on = parse_calibration(config_bytes("cal_on", {"0": 0.0, "1": 1.0}, models))
    assert on.apply(0.3, model="xgb") == 0.5


def test_a_published_map_cannot_be_changed_in_place() -> None:
    models = {"xgb": {"x": [0, 1], "y": [0, 1]}}
    snap = parse_calibration(config_bytes("cal_ro", {"0": 0.0, "0.5": 0.5, "1": 1.0}, models))
    for curve in (snap.ensemble, snap.models["xgb"]):
        assert curve is not None
        for array in (curve.x_array, curve.y_array):
            with pytest.raises(ValueError, match="read-only"):
                array[0] = 0.9
    assert snap.apply(np.array([0.25]))[0] == 0.25
