"""Third held-out set of issue 21 for the watch: a live file with numbers too large for a float (docs/heldout.md).

JSON integers have no size limit and ``json.loads`` takes 400 digits; ``float()`` of such an integer, and
``math.isfinite`` of it, raise ``OverflowError`` — not the ``ValueError`` / ``TypeError`` the watch caught.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calpolicy.watch import WatchError, read_applied
from unit_tests.conftest import run_cli

BIG = "9" * 400


def live_file(tmp_path: Path, value: str = "0.5", mse: str = "0.17") -> Path:
    text = (
        (
            '{"version": "cal_20261101_120000", "approved_at": "2026-11-01T12:00:00+00:00", '
            '"confidence_calibration": {"enabled": true, "mapping": {"0.0": 0.0, "0.5": VALUE, "1.0": 1.0}, '
            '"mse_after": MSE}}'
        )
        .replace("VALUE", value)
        .replace("MSE", mse)
    )
    path = tmp_path / "calibration.json"
    path.write_text(text)
    return path


def test_a_map_value_of_400_digits_is_could_not_check(tmp_path: Path) -> None:
    """Was: `OverflowError: int too large to convert to float`, a traceback from `calpolicy watch` (exit 3)."""
    path = live_file(tmp_path, value=BIG)
    with pytest.raises(WatchError, match="mapping is not numbers"):
        read_applied(path)
    toml = tmp_path / "calpolicy.toml"
    toml.write_text(f'[paths]\ncalibration_file = "{path}"\narchive_dir = "{tmp_path / "archive"}"\n')
    for args in (("watch",), ("watch", "--json")):
        done = run_cli("--config", str(toml), *args)
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        assert done.returncode == 3, done.stdout + done.stderr
        assert "mapping is not numbers" in done.stdout, done.stdout
    assert json.loads(run_cli("--config", str(toml), "watch", "--json").stdout)["verdict"] == "COULD NOT CHECK"


def test_an_mse_after_of_400_digits_is_no_prediction(tmp_path: Path) -> None:
    """Was: `OverflowError` from `math.isfinite` on the integer; `mse_after` is only the predicted Brier."""
    applied = read_applied(live_file(tmp_path, mse=BIG))
    assert applied.predicted_brier is None
    assert applied.mapping == {"0.0": 0.0, "0.5": 0.5, "1.0": 1.0}


@pytest.mark.parametrize("approved", ["0001-01-01T00:00:00+00:00", "0001-01-01T12:00:00+00:00"])
def test_an_approved_at_in_year_1_is_could_not_check(tmp_path: Path, approved: str) -> None:
    """Was: accepted; the watch then computed the baseline window's start (approved_at minus 24 h) and
    ``OverflowError: date value out of range`` ended `calpolicy watch` in a traceback, once the engine served
    the version. The engine never reads ``approved_at``: a hand edit of it is possible and goes unnoticed."""
    path = live_file(tmp_path)
    path.write_text(path.read_text().replace("2026-11-01T12:00:00+00:00", approved))
    with pytest.raises(WatchError, match="is not a time this calibration could have been approved"):
        read_applied(path)
