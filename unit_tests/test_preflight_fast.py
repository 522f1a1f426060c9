"""``calpolicy.preflight`` without a systemd: the child's command line, its results file, the screen text,
and a real run against a host where nothing answers (every live item "could not check")."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calpolicy.preflight import (
    PREFLIGHT_DIRS,
    PREFLIGHT_IDS,
    RUN_ID,
    PreflightRun,
    build_verdict,
    partial_output,
    policy_dir,
    pytest_argv,
    read_rows,
    render,
    run_preflight,
)
from calpolicy.vocabulary.verdict import Finding, Verdict
from unit_tests.adversaries import RawHTTPServer, http_response
from unit_tests.conftest import NOW
from unit_tests.test_registry import _dead_config


def test_the_child_runs_only_the_preflight_folders_with_only_our_plugin(tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    argv = pytest_argv(results)
    assert argv[:3] == [sys.executable, "-m", "pytest"]
    assert argv[3:5] == [str(policy_dir() / d) for d in PREFLIGHT_DIRS] == [
        str(policy_dir() / "phase0"), str(policy_dir() / "stop_signals"),
    ]  # fmt: skip
    assert argv[5:] == [
        "-m", "preflight", "-p", "calpolicy.plugin", "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
        "--calpolicy-results", str(results),
    ]  # fmt: skip


def test_every_option_given_is_passed_on_and_none_other(tmp_path: Path) -> None:
    argv = pytest_argv(
        tmp_path / "r.jsonl", Path("/etc/c.toml"), "ana", "2026-11-21T12:00:00Z", "/d/clm.jsonl", "2026-11-20",
        extra=("-x",),
    )  # fmt: skip
    assert argv[-11:] == [
        "--calpolicy-config", "/etc/c.toml", "--operator", "ana", "--on-call-until", "2026-11-21T12:00:00Z",
        "--clm", "/d/clm.jsonl", "--calpolicy-now", "2026-11-20", "-x",
    ]  # fmt: skip
    assert "--operator" not in pytest_argv(tmp_path / "r.jsonl", clm="/d/clm.jsonl")


def test_read_rows_skips_blank_lines_and_a_missing_file_is_no_rows(tmp_path: Path) -> None:
    assert read_rows(tmp_path / "absent.jsonl") == []
    path = tmp_path / "r.jsonl"
    path.write_text('{"controls": ["S.a"], "status": "pass"}\n\n  \n{"controls": ["S.b"], "status": "fail"}\n')
    assert [row["controls"] for row in read_rows(path)] == [["S.a"], ["S.b"]]


def _run(findings: list[Finding]) -> PreflightRun:
    return PreflightRun(Verdict(tuple(findings)), [], 1, 2.25, "")


def test_a_go_screen_is_one_headline_and_one_line_of_items() -> None:
    text = render(_run([Finding("S.b", "pass", "calm"), Finding("S.a", "pass", "x"), Finding("S.a", "pass", "y")]))
    assert text == ("GO — preflight (Phase 0 + absolute stop signals) in 2.2 s: all 2 items passed\n  PASS  S.a, S.b")


def test_a_stop_screen_trims_long_messages_and_names_the_test() -> None:
    long = "\n".join(f"line {n}" for n in range(10))
    text = render(_run([
        Finding("S.c", "fail", long, {"test": "policy_tests/stop_signals/t.py::test_c"}),
        Finding("S.a", "pass", "fine", {"test": "policy_tests/x.py::test_a"}),
    ]), max_lines_per_item=3)  # fmt: skip
    lines = text.splitlines()
    assert lines[0].startswith("STOP — preflight (Phase 0 + absolute stop signals) in 2.2 s: 1 of 2 items failed (S.c)")
    assert lines[1].endswith("line 0")
    assert [line.strip() for line in lines[2:]] == [
        "line 1", "line 2", "… (7 more lines)", "[policy_tests/stop_signals/t.py::test_c]",
    ]  # fmt: skip
    assert "fine" not in text
    assert "test_a" not in text


def test_a_short_failure_is_not_trimmed() -> None:
    text = render(_run([Finding("S.c", "error", "a\nb", {})]), max_lines_per_item=2)
    assert "more lines" not in text
    assert text.splitlines()[1:] == ["  ERROR S.c                      a", "      b"]


def test_a_real_run_on_a_host_where_nothing_answers_stops_with_every_item(
    healthy_records: list[dict[str, Any]],
    write_log: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every option reaches the child: the config (its dead Redis URL), the log, the instant, the operator,
    extra pytest arguments and the environment given (not ours); a results file named in our own environment
    is not written to; and the run says which CLM bytes the data checks judged."""
    parents_results = tmp_path / "parent-results.jsonl"
    monkeypatch.setenv("CALPOLICY_RESULTS", str(parents_results))
    log = write_log(healthy_records)
    environ = {**os.environ, "CALPOLICY_CADENCE__MIN_TRADES": "1000000"}  # only the child's environment has it
    run = run_preflight(
        config_path=_dead_config(tmp_path), clm=str(log), now=NOW.isoformat(), operator="ana",
        on_call_until="2099-01-01T00:00:00+00:00", extra=("-k", "not test_unit_is_active"), environ=environ,
    )  # fmt: skip
    assert run.returncode == 1
    assert not run.verdict.go
    assert {f.id for f in run.verdict.findings} == set(PREFLIGHT_IDS)
    assert run.verdict.by_id("CLM.parse")[0].status == "pass"
    assert "S.f" in {f.id for f in run.verdict.findings if f.status == "pass"}  # judged at NOW: not starved
    (halt,) = run.verdict.by_id("S.e")
    assert (halt.status, "redis://127.0.0.1:1/0" in halt.message) == ("error", True)
    assert run.verdict.by_id("S.d")[0].status == "pass"  # the operator reached the child
    (cadence,) = run.verdict.by_id("P0.2.b")
    assert (cadence.status, "1000000" in cadence.message) == ("fail", True), cadence  # the environment did
    data = log.read_bytes()
    assert run.clm == {
        "path": str(log.resolve()), "bytes": len(data), "lines": data.count(b"\n"),
        "sha256": hashlib.sha256(data).hexdigest(),
    }  # fmt: skip
    for unit_item in ("P0.1.a", "P0.1.b", "P0.1.c", "P0.1.d"):  # deselected by the extra -k
        assert [f.message for f in run.verdict.by_id(unit_item)] == ["no preflight test ran for this item"]
    assert run.rows
    assert 0 < run.duration_s < 600
    tail = run.output_tail.splitlines()
    assert len(tail) == 15  # the failures print far more; only the last 15 lines are kept
    assert all(re.match(r"  (PASS|FAIL|ERROR|WAIVED) ", line) for line in tail), tail  # the run ends item by item
    assert run.verdict == build_verdict(run.rows, run.returncode, run.output_tail)
    assert not parents_results.exists()


