"""The gate's last line of defence, on made-up inputs: ``enforce`` and ``preflight.build_verdict``.

Both must fail closed: no finding, a skipped test, a missing item or an empty run is never a pass.
"""

from __future__ import annotations

import pytest

from calpolicy.plugin import CouldNotCheck, enforce
from calpolicy.preflight import PREFLIGHT_IDS, RUN_ID, build_verdict
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK, EXIT_GO, EXIT_STOP, Finding, PolicyFailure, Verdict

FAILED = PolicyFailure  # a policy failure: checklist-shaped, no traceback (not "could not check")


def _verdict(*findings: tuple[str, str, str]) -> Verdict:
    return Verdict(tuple(Finding(cid, status, message) for cid, status, message in findings))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ enforce


def test_enforce_without_a_finding_for_the_item_is_could_not_check() -> None:
    verdict = _verdict(("S.a", "pass", "fine"))
    with pytest.raises(CouldNotCheck, match=r"^S\.b: no check produced a result for this item$"):
        enforce(verdict, "S.b")
    with pytest.raises(CouldNotCheck):
        enforce(Verdict(()), "S.a")


def test_enforce_returns_the_items_passing_findings() -> None:
    verdict = _verdict(("S.a", "pass", "one"), ("S.b", "fail", "other item"), ("S.a", "waived", "two"))
    assert [f.message for f in enforce(verdict, "S.a")] == ["one", "two"]


def test_enforce_fails_on_a_failed_finding_and_names_every_problem() -> None:
    verdict = _verdict(("S.a", "pass", "ok"), ("S.a", "fail", "too few"), ("S.a", "error", "unreadable"))
    with pytest.raises(FAILED) as caught:
        enforce(verdict, "S.a")
    assert not isinstance(caught.value, CouldNotCheck)  # a failure, not "could not check"
    assert str(caught.value) == "S.a FAIL: too few\nS.a ERROR: unreadable"


def test_enforce_reports_an_error_finding_as_could_not_check() -> None:
    verdict = _verdict(("S.a", "pass", "ok"), ("S.a", "error", "probe refused"), ("S.a", "error", "again"))
    with pytest.raises(CouldNotCheck) as caught:
        enforce(verdict, "S.a")
    assert str(caught.value) == "S.a ERROR: probe refused\nS.a ERROR: again"
    assert caught.value.findings == verdict.findings[1:]  # the evidence travels with it, for the report


def test_enforce_message_carries_the_offending_lines() -> None:
    finding = Finding("P0.2.e", "fail", "pnl is 0.0", {"lines": [3, 9], "count": 2, "truncated": False})
    with pytest.raises(FAILED, match=r"^P0\.2\.e FAIL: pnl is 0\.0 \(lines 3, 9\)$"):
        enforce(Verdict((finding,)), "P0.2.e")


# ------------------------------------------------------------------------------------------ build_verdict


def _rows(status: str = "pass", skip: tuple[str, ...] = ()) -> list[dict[str, object]]:
    return [
        {"nodeid": f"policy_tests/t.py::test[{cid}]", "controls": [cid], "status": status, "when": "call",
         "message": "", "duration_s": 0.01}
        for cid in PREFLIGHT_IDS
        if cid not in skip
    ]  # fmt: skip


def test_every_item_passing_is_go() -> None:
    verdict = build_verdict(_rows(), 0)
    assert verdict.go
    assert verdict.exit_code == EXIT_GO
    assert {f.id for f in verdict.findings} == set(PREFLIGHT_IDS)
    assert verdict.by_id("S.a")[0].message == "passed (policy_tests/t.py::test[S.a])"


def test_no_rows_is_could_not_check() -> None:
    for returncode, why in ((5, "exited with status 5"), (None, "timed out")):
        verdict = build_verdict([], returncode, "boom")
        assert not verdict.go
        assert verdict.exit_code == EXIT_COULD_NOT_CHECK
        (finding,) = verdict.findings
        assert (finding.id, finding.status) == (RUN_ID, "error")
        assert finding.message == f"the preflight ran no test (pytest {why}): boom"


@pytest.mark.parametrize("missing", ["P0.1.a", "S.f", "CLM.models"])
def test_a_missing_item_is_could_not_check(missing: str) -> None:
    verdict = build_verdict(_rows(skip=(missing,)), 0)
    assert not verdict.go
    assert verdict.exit_code == EXIT_COULD_NOT_CHECK
    assert [(f.status, f.message) for f in verdict.by_id(missing)] == [("error", "no preflight test ran for this item")]
    assert len(verdict.failures) == 1


def test_a_skipped_test_is_a_failure_not_a_pass() -> None:
    rows = _rows()
    rows[0] = {**rows[0], "status": "skip", "message": "Skipped: redis not installed"}
    verdict = build_verdict(rows, 0)
    (finding,) = verdict.by_id(str(rows[0]["controls"][0]))  # type: ignore[index]
    assert finding.status == "fail"
    assert finding.message == "the check was skipped, and a skipped check is not a pass: Skipped: redis not installed"
    assert verdict.exit_code == EXIT_STOP


def test_an_unknown_status_is_a_failure() -> None:
    rows = _rows()
    rows[1] = {**rows[1], "status": "xpassed", "message": "odd"}
    assert build_verdict(rows, 1).by_id(str(rows[1]["controls"][0]))[0].status == "fail"  # type: ignore[index]


