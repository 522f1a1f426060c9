"""Verdicts: GO only when something ran and all of it passed; "could not check" is a STOP with its own code."""

from __future__ import annotations

import json

import pytest

from calpolicy.vocabulary.verdict import (
    EXIT_COULD_NOT_CHECK,
    EXIT_GO,
    EXIT_STOP,
    EXIT_USAGE,
    Finding,
    ItemCounts,
    Verdict,
    describe,
    format_evidence,
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


# ------------------------------------------------------------------- items: one status each, counted apart


def _one_item(*statuses: str) -> Verdict:
    return Verdict(tuple(Finding("S.a", s, f"m{i}") for i, s in enumerate(statuses)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("worse", "better"),
    [("fail", "error"), ("fail", "pass"), ("fail", "waived"), ("error", "pass"), ("error", "waived"),
     ("waived", "pass")],  # a waiver outranks a pass: an item that passed only in part under a waiver says so
)  # fmt: skip
def test_an_items_status_is_its_worst_findings_in_either_order(worse: str, better: str) -> None:
    assert _one_item(worse, better).item_statuses() == {"S.a": worse}
    assert _one_item(better, worse).item_statuses() == {"S.a": worse}
    assert _one_item(better, better, worse, better).item_statuses() == {"S.a": worse}


def test_a_status_outside_the_four_ranks_as_a_failure_and_the_first_seen_of_equals_is_kept() -> None:
    """No finding a gate did not expect can be hidden by a later pass (or error)."""
    assert _one_item("pass", "bogus").item_statuses() == {"S.a": "bogus"}
    assert _one_item("bogus", "error", "pass").item_statuses() == {"S.a": "bogus"}
    assert _one_item("fail", "bogus").item_statuses() == {"S.a": "fail"}
    assert _one_item("bogus", "fail").item_statuses() == {"S.a": "bogus"}


def test_item_statuses_keep_the_first_seen_order_of_items() -> None:
    verdict = Verdict((
        Finding("S.c", "pass", "x"), Finding("S.a", "fail", "y"), Finding("S.c", "error", "z"),
        Finding("S.b", "waived", "w"),
    ))  # fmt: skip
    assert list(verdict.item_statuses().items()) == [("S.c", "error"), ("S.a", "fail"), ("S.b", "waived")]


def test_counts_keep_failed_could_not_check_and_passed_apart_and_count_each_item_once() -> None:
    verdict = Verdict((
        Finding("S.f", "fail", "a"), Finding("S.f", "fail", "b"), Finding("S.f", "pass", "c"),
        Finding("S.e", "error", "d"), Finding("S.e", "pass", "e"),
        Finding("S.p", "pass", "f"), Finding("S.p", "pass", "g"),
        Finding("S.w", "waived", "h"),
        Finding("S.g", "error", "i"),
    ))  # fmt: skip
    counts = verdict.counts()
    assert counts == ItemCounts(failed=("S.f",), could_not_check=("S.e", "S.g"), passed=("S.p", "S.w"))
    assert counts.total == 5
    assert Verdict(()).counts() == ItemCounts((), (), ())
    assert Verdict(()).counts().total == 0


@pytest.mark.parametrize("status", ["fail", "error", "pass", "waived"])
def test_each_status_alone_lands_in_exactly_one_count(status: str) -> None:
    counts = _one_item(status).counts()
    where = {"fail": counts.failed, "error": counts.could_not_check, "pass": counts.passed, "waived": counts.passed}
    assert where[status] == ("S.a",)
    assert counts.total == 1
    assert len(counts.failed) + len(counts.could_not_check) + len(counts.passed) == 1


def test_an_item_with_a_status_outside_the_four_is_counted_as_failed_not_lost() -> None:
    """It ranks as a failure and makes the verdict STOP; the headline's counts must say so too, or a STOP
    would read "0 failed, 0 could not be checked"."""
    verdict = Verdict((Finding("S.a", "bogus", "x"), Finding("S.b", "pass", "y")))  # type: ignore[arg-type]
    assert verdict.counts() == ItemCounts(failed=("S.a",), could_not_check=(), passed=("S.b",))
    assert not verdict.go


# ------------------------------------------------------------------------------- line lists in messages


def test_no_line_numbers_or_a_line_count_in_place_of_numbers_is_no_location() -> None:
    assert format_lines({"lines": [], "count": 0, "truncated": False}) == ""
    assert format_lines({"lines": 30}) == ""  # a count, not a location
    assert format_lines({}) == ""
    assert describe(Finding("P0.2.b", "fail", "30 trades", {"lines": 30})) == "P0.2.b FAIL: 30 trades"
    assert describe(Finding("S.a", "fail", "none", {"lines": [], "count": 0, "truncated": False})) == "S.a FAIL: none"


def test_describe_does_not_repeat_lines_the_message_already_names() -> None:
    evidence = {"lines": [3, 9], "count": 2, "truncated": False}
    assert describe(Finding("P0.2.e", "fail", "pnl is 0.0 on lines 3, 9", evidence)) == (
        "P0.2.e FAIL: pnl is 0.0 on lines 3, 9"
    )
    assert describe(Finding("P0.2.e", "error", "pnl is 0.0", evidence)) == "P0.2.e ERROR: pnl is 0.0 (lines 3, 9)"


# ------------------------------------------------------------------------------- evidence as one line


def test_format_evidence_leaves_out_the_line_keys_only_when_lines_is_a_list() -> None:
    evidence = {"lines": [3], "count": 1, "truncated": False, "column": "pnl", "n": 3}
    assert format_evidence(evidence) == "column pnl; n 3"
    assert format_evidence({"lines": (3, 4), "count": 2, "truncated": False}) == ""
    assert format_evidence({"lines": 30, "count": 30, "truncated": False}) == "lines 30; count 30; truncated false"
    assert format_evidence({}) == ""


def test_format_evidence_writes_text_as_is_and_anything_else_as_json() -> None:
    from pathlib import Path

    evidence = {"path": "/d/clm.jsonl", "ids": ["S.a", "é"], "at": Path("/x"), "none": None, "v": 0.5}
    assert format_evidence(evidence) == 'path /d/clm.jsonl; ids ["S.a", "é"]; at "/x"; none null; v 0.5'


def test_format_evidence_cuts_each_value_at_its_width_with_an_ellipsis() -> None:
    assert format_evidence({"k": "a" * 10}, width=10) == "k " + "a" * 10
    assert format_evidence({"k": "a" * 11}, width=10) == "k " + "a" * 9 + "…"
    assert format_evidence({"k": ["ab", "cd"]}, width=8) == 'k ["ab", …'
    assert format_evidence({"k": "b" * 100}) == "k " + "b" * 100  # the default width is 100
    assert format_evidence({"k": "b" * 101}) == "k " + "b" * 99 + "…"


def test_format_evidence_shows_at_most_eight_values_and_counts_the_rest() -> None:
    eight = {f"k{n}": n for n in range(8)}
    assert format_evidence(eight) == "; ".join(f"k{n} {n}" for n in range(8))
    ten = {f"k{n}": n for n in range(10)}
    assert format_evidence(ten) == "; ".join(f"k{n} {n}" for n in range(8)) + "; … (2 more)"
    assert format_evidence(ten, max_items=3) == "k0 0; k1 1; k2 2; … (7 more)"
