"""The watch report as the operator and a script read it: verdict, exit code and the JSON, in process.

Found by mutation testing (docs/mutation.md, issue 21 §5): ``WatchReport.to_dict``/``to_json`` were only
written by the CLI and the systemd tests, which run in a child process, so no fast test held the fields.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from calpolicy.watch.signals import Signal
from calpolicy.watch.verdict import EXIT_COULD_NOT_CHECK, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_ROLLBACK, WatchReport

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=24)


def signal(status: str, sid: str = "P4.2.b", value: float | None = 0.01, **evidence: object) -> Signal:
    return Signal(sid, "win-rate delta", status, value, 0.05, 120, f"{status.upper()}: words", dict(evidence))  # type: ignore[arg-type]


def report(*statuses: str) -> WatchReport:
    return WatchReport("cal_x", T0, NOW, tuple(signal(s, f"P4.2.{i}") for i, s in enumerate(statuses)), ("a", "b"))


def test_the_exit_codes_are_the_documented_ones() -> None:
    assert (EXIT_OK, EXIT_ROLLBACK, EXIT_COULD_NOT_CHECK, EXIT_INCONCLUSIVE) == (0, 1, 3, 4)


@pytest.mark.parametrize(
    ("statuses", "verdict", "code"),
    [
        (("ok", "ok"), "OK", 0),
        (("ok", "inconclusive"), "INCONCLUSIVE", 4),
        (("inconclusive", "ok"), "INCONCLUSIVE", 4),
        (("ok", "breach"), "ROLLBACK RECOMMENDED", 1),
        (("inconclusive", "breach", "ok"), "ROLLBACK RECOMMENDED", 1),
        (("breach",), "ROLLBACK RECOMMENDED", 1),
        ((), "INCONCLUSIVE", 4),  # no signal judged is never OK
    ],
)
def test_the_verdict_is_the_worst_signal_and_nothing_judged_is_inconclusive(
    statuses: tuple[str, ...], verdict: str, code: int
) -> None:
    got = report(*statuses)
    assert (got.verdict, got.exit_code) == (verdict, code)
    assert got.to_dict()["verdict"] == verdict
    assert got.to_dict()["exit_code"] == code


def test_the_findings_are_the_signals() -> None:
    got = report("ok", "breach")
    assert got.findings is got.signals


def test_to_dict_holds_every_field_of_the_contract() -> None:
    got = WatchReport("cal_x", T0, NOW, (signal("breach", evidence_key=1),), ("baseline: x", "look 96 of 96"))
    item = {
        "id": "P4.2.b",
        "name": "win-rate delta",
        "status": "breach",
        "value": 0.01,
        "threshold": 0.05,
        "n": 120,
        "message": "BREACH: words",
        "evidence": {"evidence_key": 1},
    }
    assert got.to_dict() == {
        "verdict": "ROLLBACK RECOMMENDED",
        "exit_code": 1,
        "version": "cal_x",
        "approved_at": "2026-11-20T12:00:00+00:00",
        "now": "2026-11-21T12:00:00+00:00",
        "findings": [item],
        "signals": [item],
        "notes": ["baseline: x", "look 96 of 96"],
    }
    assert list(got.to_dict()) == [
        "verdict",
        "exit_code",
        "version",
        "approved_at",
        "now",
        "findings",
        "signals",
        "notes",
    ]


def test_an_unknown_version_is_null_not_a_word() -> None:
    got = WatchReport(None, T0, NOW, ())
    assert got.to_dict()["version"] is None
    assert got.to_dict()["notes"] == []
    assert json.loads(got.to_json())["version"] is None


def test_to_json_is_the_dict_indented_by_two() -> None:
    got = report("ok", "inconclusive")
    text = got.to_json()
    assert json.loads(text) == got.to_dict()
    assert text.startswith('{\n  "verdict": "INCONCLUSIVE",\n  "exit_code": 4,\n')
    assert text == json.dumps(got.to_dict(), indent=2)


def test_to_json_writes_an_odd_evidence_value_as_text() -> None:
    got = WatchReport("v", T0, NOW, (signal("ok", when=T0),))
    assert json.loads(got.to_json())["findings"][0]["evidence"] == {"when": "2026-11-20 12:00:00+00:00"}


def test_to_json_refuses_a_non_finite_number_rather_than_write_invalid_json() -> None:
    got = WatchReport("v", T0, NOW, (signal("ok", value=math.nan),))
    with pytest.raises(ValueError):  # noqa: PT011 - json's own words are not ours to pin (STYLE)
        got.to_json()