def test_a_run_past_its_deadline_is_could_not_check(tmp_path: Path) -> None:
    run = run_preflight(config_path=_dead_config(tmp_path), clm=str(tmp_path / "none.jsonl"), timeout_s=0.05)
    assert run.returncode is None
    (finding,) = run.verdict.findings
    assert (finding.id, finding.status) == (RUN_ID, "error")
    assert finding.message.startswith("the preflight ran no test (pytest timed out): the preflight suite did not")
    assert json.loads(run.verdict.to_json())["exit_code"] == 3


def test_render_trims_at_six_lines_by_default_and_keeps_an_empty_message_empty() -> None:
    eight = "\n".join(f"l{n}" for n in range(8))
    text = render(_run([Finding("S.c", "fail", eight, {}), Finding("S.e", "fail", "", {})]))
    assert "… (2 more lines)" in text
    assert "l5" in text
    assert "l6" not in text
    assert "  FAIL  S.e" in [line.rstrip() for line in text.splitlines()]


def test_render_names_the_test_behind_an_error_too() -> None:
    text = render(_run([Finding("S.e", "error", "redis refused", {"test": "policy_tests/stop_signals/h.py::t"})]))
    assert text.splitlines()[-1].strip() == "[policy_tests/stop_signals/h.py::t]"


def test_a_killed_childs_partial_output_is_kept_and_a_character_cut_by_the_kill_is_replaced() -> None:
    """What the child wrote before its deadline decorates the "did not finish" message; ``subprocess`` hands
    it over as raw bytes, and a kill can cut a UTF-8 character in half — that must not crash the gate."""
    cut = "tempê".encode()[:-1]  # "ê" is two bytes; the kill kept only the first
    assert partial_output(b"collected 9 items\n..F " + cut) == "collected 9 items\n..F temp\ufffd"
    assert partial_output("déjà".encode()) == "déjà"


