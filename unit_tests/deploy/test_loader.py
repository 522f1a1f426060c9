"""CalibrationLoader: exact np.interp semantics, validation, hot reload, deletion, the served-version record."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calpolicy
from calpolicy.atomic_io import write_atomic
from calpolicy.loader import CalibrationError, CalibrationLoader, parse_calibration, read_marker
from unit_tests.deploy.site import EXISTING_TOOL_FILE, EXISTING_VERSION


def config_bytes(
    version: str, mapping: dict[str, float], models: dict[str, Any] | None = None, enabled: bool = True
) -> bytes:
    doc: dict[str, Any] = json.loads(EXISTING_TOOL_FILE.read_bytes())
    doc["version"] = version
    doc["confidence_calibration"]["mapping"] = mapping
    doc["confidence_calibration"]["enabled"] = enabled
    if models is not None:
        doc["calpolicy"] = {"job_id": version, "statement_sha256": None, "models": models}
    return json.dumps(doc).encode()


def knots(draw_values: list[float]) -> dict[str, float]:
    xs = np.linspace(0, 1, len(draw_values))
    return {repr(round(float(x), 6)): v for x, v in zip(xs, sorted(draw_values), strict=True)}


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "calibration.json"
    path.write_bytes(EXISTING_TOOL_FILE.read_bytes())
    return path


def test_exported_from_the_package() -> None:
    assert calpolicy.CalibrationLoader is CalibrationLoader


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(0, 1), min_size=2, max_size=25),
    probes=st.lists(st.floats(-0.5, 1.5) | st.sampled_from([0.0, 0.5, 1.0, float("nan")]), min_size=1, max_size=40),
)
def test_scalar_and_array_equal_np_interp_exactly(values: list[float], probes: list[float]) -> None:
    snap = parse_calibration(config_bytes("cal_v", knots(values)))
    xs = np.array(sorted(float(k) for k in knots(values)))
    ys = np.array([knots(values)[k] for k in sorted(knots(values), key=float)])
    expected = np.interp(np.array(probes), xs, ys)
    np.testing.assert_array_equal(snap.apply(np.array(probes)), expected)
    for probe, want in zip(probes, expected, strict=True):
        got = snap.apply(probe)
        assert (np.isnan(got) and np.isnan(want)) or got == want, (probe, got, want)


def test_apply_kinds_and_models(live: Path) -> None:
    models = {"xgb": {"x": [0.0, 1.0], "y": [0.1, 0.9]}}
    write_atomic(live, config_bytes("cal_m", {"0.0": 0.0, "1.0": 0.5}, models))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.apply(0.5) == 0.25
    assert loader.apply(1) == 0.5
    assert loader.apply(np.float32(0.5)) == 0.25
    assert loader.apply(0.5, model="xgb") == pytest.approx(0.5)
    assert loader.apply(0.5, model="unknown") == 0.5  # no map of its own: identity
    out = loader.apply(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(out, [0.0, 0.25, 0.5])
    np.testing.assert_array_equal(loader.apply([0.0, 1.0], model="xgb"), [0.1, 0.9])


def test_log_lines_and_served_version_record(live: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="calpolicy.loader")
    loader = CalibrationLoader(live, poll_interval_s=0)
    text = caplog.text
    assert f"[CalibrationLoader] ✅ Loaded config version: {EXISTING_VERSION}" in text
    assert "[CalibrationLoader] Confidence calibration: enabled" in text
    assert "[CalibrationLoader] Ensemble weights: 4 models" in text
    marker = read_marker(live.parent / ".calpolicy_loaded")
    assert marker is not None
    assert marker["version"] == EXISTING_VERSION
    assert marker["pid"] > 0
    assert loader.version == EXISTING_VERSION


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (config_bytes("", {"0": 0.0, "1": 1.0}), "'version'"),
        (config_bytes("v2", {"0": 0.0}), "at least 2 points"),
        (config_bytes("v2", {"0": 0.0, "x": 1.0}), "is not a number"),
        (config_bytes("v2", {"0": 0.0, "1": 1.5}), "outside"),
        (config_bytes("v2", {"0": 0.0, "1.5": 1.0}), "outside"),
        (config_bytes("v2", {"0": 0.0, "0.0": 0.1, "1": 1.0}), "repeats"),
        (config_bytes("v2", {"0": 0.0, "1": 1.0}, {"xgb": {"x": [0.5, 0.1], "y": [0.1, 0.2]}}), "increasing"),
        (config_bytes("v2", {"0": 0.0, "1": 1.0}, {"xgb": {"x": [0, 1], "y": [0.1]}}), "same length"),
    ],
)
def test_an_invalid_file_is_never_served(
    live: Path, caplog: pytest.LogCaptureFixture, content: bytes, why: str
) -> None:
    with pytest.raises(CalibrationError, match=why):
        parse_calibration(content)
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    before = loader.apply(0.87)
    write_atomic(live, content)
    assert loader.reload() is False
    assert loader.version == EXISTING_VERSION
    assert loader.apply(0.87) == before
    assert "refusing to load" in caplog.text
    assert f"still serving version {EXISTING_VERSION}" in caplog.text


def test_deleted_file_means_identity_and_says_so(live: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="calpolicy.loader")
    loader = CalibrationLoader(live, poll_interval_s=0)
    assert loader.apply(0.7) != 0.7
    live.unlink()
    assert loader.reload() is True
    assert loader.apply(0.7) == 0.7
    assert loader.version == "none"
    assert "serving NO calibration (identity)" in caplog.text
    assert read_marker(live.parent / ".calpolicy_loaded")["version"] == "none"
    live.write_bytes(EXISTING_TOOL_FILE.read_bytes())
    assert loader.reload() is True
    assert loader.version == EXISTING_VERSION


def test_disabled_calibration_is_identity(live: Path) -> None:
    write_atomic(live, config_bytes("cal_off", {"0": 0.2, "1": 0.3}, enabled=False))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.version == "cal_off"
    assert loader.enabled is False
    assert loader.apply(0.61) == 0.61


def test_poll_thread_picks_up_a_new_file(live: Path) -> None:
    with CalibrationLoader(live, poll_interval_s=0.05, record=False) as loader:
        write_atomic(live, config_bytes("cal_new", {"0": 0.1, "1": 0.2}))
        deadline = time.monotonic() + 5
        while loader.version != "cal_new" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loader.version == "cal_new"
        assert loader.apply(0.0) == 0.1


def test_thousand_reloads_under_concurrent_apply_never_show_a_half_loaded_config(live: Path) -> None:
    """Version k maps everything to k/1000 (ensemble) and the xgb model to the same value: a mixed pair
    (ensemble of one version, model of another, or a value no version has) would be a torn config."""

    def version_bytes(k: int) -> bytes:
        level = k / 1000
        return config_bytes(f"cal_{k:04d}", {"0": level, "1": level}, {"xgb": {"x": [0, 1], "y": [level, level]}})

    write_atomic(live, version_bytes(0))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    stop = threading.Event()
    problems: list[str] = []
    calls = [0]

    def hammer() -> None:
        while not stop.is_set():
            snap = loader.snapshot()
            k = int(snap.version[4:])
            pair = (snap.apply(0.5), snap.apply(0.5, "xgb"))
            if pair != (k / 1000, k / 1000):
                problems.append(f"{snap.version}: {pair}")
            value = loader.apply(0.3)
            if value * 1000 != round(value * 1000) or not 0 <= value <= 1:
                problems.append(f"loader.apply gave {value}, which no version maps to")
            calls[0] += 1
            time.sleep(0)  # hand the GIL back so the reloads are interleaved with calls, not starved

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    reloaded = 0
    for k in range(1, 1001):
        if k % 2:  # a rename (new inode) and an in-place rewrite (same inode, new mtime/size) alike
            temp = live.with_suffix(".tmp")
            temp.write_bytes(version_bytes(k))
            os.replace(temp, live)
        else:
            live.write_bytes(version_bytes(k))
        reloaded += loader.reload()
    stop.set()
    for thread in threads:
        thread.join()
    assert reloaded == 1000
    assert loader.version == "cal_1000"
    assert not problems, problems[:5]
    assert calls[0] > 1000
