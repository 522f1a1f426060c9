"""Hot reload: validation before serving, deletion, the poll thread, atomic swaps and the acknowledgement."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import EXISTING_TOOL_FILE, EXISTING_VERSION, config_bytes, replace

from calpolicy_loader import CalibrationError, CalibrationLoader, parse_calibration, read_marker, wait_for_version


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
    replace(live, content)
    assert loader.reload() is False
    assert loader.version == EXISTING_VERSION
    assert loader.apply(0.87) == before
    assert "refusing to load" in caplog.text
    assert f"still serving version {EXISTING_VERSION}" in caplog.text
    assert loader.get_status()["last_error"]


def test_log_lines_of_the_checklist_and_of_the_engine(live: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="calpolicy_loader")
    loader = CalibrationLoader(live, poll_interval_s=0)
    text = caplog.text
    assert f"[CalibrationLoader] ✅ Loaded config version: {EXISTING_VERSION}" in text  # the checklist's
    assert f"[CalibrationLoader] ✅ Loaded calibration: {EXISTING_VERSION}" in text  # the real engine's
    assert "[CalibrationLoader] Confidence calibration: enabled" in text
    assert "[CalibrationLoader] Ensemble weights: 4 models (⏸ BASELINE)" in text
    assert loader.version == EXISTING_VERSION


def test_acknowledgement_format_is_one_json_line_with_version_pid_at_sha256(live: Path) -> None:
    CalibrationLoader(live, poll_interval_s=0)
    raw = (live.parent / ".calpolicy_loaded").read_bytes()
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 1
    body = json.loads(raw)
    assert list(body) == ["version", "pid", "at", "sha256"]
    assert body["version"] == EXISTING_VERSION
    assert body["pid"] == os.getpid()
    assert datetime.fromisoformat(body["at"]).utcoffset().total_seconds() == 0
    assert re.fullmatch(r"[0-9a-f]{64}", body["sha256"])
    assert body["sha256"] == parse_calibration(live.read_bytes()).sha256
    assert raw == (json.dumps(body) + "\n").encode()  # json.dumps defaults: ", " and ": ", ASCII
    assert (live.parent / ".calpolicy_loaded").stat().st_mode & 0o777 == 0o644
    assert wait_for_version(live.parent / ".calpolicy_loaded", EXISTING_VERSION, 1) == body


def test_deleted_file_means_identity_and_says_so(live: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="calpolicy_loader")
    loader = CalibrationLoader(live, poll_interval_s=0)
    assert loader.apply(0.7) != 0.7
    live.unlink()
    assert loader.reload() is False  # the engine's meaning: no calibration file is served
    assert loader.apply(0.7) == 0.7
    assert loader.version == "none"
    assert loader.calibration_loaded is False
    assert "serving NO calibration (identity)" in caplog.text
    assert f"[CalibrationLoader] No config at {live}" in caplog.text  # the real engine's lines
    assert "[CalibrationLoader] Using baseline ensemble weights" in caplog.text
    assert read_marker(live.parent / ".calpolicy_loaded")["version"] == "none"
    live.write_bytes(EXISTING_TOOL_FILE.read_bytes())
    assert loader.reload() is True
    assert loader.version == EXISTING_VERSION


def test_reload_returns_true_while_the_file_on_disk_is_served(live: Path) -> None:
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.reload() is True  # unchanged and valid, as the engine's reload() says
    assert loader.reload(force=True) is True
    replace(live, b"{")
    assert loader.reload() is False
    assert loader.version == EXISTING_VERSION


def test_poll_thread_picks_up_a_new_file(live: Path) -> None:
    with CalibrationLoader(live, poll_interval_s=0.05, record=False) as loader:
        replace(live, config_bytes("cal_new", {"0": 0.1, "1": 0.2}))
        deadline = time.monotonic() + 5
        while loader.version != "cal_new" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loader.version == "cal_new"
        assert loader.apply(0.0) == 0.1
        assert loader.get_status()["hot_reload"] is True
    assert loader.get_status()["hot_reload"] is False


def test_thousand_reloads_under_concurrent_apply_never_show_a_half_loaded_config(live: Path) -> None:
    """Version k maps everything to k/1000 (ensemble) and the xgb model to the same value: a mixed pair
    (ensemble of one version, model of another, or a value no version has) would be a torn config."""

    def version_bytes(k: int) -> bytes:
        level = k / 1000
        return config_bytes(f"cal_{k:04d}", {"0": level, "1": level}, {"xgb": {"x": [0, 1], "y": [level, level]}})

    replace(live, version_bytes(0))
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
    seen = set()
    for k in range(1, 1001):
        if k % 2:  # a rename (new inode) and an in-place rewrite (same inode, new mtime/size) alike
            replace(live, version_bytes(k))
        else:
            live.write_bytes(version_bytes(k))
        assert loader.reload() is True
        seen.add(loader.version)
    stop.set()
    for thread in threads:
        thread.join()
    assert len(seen) == 1000
    assert loader.version == "cal_1000"
    assert not problems, problems[:5]
    assert calls[0] > 1000


def test_a_forked_worker_gets_its_own_poll_thread_and_acknowledges_with_its_pid(live: Path) -> None:
    """A server that forks workers after creating the loader: the child polls too, and its ack names it."""
    loader = CalibrationLoader(live, poll_interval_s=0.02)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read_fd)
        ok = b"0"
        why = b""
        try:
            marker = wait_for_version(live.parent / ".calpolicy_loaded", "cal_forked", 10) or {}
            if loader.version == "cal_forked" and marker.get("pid") == os.getpid():
                ok = b"1"
            why = f" {loader.version} {marker} {os.getpid()} {loader.get_status()}".encode()
        finally:
            os.write(write_fd, ok + why)
            os._exit(0)
    os.close(write_fd)
    loader.close()  # the parent stops polling: only the child can pick the new file up
    replace(live, config_bytes("cal_forked", {"0": 0.1, "1": 0.9}))
    answer = os.read(read_fd, 4096)
    os.close(read_fd)
    os.waitpid(pid, 0)
    assert answer[:1] == b"1", answer.decode()
    assert loader.version == EXISTING_VERSION