def test_a_child_killed_before_it_wrote_anything_leaves_no_partial_output() -> None:
    assert partial_output(None) == ""
    assert partial_output(b"") == ""


def test_a_go_screen_still_shows_each_waiver_in_full_even_the_first_line() -> None:
    text = render(_run([Finding("S.a", "waived", "waived by ana: feed lags (t::a)"), Finding("S.b", "pass", "calm")]))
    assert text.splitlines() == [
        "GO — preflight (Phase 0 + absolute stop signals) in 2.2 s: all 2 items passed (1 only under a waiver: S.a)",
        "  PASS  S.b",
        "  WAIVED S.a                      waived by ana: feed lags (t::a)",
    ]


def test_verbose_lists_what_each_passing_item_verified_on_a_stop_screen_too() -> None:
    findings = [Finding("S.c", "fail", "too few", {}), Finding("S.a", "pass", "60 trades over 4.0 days", {})]
    assert render(_run(findings), verbose=True).splitlines()[1:] == [
        "  FAIL  S.c                      too few",
        "  PASS  S.a                      60 trades over 4.0 days",
    ]
    assert "60 trades" not in render(_run(findings))


@pytest.mark.parametrize("timeout_s", [0, -1.0, float("inf"), float("nan")])
def test_a_deadline_that_is_not_a_positive_number_of_seconds_is_refused_before_anything_runs(
    timeout_s: float, tmp_path: Path
) -> None:
    said = f"the preflight timeout must be a positive number of seconds, got {timeout_s!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(said)}$"):
        run_preflight(config_path=_dead_config(tmp_path), timeout_s=timeout_s)


def _trickling_readiness_config(tmp_path: Path, url: str) -> Path:
    """Every live target dead except readiness, which trickles one byte a second under a far probe deadline:
    only the per-test timeout stops it."""
    path = _dead_config(tmp_path)
    text = path.read_text().replace(
        'url = "http://127.0.0.1:1/api/learning/readiness/simple"\nretries = 0\ndeadline_s = 1\n',
        f'url = "{url}"\nretries = 0\ndeadline_s = 300\nread_timeout_s = 60\nconnect_timeout_s = 5\n',
    )
    path.write_text(text)
    return path


def test_each_test_gets_a_third_of_the_deadline_when_no_per_test_timeout_is_given(tmp_path: Path) -> None:
    # 36 s, not less: the child pytest's own start-up counts against the whole deadline, and on a loaded
    # machine it took most of a 12 s one (the run was then stopped as a whole before the per-test timeout)
    with RawHTTPServer(http_response(b'{"ready": true, "actions": ["calibration"]}'), byte_delay_s=1.0) as slow:
        run = run_preflight(config_path=_trickling_readiness_config(tmp_path, slow.url), timeout_s=36)
    assert run.returncode == 1, run.output_tail
    for item in ("P0.3.a", "P0.3.b", "P0.3.c"):
        (finding,) = run.verdict.by_id(item)
        assert finding.status == "error"
        assert "within the per-test timeout of 12 s and was stopped" in finding.message, finding.message


def test_a_child_still_hung_at_the_deadline_is_stopped_and_what_it_wrote_says_where(tmp_path: Path) -> None:
    """The per-test timeout given (30 s) is the child's, not a third of the deadline (2.7 s, which would let the
    run finish): the parent's deadline stops it, and the child's unbuffered output names the file it hung in."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with RawHTTPServer(http_response(b'{"ready": true, "actions": ["calibration"]}'), byte_delay_s=1.0) as slow:
        run = run_preflight(
            config_path=_trickling_readiness_config(tmp_path, slow.url), timeout_s=8, test_timeout_s=30,
            extra=("-v",), environ=environ,
        )  # fmt: skip
    assert run.returncode is None
    (finding,) = run.verdict.findings
    said = "the preflight ran no test (pytest timed out): the preflight suite did not finish within 8 s and was "
    said += "stopped. "
    assert finding.message.startswith(said), finding.message
    assert "policy_tests/phase0/test_cadence_gate.py" in finding.message[len(said) :]