def test_failure_and_error_messages_lose_pytests_prefixes() -> None:
    rows = _rows()
    rows[0] = {**rows[0], "status": "fail", "message": f"Failed: {rows[0]['controls'][0]} FAIL: 3 trades"}  # type: ignore[index]
    rows[1] = {**rows[1], "status": "error", "message": "calpolicy.plugin.CouldNotCheck: could not check Redis"}
    rows[2] = {**rows[2], "status": "fail", "message": "   "}
    verdict = build_verdict(rows, 1)
    messages = [f.message for f in verdict.findings[:3]]
    assert messages == ["3 trades", "could not check Redis", "(no message)"]
    assert [f.status for f in verdict.findings[:3]] == ["fail", "error", "fail"]
    assert verdict.findings[0].evidence == {"test": rows[0]["nodeid"], "phase": "call", "duration_s": 0.01}


def test_an_abnormal_pytest_exit_is_could_not_check_even_if_every_row_passed() -> None:
    for returncode in (2, 3, 4, None):
        verdict = build_verdict(_rows(), returncode, "internal error")
        (run,) = verdict.by_id(RUN_ID)
        assert run.status == "error"
        assert run.evidence == {"returncode": returncode}
        assert "internal error" in run.message
    assert build_verdict(_rows(), 1).go  # exit 1 with every row passing cannot happen, but rows decide


def test_a_row_without_control_ids_is_named_as_such() -> None:
    rows = [*_rows(), {"nodeid": "x", "controls": [], "status": "fail", "message": "collection error"}]
    verdict = build_verdict(rows, 1)
    assert [f.status for f in verdict.by_id("(no control ID)")] == ["fail"]


def test_the_run_finding_quotes_the_last_800_characters_of_pytests_output() -> None:
    tail = "a" * 200 + "b" * 800
    (nothing,) = build_verdict([], 5, tail).findings
    assert nothing.message == "the preflight ran no test (pytest exited with status 5): " + "b" * 800
    assert nothing.evidence == {}
    (abnormal,) = build_verdict(_rows(), 2, tail).by_id(RUN_ID)
    assert abnormal.message == "the preflight run did not complete normally (pytest exit 2): " + "b" * 800
    assert build_verdict([], 4).findings[0].message == "the preflight ran no test (pytest exited with status 4): "


def test_missing_items_and_missing_messages_are_stated_plainly() -> None:
    verdict = build_verdict(_rows(skip=("S.b",)), 0)
    assert verdict.by_id("S.b")[0].evidence == {}
    rows = _rows()
    rows[0] = {**rows[0], "status": "fail", "message": None}
    assert build_verdict(rows, 1).findings[0].message == "(no message)"


def test_a_passing_item_reads_as_what_its_checks_verified_and_only_its_own_words() -> None:
    rows = _rows()
    for row in rows:
        if row["controls"] == ["S.a"]:
            row["controls"] = ["S.a", "P0.2.b"]  # one test enforcing two items, as the cadence test does
            row["passed"] = [["S.a", "60 trades over 4.0 days"], ["S.a", "span ok"], ["P0.2.b", "60 trades"]]
        if row["controls"] == ["S.f"]:
            row["passed"] = [["S.f"], "not a pair", ["S.f", "last trade 0.1 h ago", "extra"]]  # malformed
    verdict = build_verdict(rows, 0)
    assert verdict.go
    assert [f.message for f in verdict.by_id("S.a")] == ["60 trades over 4.0 days; span ok"]
    assert "60 trades" in [f.message for f in verdict.by_id("P0.2.b")]
    assert verdict.by_id("S.f")[0].message == "passed (policy_tests/t.py::test[S.f])"


def test_a_waived_row_keeps_the_waivers_words_and_names_its_test() -> None:
    rows = _rows()
    said = "waived by ana until 2026-12-01: feed known to lag"
    rows[0] = {**rows[0], "status": "waived", "message": said}
    rows[1] = {**rows[1], "status": "waived", "message": ""}
    verdict = build_verdict(rows, 0)
    assert verdict.go
    first, second = verdict.findings[:2]
    assert (first.status, first.message) == ("waived", f"{said} ({rows[0]['nodeid']})")
    assert (second.status, second.message) == ("waived", f"passed only under a waiver ({rows[1]['nodeid']})")


@pytest.mark.parametrize(
    ("returncode", "why"),
    [(-9, "was killed by SIGKILL"), (-15, "was killed by SIGTERM"), (-200, "was killed by signal 200"),
     (0, "exited with status 0")],
)  # fmt: skip
def test_a_run_with_no_rows_says_how_pytest_ended(returncode: int, why: str) -> None:
    (finding,) = build_verdict([], returncode, "tail").findings
    assert finding == Finding(RUN_ID, "error", f"the preflight ran no test (pytest {why}): tail", {})
    assert build_verdict([], returncode).exit_code == EXIT_COULD_NOT_CHECK


def test_a_child_killed_after_reporting_keeps_its_findings_and_adds_one_could_not_check() -> None:
    tail = "a" * 200 + "b" * 800
    verdict = build_verdict(_rows(), -15, tail)
    assert not verdict.go
    assert verdict.exit_code == EXIT_COULD_NOT_CHECK
    assert verdict.by_id(RUN_ID) == (
        Finding(
            RUN_ID,
            "error",
            "the preflight child was killed by SIGTERM before it finished; the findings above are the ones it "
            "reported before dying: " + "b" * 800,
            {"returncode": -15},
        ),
    )
    assert len(verdict.findings) == len(PREFLIGHT_IDS) + 1
    assert {f.status for f in verdict.findings if f.id != RUN_ID} == {"pass"}
    (unknown,) = build_verdict(_rows(), -200, "").by_id(RUN_ID)
    assert unknown.message.startswith("the preflight child was killed by signal 200 before it finished")
