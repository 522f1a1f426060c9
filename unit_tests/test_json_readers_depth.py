"""Readers that let a parse error other than ``JSONDecodeError`` out: each now refuses with its own error.

Before ``parse_json``, each of these caught only what it expected of ``json.loads`` and ended in a
traceback on a body nested 100,000 deep (``RecursionError``), an integer of 5,000 digits or bytes that
are not UTF-8 (a ``ValueError`` that is no ``JSONDecodeError``), or a line nested just under the
parser's reach, which ``json.loads`` returns and the next ``json.dumps`` cannot follow.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from calpolicy.jobs import GENESIS, JobError, read_decisions
from calpolicy.localenv.session import PID_FILE, LocalenvError, read_pid_file
from calpolicy.lockdown.sandbox import run_sandboxed
from calpolicy.plugin.controls_table import TraceError, read_results
from calpolicy.preflight import CLM_JUDGED_SUFFIX, _read_judged
from calpolicy.review.html_report import job_metadata, summary_html

DEEP = "[" * 100_000 + "]" * 100_000
LONG_INT = '{"n": ' + "9" * 5000 + "}"


def test_a_decisions_line_nested_just_under_the_parsers_reach_is_an_alteration(tmp_path: Path) -> None:
    """Was: RecursionError from the digest's json.dumps, for the depths json.loads still read."""
    log = tmp_path / "decisions.jsonl"
    limit = sys.getrecursionlimit()
    for depth in range(limit - 150, limit + 1):
        deep = "[" * depth + "]" * depth
        log.write_text(f'{{"prev": "{GENESIS}", "sha256": "0", "x": {deep}}}\n', encoding="utf-8")
        with pytest.raises(JobError, match="altered at line 1"):
            read_decisions(log)


@pytest.mark.parametrize("body", [LONG_INT.encode(), b'{"a": "\xff"}'], ids=["5000-digit-int", "not-utf8"])
def test_an_unreadable_judged_clm_record_is_none(tmp_path: Path, body: bytes) -> None:
    """Was: ValueError / UnicodeDecodeError traceback from the preflight (it caught JSONDecodeError only)."""
    results = tmp_path / "results.jsonl"
    Path(str(results) + CLM_JUDGED_SUFFIX).write_bytes(body)
    assert _read_judged(results) is None


def test_a_manifest_nested_past_parsing_is_shown_unreadable_in_the_html_report(tmp_path: Path) -> None:
    """Was: RecursionError from the HTML report's environment table and summary."""
    (tmp_path / "manifest.json").write_text(DEEP, encoding="utf-8")
    (tmp_path / "report.json").write_text(DEEP, encoding="utf-8")
    assert job_metadata(tmp_path)["Job manifest"].startswith("UNREADABLE: nested more than")
    assert "DO NOT APPLY — the job has no readable report" in summary_html(tmp_path)[0]


def test_a_results_line_nested_past_parsing_is_a_trace_error(tmp_path: Path) -> None:
    """Was: RecursionError from ``calpolicy controls`` reading a results file."""
    results = tmp_path / "results.jsonl"
    results.write_text('{"ids": ["P0.1"], "status": "passed"}\n' + DEEP + "\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"results\.jsonl:2: not a JSON object: nested more than"):
        read_results(results)


def test_a_pid_file_nested_past_parsing_is_a_localenv_error(tmp_path: Path) -> None:
    """Was: RecursionError from ``calpolicy localenv`` reading its pid file."""
    (tmp_path / PID_FILE).write_text(DEEP, encoding="utf-8")
    with pytest.raises(LocalenvError, match="is unreadable"):
        read_pid_file(tmp_path)


@pytest.mark.parametrize(
    "line",  # each under a pipe's 64 KiB: the parent reads the pipe once the child has ended
    ["[" * 20_000 + "]" * 20_000, LONG_INT, "[1, 2]", '"done"'],
    ids=["nested-20000", "5000-digit-int", "a-list", "a-string"],
)
def test_a_result_line_the_task_forged_is_no_result(tmp_path: Path, line: str) -> None:
    """Was: RecursionError / ValueError (the parent caught JSONDecodeError only) or AttributeError (a
    list has no .get) from ``run_sandboxed``, so ``calpolicy run`` ended in a traceback."""
    result = run_sandboxed("policy_tests.phase1.attempts:forge_the_result_line", tmp_path, [], {"line": line})
    assert result.result is None
    assert result.error is not None
    assert result.error.startswith("the sandbox ended without a result (exit 0)")
