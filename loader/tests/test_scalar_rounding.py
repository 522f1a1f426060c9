"""The scalar path's last clamp: interpolation can round one step past a knot at 1 (parse.py survivors).

With knots (0, 0), (0.3, 0.21), (1, 1), the largest float below 1 interpolates to
``0.79 / 0.7 * (c - 0.3) + 0.21 = 1.0000000000000002``: ``np.interp`` gives the same, and the engine's
``np.clip`` makes it 1.0. The scalar path must clamp it too, or it serves a confidence above 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from conftest import config_bytes, replace

from calpolicy_loader import CalibrationLoader, parse_calibration

MAPPING = {"0": 0.0, "0.3": 0.21, "1": 1.0}
JUST_BELOW_ONE = math.nextafter(1.0, 0.0)


def test_the_case_does_round_past_one() -> None:
    assert 0.79 / 0.7 * (JUST_BELOW_ONE - 0.3) + 0.21 > 1.0
    assert np.interp(JUST_BELOW_ONE, [0.0, 0.3, 1.0], [0.0, 0.21, 1.0]) > 1.0


def test_a_value_rounded_past_one_is_served_as_one_as_the_engine_clips_it(live: Path) -> None:
    models = {"xgb": {"x": [0.0, 0.3, 1.0], "y": [0.0, 0.21, 1.0]}}
    snap = parse_calibration(config_bytes("cal_round", MAPPING, models))
    engine = float(np.clip(np.interp(JUST_BELOW_ONE, [0.0, 0.3, 1.0], [0.0, 0.21, 1.0]), 0.0, 1.0))
    assert engine == 1.0
    for model in (None, "xgb"):
        assert snap.apply(JUST_BELOW_ONE, model) == 1.0
        assert snap.apply(np.float64(JUST_BELOW_ONE), model) == 1.0
        assert snap.apply(np.array([JUST_BELOW_ONE]), model)[0] == 1.0
    replace(live, config_bytes("cal_round", MAPPING, models))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.apply(JUST_BELOW_ONE) == 1.0
    assert loader.apply(JUST_BELOW_ONE, "xgb") == 1.0
