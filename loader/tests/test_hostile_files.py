"""Files that must neither crash, hang nor mislead the loader (issue 21 §4), each on a real file.

For every case: the constructor returns (no exception, no hang) and serves nothing from the file; a loader
already serving a good file keeps it (``reload()`` is False, the version unchanged); ``apply`` stays finite
in [0, 1]; the refusal is logged once per distinct bad file, not on every poll.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import EXISTING_TOOL_FILE, EXISTING_VERSION, config_bytes, config_doc, replace

from calpolicy_loader import (
    MAX_BYTES,
    CalibrationError,
    CalibrationLoader,
    parse_calibration,
    read_marker,
    wait_for_version,
)

GOOD = EXISTING_TOOL_FILE.read_bytes()
FOUR = ("xgb", "lgbm", "nhits", "patchtst")


def with_raw(text: str) -> bytes:
    """The existing file with the mapping value at 0.5 replaced by raw JSON text."""
    doc = config_doc("cal_raw")
    doc["confidence_calibration"]["mapping"] = {"0.0": 0.0, "0.5": "@@RAW@@", "1.0": 1.0}
    return json.dumps(doc).encode().replace(b'"@@RAW@@"', text.encode())


def deep(levels: int) -> bytes:
    return b'{"version": "cal_deep", "junk": ' + b"[" * levels + b"]" * levels + b"}"


def edited(**changes: object) -> bytes:
    doc = config_doc("cal_edit")
    for dotted, value in changes.items():
        target = doc
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return json.dumps(doc).encode()


CONTENT_CASES: dict[str, tuple[bytes, str]] = {
    "400-digit integer": (with_raw("1" + "0" * 399), "integer of 400 digits"),
    "5000-digit integer": (with_raw("9" * 5000), "integer of 5000 digits"),
    "nesting 100,000 deep": (deep(100_000), "nested more than"),
    "nesting 33 deep": (deep(33), "nested more than"),
    "subnormal knot distance": (
        config_bytes("cal_sub", {"0": 0.0, "1e-320": 1.0, "1": 1.0}),
        "too close together",
    ),
    "subnormal per-model knots": (
        config_bytes("cal_sub", {"0": 0.0, "1": 1.0}, {"xgb": {"x": [0.0, 1e-320, 1.0], "y": [0.0, 1.0, 1.0]}}),
        "too close together",
    ),
    "map value above 1": (config_bytes("cal_hi", {"0": 0.0, "1": 1.0000001}), "outside"),
    "map value below 0": (config_bytes("cal_lo", {"0": -0.1, "1": 1.0}), "outside"),
    "per-model value above 1": (
        config_bytes("cal_hi", {"0": 0.0, "1": 1.0}, {"xgb": {"x": [0, 1], "y": [0.1, 1.5]}}),
        "outside",
    ),
    "NaN literal": (with_raw("NaN"), "NaN, which is not a number"),
    "Infinity literal": (with_raw("-Infinity"), "-Infinity, which is not a number"),
    "1e400 (overflows to inf)": (with_raw("1e400"), "finite number"),
    "NaN key": (config_bytes("cal_nan", {"0": 0.0, "nan": 0.5, "1": 1.0}), "not a finite number"),
    "non-monotone map": (config_bytes("cal_down", {"0": 0.5, "0.5": 0.2, "1": 0.9}), "not monotone"),
    "non-monotone per-model map": (
        config_bytes("cal_down", {"0": 0.0, "1": 1.0}, {"xgb": {"x": [0, 0.5, 1], "y": [0.1, 0.6, 0.3]}}),
        "not monotone",
    ),
    "mapping value a string": (config_bytes("cal_str", {"0": 0.0, "1": "1.0"}), "must be a number"),
    "mapping value a boolean": (config_bytes("cal_bool", {"0": 0.0, "1": True}), "must be a number"),
    "mapping a list": (edited(confidence_calibration__mapping=[0.1, 0.2]), "must be an object"),
    "enabled a string": (edited(confidence_calibration__enabled="yes"), "true or false"),
    "enabled without mapping": (
        json.dumps({"version": "v", "confidence_calibration": {"enabled": True}}).encode(),
        "has no mapping",
    ),
    "version a number": (edited(version=20260206), "'version' must be a non-empty string"),
    "version with a newline": (
        edited(version="cal_1\n[CalibrationLoader] ✅ Loaded config version: forged"),
        "printable",
    ),
    "section a list": (edited(confidence_calibration=[1, 2]), "must be an object"),
    "models a list": (config_bytes("cal_m", {"0": 0.0, "1": 1.0}, models=[1]), "must be an object"),  # type: ignore[arg-type]
    "weights override a string": (
        edited(ensemble_weights__enabled=True, ensemble_weights__weights={"xgb": "0.3"}),
        "weights.xgb must be a number",
    ),
    "weights override missing a model": (
        edited(ensemble_weights__enabled=True, ensemble_weights__weights={"xgb": 1.0}),
        "no weight for 'lgbm'",
    ),
    "weights override not summing to 1": (
        edited(ensemble_weights__enabled=True, ensemble_weights__weights=dict.fromkeys(FOUR, 0.5)),
        "sum to 2.0000",
    ),
    "duplicate key": (b'{"version": "a", "version": "b"}', "appears twice"),
    "top-level list": (b"[1, 2]", "not a JSON object"),
    "top-level string": (b'"cal"', "not a JSON object"),
    "empty file": (b"", "not valid JSON"),
    "invalid UTF-8": (b'{"version": "\xff\xfe"}', "not valid JSON"),
    "truncated": (GOOD[: len(GOOD) // 2], "not valid JSON"),
}


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refusing to load" in r.getMessage()]


def construct_within(path: Path, seconds: float = 10, **kwargs: object) -> CalibrationLoader:
    """Build a loader in a daemon thread and fail (not hang) if that takes longer than ``seconds``."""
    box: list[object] = []
    worker = threading.Thread(
        target=lambda: box.append(_try(lambda: CalibrationLoader(path, **kwargs))),  # type: ignore[arg-type]
        daemon=True,
    )
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"CalibrationLoader({path}) blocked for {seconds} s"
    assert isinstance(box[0], CalibrationLoader), f"the constructor raised {box[0]!r}"
    return box[0]


def _try(make: Callable[[], CalibrationLoader]) -> object:
    try:
        return make()
    except BaseException as error:
        return error


def assert_serves_unit_interval(loader: CalibrationLoader) -> None:
    for probe in (0.0, 0.5, 1.0, 5e-324, 1e-300, -1.0, 2.0, math.inf, -math.inf, math.nan, 0.7):
        got = loader.apply(probe)
        assert math.isfinite(got), (probe, got)
        assert 0.0 <= got <= 1.0, (probe, got)
    arr = loader.apply(np.array([0.0, 5e-324, 0.5, math.nan, math.inf]))
    assert np.isfinite(arr).all()
    assert ((arr >= 0) & (arr <= 1)).all()


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_hostile_content_is_refused_never_served_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    content, why = CONTENT_CASES[case]
    with pytest.raises(CalibrationError, match=why):
        parse_calibration(content)
    live = tmp_path / "calibration.json"
    live.write_bytes(content)
    fresh = construct_within(live, poll_interval_s=0)
    assert fresh.calibration_loaded is False
    assert fresh.version == "none"
    assert fresh.reload() is False
    assert_serves_unit_interval(fresh)
    assert len(refusals(caplog)) == 1  # the constructor's refusal; reload() on the same file adds none

    replace(live, GOOD)
    serving = construct_within(live, poll_interval_s=0)
    before = serving.apply(0.87)
    replace(live, content)
    assert serving.reload() is False
    assert serving.version == EXISTING_VERSION
    assert serving.apply(0.87) == before
    assert_serves_unit_interval(serving)


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_symlink_loop(path: Path) -> None:
    other = path.with_name("loop_b")
    other.symlink_to(path.with_name("calibration.json"))  # the loop closes once ``path`` is the live name
    path.symlink_to(other)


def make_self_loop(path: Path) -> None:
    path.symlink_to(path)


def make_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def make_directory(path: Path) -> None:
    path.mkdir()


def make_oversized(path: Path) -> None:
    with open(path, "wb") as handle:  # sparse: no disk used, but MAX_BYTES + 1 bytes to read
        handle.truncate(MAX_BYTES + 1)


SPECIAL_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "FIFO": (make_fifo, "not a regular file (it is a FIFO)"),
    "symlink loop": (make_symlink_loop, "symlink loop"),
    "symlink to itself": (make_self_loop, "symlink loop"),
    "symlink to /dev/zero": (make_dev_zero, "not a regular file (it is a character device)"),
    "directory": (make_directory, "not a regular file (it is a directory)"),
    "sparse file over the size cap": (make_oversized, f"more than the {MAX_BYTES}"),
}


@pytest.mark.parametrize("case", list(SPECIAL_FILES))
def test_special_files_never_block_raise_or_get_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    make, why = SPECIAL_FILES[case]
    live = tmp_path / "calibration.json"
    make(live)
    fresh = construct_within(live, poll_interval_s=0)
    assert fresh.calibration_loaded is False
    assert fresh.reload(force=True) is False
    assert_serves_unit_interval(fresh)
    assert len(refusals(caplog)) == 1
    assert why in refusals(caplog)[0]


@pytest.mark.parametrize("case", ["FIFO", "symlink loop", "symlink to /dev/zero"])
def test_poll_thread_keeps_the_good_config_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """A special file swapped in under a running loader: the thread neither dies, hangs nor floods the log."""
    make, why = SPECIAL_FILES[case]
    live = tmp_path / "calibration.json"
    live.write_bytes(GOOD)
    with construct_within(live, poll_interval_s=0.01) as loader:
        staged = tmp_path / "staged"
        make(staged)
        os.replace(staged, live)
        deadline = time.monotonic() + 10
        while not refusals(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # ~50 more polls of the same bad file
        assert loader.version == EXISTING_VERSION
        assert_serves_unit_interval(loader)
        assert len(refusals(caplog)) == 1, refusals(caplog)
        assert why in refusals(caplog)[0]
        assert loader.get_status()["hot_reload"] is True  # the thread is still alive
        os.replace(_good_copy(tmp_path, "cal_after"), live)
        deadline = time.monotonic() + 10
        while loader.version != "cal_after" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loader.version == "cal_after"


def _good_copy(folder: Path, version: str) -> Path:
    path = folder / f"{version}.json"
    path.write_bytes(config_bytes(version))
    return path


def test_a_bad_file_rewritten_with_the_same_bytes_is_not_logged_again(
    live: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    for _ in range(5):
        replace(live, b"{broken")
        loader.reload()
    assert len(refusals(caplog)) == 1
    replace(live, b"{broken differently")
    loader.reload()
    assert len(refusals(caplog)) == 2


def test_a_refused_marker_path_does_not_stop_serving(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="calpolicy_loader")
    live = tmp_path / "calibration.json"
    live.write_bytes(GOOD)
    (tmp_path / ".calpolicy_loaded").mkdir()  # os.replace cannot put a file over a folder
    loader = construct_within(live, poll_interval_s=0)
    assert loader.version == EXISTING_VERSION
    assert "cannot record the served version" in caplog.text


def test_a_fifo_as_the_acknowledgement_never_blocks_the_reader(tmp_path: Path) -> None:
    """``approve`` polls ``.calpolicy_loaded`` with ``wait_for_version``: a FIFO there must not hang it."""
    marker = tmp_path / ".calpolicy_loaded"
    os.mkfifo(marker)
    box: list[object] = []
    worker = threading.Thread(
        target=lambda: box.append((read_marker(marker), wait_for_version(marker, "v", 0.2))), daemon=True
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a FIFO acknowledgement blocked"
    assert box == [(None, None)]
