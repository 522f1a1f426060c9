"""What approve, rollback, watch and status *say* about the engine, pinned without booting systemd.

``test_confirmation.py`` proves the evidence rules against a real unit in a private systemd (9 s a test).
The words around them are decided by pure functions: which loader line names which served version, the
command an operator is told to run, and approve's first line. Each is pinned here whole, so a mutation
test can run them in a blink (issue 21 §5).
"""

from __future__ import annotations

import json
from pathlib import Path

from calpolicy.apply.confirmation import (
    NO_CALIBRATION,
    Confirmation,
    _message_text,
    headline,
    loader_state,
    make_live_command,
    served_problem,
)
from calpolicy.vocabulary.config import Config


def test_each_loader_line_names_what_is_served() -> None:
    lines = {
        "[CalibrationLoader] ✅ Loaded calibration: cal-2026-12-01": "cal-2026-12-01",  # the real engine
        "[CalibrationLoader] ✅ Loaded config version: job-7": "job-7",  # calpolicy's hot-reload loader
        "INFO ai_engine [CalibrationLoader]   ✅   Loaded calibration:   v3 (sha256 ab12)": "v3",
        "[CalibrationLoader]✅ Loaded calibration:v4": "v4",
        "[CalibrationLoader] No config at /srv/quantum/config/calibration.json": NO_CALIBRATION,
        "[CalibrationLoader] ⚠️ /srv/x/calibration.json is missing: serving NO calibration": NO_CALIBRATION,
        "[CalibrationLoader] ❌ Failed to load config: bad knot": "?failed",
        # a line that says both: the loaded version wins (it is the outcome), then "no file", then a failure
        "[CalibrationLoader] ❌ Failed to load config; [CalibrationLoader] ✅ Loaded calibration: v5": "v5",
        "[CalibrationLoader] ❌ Failed to load config; [CalibrationLoader] No config at /x": NO_CALIBRATION,
    }
    for line, served in lines.items():
        assert loader_state(line) == served, line
    assert NO_CALIBRATION == "none"
    for other in ("✅ Loaded calibration: v1", "[CalibrationLoader] Loaded calibration: v1", "[CalibrationLoader]",
                  "[CalibrationLoader] ✅ Loaded calibration:", "[CalibrationLoader] ⚠️ missing",
                  "[CalibrationLoader] Failed to load config", "", "engine started"):  # fmt: skip
        assert loader_state(other) is None, other


def test_a_json_log_record_is_read_for_its_text() -> None:
    envelope = json.dumps({"ts": "t", "level": "INFO", "msg": "[CalibrationLoader] ✅ Loaded calibration: v1"})
    assert "\\u2705" in envelope  # the raw line escapes the emoji: only the decoded text matches
    assert _message_text(envelope) == "[CalibrationLoader] ✅ Loaded calibration: v1"
    assert loader_state(_message_text(envelope)) == "v1"
    other = json.dumps({"levelname": "INFO", "message": "[CalibrationLoader] No config at /x"})
    assert _message_text(other) == "[CalibrationLoader] No config at /x"
    assert _message_text("plain [CalibrationLoader] line") == "plain [CalibrationLoader] line"


def test_the_command_that_makes_a_version_live() -> None:
    assert make_live_command(None) == "calpolicy confirm --allow-restart"
    assert make_live_command("") == "calpolicy confirm --allow-restart"
    assert make_live_command("/etc/calpolicy/calpolicy.toml") == (
        "calpolicy --config /etc/calpolicy/calpolicy.toml confirm --allow-restart"
    )
    quoted = "calpolicy --config '/srv/my site/c.toml' confirm --allow-restart"
    assert make_live_command("/srv/my site/c.toml") == quoted


def test_approves_first_line(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    live = Confirmation("v9", live=True, needs_restart=True)
    assert headline("APPLIED", "v9", live, marker, None) == "APPLIED — version v9 is live"
    assert headline("ROLLED BACK", "v8", Confirmation("v8", live=True), marker, None) == (
        "ROLLED BACK — version v8 is live"
    )
    waiting = Confirmation("v9", needs_restart=True)
    assert headline("APPLIED", "v9", waiting, marker, "/etc/c.toml") == (
        "written, NOT LIVE — version v9: this engine has no hot reload; to make it live: "
        "calpolicy --config /etc/c.toml confirm --allow-restart"
    )
    marker.write_text("{}")
    assert headline("APPLIED", "v9", waiting, marker, None) == (
        "written, NOT LIVE — version v9: its loader did not acknowledge it (.calpolicy_loaded is not from the "
        "engine or names another version); to make it live: calpolicy confirm --allow-restart"
    )
    unseen = "version v9 is written, but the engine was not shown to serve it"
    assert headline("APPLIED", "v9", Confirmation("v9"), marker, None) == f"APPLIED, NOT CONFIRMED — {unseen}"
    assert headline("APPLIED", "v9", None, marker, None) == f"APPLIED, NOT CONFIRMED — {unseen}"
    assert headline("CONFIRMED", "v9", None, marker, None) == f"NOT CONFIRMED — {unseen}"
    assert headline("CONFIRMED", "v9", Confirmation("v9", could_not_check=True), marker, None) == (
        f"NOT CONFIRMED — {unseen}"
    )


def test_an_engine_that_cannot_be_seen_is_unknown_not_live_or_fine(tmp_path: Path) -> None:
    """No systemd to ask (this test process has none as PID 1, or no such unit): ``unknown``, saying why;
    never None (served) and never ``not-live`` (a claim about what is served)."""
    config = Config().with_overrides(
        {"systemd.ai_engine_unit": "calpolicy-test-no-such-engine", "paths.calibration_file": str(tmp_path / "c.json")},
        "test",
    )
    for version in ("v1", None):
        problem = served_problem(config, version)
        assert problem is not None
        kind, reason = problem
        assert kind == "unknown"
        assert reason.startswith("cannot tell which version the AI engine serves: ")
        assert "calpolicy-test-no-such-engine" in reason
