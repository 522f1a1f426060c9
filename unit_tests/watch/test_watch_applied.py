"""What the watch reads of the live calibration.json, on real files: every refusal's words, and what is kept.

Found by mutation testing (docs/mutation.md, issue 21 §5): ``read_applied`` was tested through the CLI (a
child process) and on a few maps; each way it can refuse — the watch's exit 3 — now has its own case.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from calpolicy.watch import WatchError, applied_calibration, read_applied

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MAP = {"0.0": 0.0, "0.5": 0.4, "1.0": 1.0}


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "calibration.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def refused(path: Path) -> str:
    with pytest.raises(WatchError) as caught:
        read_applied(path)
    return str(caught.value)


def test_an_applied_map_is_read_whole(tmp_path: Path) -> None:
    block = {"enabled": True, "mapping": {"0.0": 0, "0.5": 0.4, "1.0": 1}, "mse_after": 0.2}
    path = write(tmp_path, {"version": "cal_7", "approved_at": T0.isoformat(), "confidence_calibration": block})
    applied = read_applied(path)
    assert applied.version == "cal_7"
    assert applied.approved_at == T0
    assert applied.mapping == MAP
    assert all(type(v) is float for v in applied.mapping.values())
    assert applied.predicted_brier == 0.2
    assert applied_calibration(path) == ("cal_7", T0)


def test_a_whole_number_prediction_is_a_number_and_a_boolean_is_not(tmp_path: Path) -> None:
    for mse, expected in ((0, 0.0), (1, 1.0), (True, None), ("0.2", None), (None, None)):
        block = {"enabled": True, "mapping": MAP, "mse_after": mse}
        path = write(tmp_path, {"approved_at": T0.isoformat(), "confidence_calibration": block})
        assert read_applied(path).predicted_brier == expected, mse


def test_an_approval_without_an_offset_is_utc_and_an_offset_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, {"approved_at": "2026-11-20T12:00:00"})
    assert read_applied(path).approved_at == T0
    assert read_applied(path).approved_at.tzinfo is UTC
    east = datetime(2026, 11, 20, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    kept = read_applied(write(tmp_path, {"approved_at": east.isoformat()})).approved_at
    assert kept.utcoffset() == timedelta(hours=2)


def test_without_a_map_or_a_version_there_is_none(tmp_path: Path) -> None:
    for block in (None, "on", {"enabled": "true", "mapping": MAP}, {"enabled": 1, "mapping": MAP}, {"mapping": MAP}):
        raw = {"version": 7, "approved_at": T0.isoformat(), "confidence_calibration": block}
        applied = read_applied(write(tmp_path, raw))
        assert applied.mapping is None, block
        assert applied.predicted_brier is None
        assert applied.version is None  # a version that is not text is not shown as one


def test_a_missing_file_is_nothing_applied(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    assert refused(path) == f"no calibration is applied: {path} does not exist"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "cannot read the applied calibration {path}: "),
        ("[1, 2]", "{path} is not a JSON object"),
        ({"version": "v"}, "{path} has no approved_at: this calibration was not applied through an approval"),
        ({"approved_at": 1764}, "{path} has no approved_at: this calibration was not applied through an approval"),
        ({"approved_at": "yesterday"}, "{path}: approved_at is not an ISO-8601 instant: 'yesterday'"),
        (
            {"approved_at": "2026-11-20T12:00:00Z", "confidence_calibration": {"enabled": True, "mapping": {}}},
            "{path}: confidence_calibration is enabled but has no mapping",
        ),
        (
            {"approved_at": "2026-11-20T12:00:00Z", "confidence_calibration": {"enabled": True, "mapping": [[0, 0]]}},
            "{path}: confidence_calibration is enabled but has no mapping",
        ),
        (
            {"approved_at": "2026-11-20T12:00:00Z", "confidence_calibration": {"enabled": True, "mapping": {"a": 0.5}}},
            "{path}: confidence_calibration.mapping is not numbers",
        ),
        (
            {
                "approved_at": "2026-11-20T12:00:00Z",
                "confidence_calibration": {"enabled": True, "mapping": {"0.5": None}},
            },
            "{path}: confidence_calibration.mapping is not numbers",
        ),
        (
            {
                "approved_at": "2026-11-20T12:00:00Z",
                "confidence_calibration": {"enabled": True, "mapping": {"-0.1": 0.5}},
            },
            "{path}: confidence_calibration.mapping has a knot or value outside [0, 1]",
        ),
        (
            {
                "approved_at": "2026-11-20T12:00:00Z",
                "confidence_calibration": {"enabled": True, "mapping": {"1.5": 0.5}},
            },
            "{path}: confidence_calibration.mapping has a knot or value outside [0, 1]",
        ),
        (
            {
                "approved_at": "2026-11-20T12:00:00Z",
                "confidence_calibration": {"enabled": True, "mapping": {"0.5": -0.1}},
            },
            "{path}: confidence_calibration.mapping has a knot or value outside [0, 1]",
        ),
        (
            {
                "approved_at": "2026-11-20T12:00:00Z",
                "confidence_calibration": {"enabled": True, "mapping": {"inf": 0.5}},
            },
            "{path}: confidence_calibration.mapping has a knot or value outside [0, 1]",
        ),
    ],
)
def test_what_the_watch_cannot_read_is_refused_saying_what(tmp_path: Path, content: object, said: str) -> None:
    path = write(tmp_path, content)
    message = refused(path)
    assert message.startswith(said.format(path=path))
    assert "\n" not in message


def test_a_map_at_exactly_zero_and_one_is_read(tmp_path: Path) -> None:
    block = {"enabled": True, "mapping": {"0": 0, "1": 1}}
    assert read_applied(write(tmp_path, {"approved_at": T0.isoformat(), "confidence_calibration": block})).mapping == {
        "0": 0.0,
        "1": 1.0,
    }


def test_a_fifo_in_its_place_is_refused_not_waited_on(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    os.mkfifo(path)
    assert refused(path).startswith(f"cannot read the applied calibration {path}: ")


def test_a_file_nested_past_the_parsers_depth_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert refused(path).startswith(f"cannot read the applied calibration {path}: ")
