"""The applied file loads in a loader that knows only the existing engine's shape, with the same values.

``ExistingEngineLoader`` is written from REAL_SYSTEM.md §5 alone: float keys, ``np.interp`` over the
sorted keys, clip to [0, 1], and nothing of calpolicy's block.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calpolicy.apply.deploy import approve_job, rollback
from calpolicy.loader import CalibrationLoader
from unit_tests.deploy.site import EXISTING_TOOL_FILE, make_site


class ExistingEngineLoader:
    """What the AI engine does today with config/calibration.json."""

    def __init__(self, path: Path) -> None:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
        self.version = config["version"]
        section = config["confidence_calibration"]
        self.enabled = bool(section["enabled"])
        self.weights_override = bool(config["ensemble_weights"]["enabled"])
        pairs = sorted((float(k), float(v)) for k, v in section["mapping"].items())
        self.xs = np.array([p[0] for p in pairs])
        self.ys = np.array([p[1] for p in pairs])

    def calibrate(self, confidence: float | np.ndarray) -> float | np.ndarray:
        if not self.enabled:
            return confidence
        return np.clip(np.interp(confidence, self.xs, self.ys), 0.0, 1.0)


GRID = np.concatenate([np.linspace(0, 1, 2001), np.random.default_rng(5).uniform(0, 1, 5000)])


def test_applied_file_gives_the_same_values_in_the_existing_loader(tmp_path: Path, proposal_json: str) -> None:
    site = make_site(tmp_path)
    site.add_job("cal_20261101_120000", proposal_json)
    approve_job(site.config, "cal_20261101_120000", "alice", wait=False, say=lambda _: None)
    old = ExistingEngineLoader(site.live)
    new = CalibrationLoader(site.live, poll_interval_s=0, record=False)
    assert old.version == new.version == "cal_20261101_120000"
    assert old.enabled is True
    assert old.weights_override is False
    np.testing.assert_array_equal(new.apply(GRID), old.calibrate(GRID))
    for value in GRID[:500]:
        assert new.apply(float(value)) == old.calibrate(float(value))


@pytest.mark.parametrize("target", ["previous", "none"])
def test_rolled_back_states_agree_too(tmp_path: Path, proposal_json: str, target: str) -> None:
    site = make_site(tmp_path)
    site.add_job("cal_20261101_120000", proposal_json)
    approve_job(site.config, "cal_20261101_120000", "alice", wait=False, say=lambda _: None)
    rollback(site.config, target, "bob", wait=False, say=lambda _: None)
    new = CalibrationLoader(site.live, poll_interval_s=0, record=False)
    if target == "none":
        assert not site.live.exists()
        np.testing.assert_array_equal(new.apply(GRID), GRID)
        return
    assert site.live.read_bytes() == EXISTING_TOOL_FILE.read_bytes()
    np.testing.assert_array_equal(new.apply(GRID), ExistingEngineLoader(site.live).calibrate(GRID))
