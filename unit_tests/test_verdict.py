"""Verdicts: GO only when something ran and all of it passed; "could not check" is a STOP with its own code."""

from __future__ import annotations

import json

import pytest

from calpolicy.verdict import (
    EXIT_COULD_NOT_CHECK,
    EXIT_GO,
    EXIT_STOP,
    EXIT_USAGE,
    Finding,
    Verdict,
    format_lines,
    line_evidence,
)


def _v(*statuses: str) -> Verdict:
    return Verdict(tuple(Finding(f"S.{i}", s, f"m{i}") for i, s in enumerate(statuses)))  # type: ignore[arg-type]


def test_exit_codes_are_the_documented_ones() -> None:
    assert (EXIT_GO, EXIT_STOP, EXIT_USAGE, EXIT_COULD_NOT_CHECK) == (0, 1, 2, 3)


@pytest.mark.parametrize(
    ("statuses", "go", "code"),
    [
        ((), False, EXIT_COULD_NOT_CHECK),  # nothing checked is never GO
        (("pass",), True, EXIT_GO),
        (("pass", "waived"), True, EXIT_GO),
        (("waived",), True, EXIT_GO),
        (("pass", "error"), False, EXIT_COULD_NOT_CHECK),
        (("pass", "fail"), False, EXIT_STOP),
        (("error", "fail"), False, EXIT_STOP),  # a known failure outranks "could not check"
        (("fail",), False, EXIT_STOP),
    ],
)
def test_go_and_exit_code(statuses: tuple[str, ...], go: bool, code: int) -> None:
    verdict = _v(*statuses)
    assert verdict.go is go
    assert verdict.exit_code == code


def test_failures_by_id_and_addition() -> None:
    verdict = _v("pass", "fail", "error", "waived")
    assert [f.id for f in verdict.failures] == ["S.1", "S.2"]
    assert [f.message for f in verdict.by_id("S.2")] == ["m2"]
    assert verdict.by_id("S.9") == ()
    both = _v("pass") + Verdict((Finding("P0.2.a", "fail", "gone"),))
    assert [f.id for f in both.findings] == ["S.0", "P0.2.a"]


def test_json_shape_is_the_contract() -> None:
    verdict = Verdict((Finding("S.a", "fail", "few", {"n": 3}), Finding("S.b", "pass", "calm")))
    assert json.loads(verdict.to_json()) == {
        "verdict": "STOP",
        "exit_code": 1,
        "findings": [
            {"id": "S.a", "status": "fail", "message": "few", "evidence": {"n": 3}},
            {"id": "S.b", "status": "pass", "message": "calm", "evidence": {}},
        ],
    }
    assert json.loads(_v("pass").to_json())["verdict"] == "GO"
    assert verdict.to_json().startswith('{\n  "verdict"')  # indented for a person reading it


def test_json_refuses_nan_rather_than_writing_non_standard_json() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        Verdict((Finding("S.a", "pass", "x", {"v": float("nan")}),)).to_json()


def test_line_evidence_is_capped_and_says_so() -> None:
    assert line_evidence([3, 7, 9], cap=2) == {"lines": [3, 7], "count": 3, "truncated": True}
    assert line_evidence([3, 7], cap=2) == {"lines": [3, 7], "count": 2, "truncated": False}
    assert line_evidence([], cap=2) == {"lines": [], "count": 0, "truncated": False}


@pytest.mark.parametrize(
    ("evidence", "text"),
    [
        ({"lines": [4], "count": 1, "truncated": False}, "line 4"),
        ({"lines": [3, 7], "count": 2, "truncated": False}, "lines 3, 7"),
        ({"lines": [3, 7], "count": 1204, "truncated": True}, "lines 3, 7, … (1204 in all)"),
    ],
)
def test_format_lines(evidence: dict[str, object], text: str) -> None:
    assert format_lines(evidence) == text


def test_json_writes_paths_and_instants_in_evidence_as_text() -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    evidence = {"path": Path("/data/clm.jsonl"), "at": datetime(2026, 11, 20, tzinfo=UTC)}
    (finding,) = json.loads(Verdict((Finding("P0.2.a", "pass", "ok", evidence),)).to_json())["findings"]
    assert finding["evidence"] == {"path": "/data/clm.jsonl", "at": "2026-11-20 00:00:00+00:00"}
