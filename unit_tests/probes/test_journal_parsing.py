"""Journal and log-file parsing on recorded output, for the shapes a live journal will not produce on demand."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.journal import (
    decode_message,
    error_entries,
    is_error_message,
    log_text,
    parse_journal_json,
)
from calpolicy.preflight.probes.logfiles import error_lines_since
from calpolicy.preflight.probes.operator import operator_finding

# Recorded from `journalctl -o json`: journald stores a MESSAGE with invalid UTF-8 or control characters
# as an array of byte values; this one is "[ERROR] bad \xff byte" with a stray 0xff.
RECORDED = [
    {
        "__CURSOR": "s=1;i=1",
        "__REALTIME_TIMESTAMP": "1795720000000000",
        "_SYSTEMD_UNIT": "quantum-ai-engine.service",
        "PRIORITY": "6",
        "MESSAGE": [*b"[ERROR] bad ", 0xFF, *b" byte"],
    },
    {
        "__CURSOR": "s=1;i=1",  # the same entry twice, as journalctl can print it
        "__REALTIME_TIMESTAMP": "1795720000000000",
        "_SYSTEMD_UNIT": "quantum-ai-engine.service",
        "MESSAGE": [*b"[ERROR] bad ", 0xFF, *b" byte"],
    },
    {
        "__CURSOR": "s=1;i=2",
        "__REALTIME_TIMESTAMP": "1795720001000000",
        "_SYSTEMD_UNIT": "quantum-ai-engine.service",
        "PRIORITY": "3",
        "MESSAGE": "plain text at priority err",
    },
    {"__CURSOR": "s=1;i=3", "__REALTIME_TIMESTAMP": "1795720002000000", "MESSAGE": None},
]


def test_byte_array_messages_are_decoded_and_duplicates_dropped() -> None:
    entries = parse_journal_json("\n".join(json.dumps(r) for r in RECORDED))
    assert [e.message for e in entries] == ["[ERROR] bad \ufffd byte", "plain text at priority err", ""]
    assert entries[0].when == datetime.fromtimestamp(1795720000, UTC)
    assert [e.message for e in error_entries(entries)] == [
        "[ERROR] bad \ufffd byte",
        "plain text at priority err",
    ]


def test_unexpected_journal_output_is_a_probe_error() -> None:
    with pytest.raises(ProbeError, match="not JSON"):
        parse_journal_json("Failed to open journal\n")
    with pytest.raises(ProbeError, match="no __REALTIME_TIMESTAMP"):
        parse_journal_json(json.dumps({"MESSAGE": "x"}))
    with pytest.raises(ProbeError, match="unexpected shape"):
        decode_message({"a": 1})


@pytest.mark.parametrize(
    ("message", "is_error"),
    [
        ('{"ts": "x", "level": "ERROR", "msg": "boom"}', True),
        ('{"ts": "x", "level": "error", "msg": "boom"}', True),
        ('{"ts": "x", "level": "INFO", "msg": "no errors today"}', False),
        ('{"level": "INFO", "msg": "Traceback (most recent call last):"}', True),
        ("[LGBM-Agent] [ERROR] 2026-03-11 03:18:56 | Model load error", True),
        ("Traceback (most recent call last):", True),
        ("ValueError: bad input", True),
        ("2026-03-11 INFO 0 errors, all fine", False),
        ("CRITICAL disk full", True),
        # python-json-logger (the engine's backend/infra/observability): levelname/message
        ('{"asctime": "x", "name": "n", "levelname": "INFO", "message": "no ERROR here"}', False),
        ('{"levelname": "INFO", "message": "Traceback (most recent call last):"}', True),
        # the envelope after a wrapper's prefix: judged by its level, not by a word in its text
        ('INFO:     {"level": "INFO", "msg": "[AI-ENGINE] 0 ERROR lines"}', False),
        ('ERROR:    {"level": "ERROR", "msg": "boom"}', True),
    ],
)
def test_error_line_recognition(message: str, is_error: bool) -> None:
    assert is_error_message(message) is is_error


LOADED = "[CalibrationLoader] ✅ Loaded calibration: cal_1"


@pytest.mark.parametrize(
    "line",
    [
        json.dumps(
            {
                "ts": "2026-01-01T00:00:00Z",
                "level": "INFO",
                "service": "ai_engine",
                "event": "LOG",
                "msg": LOADED,
                "extra": {},
            }
        ),
        json.dumps(
            {
                "asctime": "2026-01-01T00:00:00",
                "name": "ai_engine.calibration_loader",
                "levelname": "INFO",
                "message": LOADED,
            }
        ),
        "INFO:     " + json.dumps({"level": "INFO", "msg": LOADED}),
        f"[2026-01-01 00:00:00,1] [ai_engine.calibration_loader] [INFO] {LOADED}",
    ],
)
def test_log_text_unwraps_every_form_the_engine_logs(line: str) -> None:
    assert "\\u2705" in line or "✅" in line  # json.dumps escapes it in the raw journal line
    assert log_text(line).endswith(LOADED)


def test_log_text_leaves_plain_lines_and_stray_json_alone() -> None:
    weights = "[CalibrationLoader]    Weights: {'xgb': 0.3, 'lgbm': 0.3}"  # a dict repr is not JSON
    assert log_text(weights) == weights
    tail = 'reply was {"ready": true}'  # JSON at the end of a plain line is not a log record
    assert log_text(tail) == tail


def test_log_file_errors_in_the_window(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    log = tmp_path / "execution.log"
    log.write_text(
        "2026-11-20 10:00:00 ERROR old failure, outside the hour\n"
        "2026-11-20 11:30:00 INFO order filled\n"
        "2026-11-20 11:40:00 ERROR order rejected\n"
        "Traceback (most recent call last):\n"
        '{"ts": "2026-11-20T11:50:00Z", "level": "ERROR", "msg": "exchange timeout"}\n'
    )
    found = error_lines_since(log, now - timedelta(hours=1))
    assert [(line.number, line.when.minute if line.when else None) for line in found] == [(3, 40), (4, 40), (5, 50)]
    assert "execution.log:3 [2026-11-20T11:40:00+00:00] 2026-11-20 11:40:00 ERROR order rejected" in found[0].shown()


def test_log_lines_without_timestamps_count_when_the_file_is_recent(tmp_path: Path) -> None:
    log = tmp_path / "execution.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'price'\n")
    assert len(error_lines_since(log, datetime.now(UTC) - timedelta(hours=1))) == 2
    old = (datetime.now(UTC) - timedelta(hours=3)).timestamp()
    os.utime(log, (old, old))
    assert error_lines_since(log, datetime.now(UTC) - timedelta(hours=1)) == []


def test_a_missing_log_file_cannot_be_checked(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="does not exist"):
        error_lines_since(tmp_path / "nope.log", datetime.now(UTC))


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("operator", "until", "status", "text"),
    [
        ("ana", "2026-11-21T13:00:00+00:00", "pass", "on call until"),
        ("ana", "2026-11-21T11:00:00+00:00", "fail", "on call for 23.0 h only"),
        (None, "2026-11-22T00:00:00+00:00", "fail", "no operator attestation"),
        ("ana", None, "fail", "gave no --on-call-until"),
        ("ana", "tomorrow", "fail", "not ISO-8601"),
    ],
)
def test_operator_attestation(operator: str | None, until: str | None, status: str, text: str) -> None:
    finding = operator_finding(operator, until, NOW, 24.0)
    assert finding.status == status
    assert text in finding.message
