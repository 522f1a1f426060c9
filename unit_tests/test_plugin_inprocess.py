"""The plugin's hooks and fixtures, run in this process by pytest's own ``pytester``.

``test_plugin.py`` runs the plugin in a child pytest as an operator would; these run it in-process so the
exact rows, statuses and refusals are checked quickly (and mutation testing can see the hooks run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy.fft  # noqa: F401  (the runs below load it: dropped with pytester's snapshot, scipy would then fail)
import pytest

# Loaded before pytester snapshots sys.modules: numpy refuses a second import into one process, and the
# in-process runs below import the data gate.
import calpolicy.clm.checks  # noqa: F401  (the data gate and, through it, numpy, pandas and Arrow)

pytest_plugins = ("pytester",)

HEADER = "import pytest\nfrom calpolicy.plugin import CouldNotCheck\npytestmark = pytest.mark.preflight\n"


def _policy_suite(pytester: pytest.Pytester, body: str) -> Path:
    folder = pytester.mkdir("policy_tests")
    (folder / "test_items.py").write_text(HEADER + body)
    return folder


def _rows(pytester: pytest.Pytester, *args: str) -> tuple[int, list[dict[str, object]]]:
    results = pytester.path / "out" / "results.jsonl"
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--calpolicy-results", str(results), *args)
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    return int(outcome.ret), rows


def test_each_outcome_is_recorded_with_its_controls_status_phase_and_message(pytester: pytest.Pytester) -> None:
    _policy_suite(
        pytester,
        '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n'
        '@pytest.mark.control("S.b", "S.c")\ndef test_bad():\n    pytest.fail("S.b FAIL: halted", pytrace=False)\n'
        '@pytest.mark.control("S.e")\ndef test_unknown():\n    raise CouldNotCheck("redis refused")\n'
        '@pytest.mark.control("S.d")\ndef test_skipped():\n    pytest.skip("no operator")\n'
        '@pytest.fixture\ndef broken():\n    raise CouldNotCheck("config unreadable")\n'
        '@pytest.mark.control("S.f")\ndef test_setup_error(broken):\n    pass\n'
        '@pytest.mark.control("P0.2.a")\ndef test_assert():\n    assert 1 == 2, "one is not two"\n',
    )
    code, rows = _rows(pytester)
    assert code == 1
    seen = {row["nodeid"].split("::")[-1]: row for row in rows}  # type: ignore[union-attr]
    assert set(seen) == {"test_ok", "test_bad", "test_unknown", "test_skipped", "test_setup_error", "test_assert"}
    summary = {name: (row["controls"], row["status"], row["when"]) for name, row in seen.items()}
    assert summary == {
        "test_ok": (["S.a"], "pass", "call"),
        "test_bad": (["S.b", "S.c"], "fail", "call"),
        "test_unknown": (["S.e"], "error", "setup"),  # could-not-check is an error, reported as pytest's setup error
        "test_skipped": (["S.d"], "skip", "call"),
        "test_setup_error": (["S.f"], "error", "setup"),
        "test_assert": (["P0.2.a"], "fail", "call"),
    }
    assert seen["test_ok"]["message"] == ""
    assert seen["test_bad"]["message"] == "S.b FAIL: halted"
    assert seen["test_unknown"]["message"] == "S.e ERROR: redis refused"
    assert "no operator" in str(seen["test_skipped"]["message"])
    assert "config unreadable" in str(seen["test_setup_error"]["message"])
    assert "one is not two" in str(seen["test_assert"]["message"])
    assert all(isinstance(row["duration_s"], float) for row in rows)


def test_no_results_file_unless_asked(pytester: pytest.Pytester) -> None:
    _policy_suite(pytester, '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n')
    assert pytester.runpytest_inprocess("-p", "no:cacheprovider").ret == 0
    assert not list(pytester.path.rglob("*.jsonl"))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('@pytest.mark.control("P9.9.z")\ndef test_x():\n    pass\n', "unknown control ID(s) P9.9.z"),
        ("def test_untraced():\n    pass\n", "policy test carries no @pytest.mark.control(...) ID"),
        (
            '@pytest.mark.control("P2.2.a")\ndef test_wrong_phase():\n    pass\n',
            "P2.2.a is enforced in phase 'proposal' but the test carries no @pytest.mark.proposal marker",
        ),
    ],
)
def test_untraceable_policy_tests_refuse_the_whole_run(pytester: pytest.Pytester, body: str, problem: str) -> None:
    _policy_suite(pytester, '@pytest.mark.control("S.a")\ndef test_fine():\n    pass\n' + body)
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    text = "\n".join(outcome.errlines + outcome.outlines)
    assert "calpolicy traceability check failed:" in text
    assert problem in text
    assert "test_fine" not in text  # only the offending test is named


def test_tests_outside_the_policy_suite_need_no_control_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_helper="def test_plain():\n    pass\n")
    assert pytester.runpytest_inprocess("-p", "no:cacheprovider").ret == 0


def test_phase_markers_and_control_are_registered(pytester: pytest.Pytester) -> None:
    text = " ".join(" ".join(pytester.runpytest_inprocess("--markers").outlines).split())
    for line in (
        "@pytest.mark.preflight: Phase 0 and the absolute stop signals: must be green before anything runs",
        "@pytest.mark.lockdown: Phase 1: the calibration run writes nothing and reads only the CLM file",
        "@pytest.mark.proposal: Phase 2: allowed operations and the hard safety bounds, on a job's proposal",
        "@pytest.mark.report: Phase 3: the review report is complete",
        "@pytest.mark.apply: Phase 4.1: atomic apply, archive and reload",
        "@pytest.mark.watch: Phase 4.2: the post-apply watch",
        "@pytest.mark.control(*ids): the checklist item IDs this test enforces",
    ):
        assert line in text, line


def _fixture_suite(pytester: pytest.Pytester, body: str) -> None:
    _policy_suite(pytester, '@pytest.mark.control("S.a")\n' + body)


@pytest.mark.parametrize("option", ["--calpolicy-now", "--on-call-until"])
def test_a_malformed_instant_is_a_usage_error_naming_the_option(pytester: pytest.Pytester, option: str) -> None:
    """A malformed instant is a usage error (pytest exit 4), as in the CLI: no test runs on a wrong clock."""
    _fixture_suite(pytester, "def test_now(calpolicy_now):\n    pass\n")
    results = pytester.path / "out" / "results.jsonl"
    outcome = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--calpolicy-results", str(results), option, "yesterday"
    )
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {option} must be an ISO-8601 instant, got 'yesterday'" in outcome.errlines
    assert not results.exists()


def test_now_is_read_as_utc_when_it_has_no_zone(pytester: pytest.Pytester) -> None:
    _fixture_suite(
        pytester,
        "def test_now(calpolicy_now):\n    assert calpolicy_now.isoformat() == '2026-11-20T12:00:00+00:00'\n",
    )
    assert _rows(pytester, "--calpolicy-now", "2026-11-20T12:00:00")[1][0]["status"] == "pass"
    assert _rows(pytester, "--calpolicy-now", "2026-11-20T13:00:00+01:00")[1][-1]["status"] == "fail"


def test_a_broken_config_is_could_not_check(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.toml"
    bad.write_text("[cadence]\nmin_trades = -3\n")
    _fixture_suite(pytester, "def test_config(calpolicy_config):\n    pass\n" + '@pytest.mark.control("S.b")\n'
                   "def test_plain():\n    pass\n")  # fmt: skip
    code, rows = _rows(pytester, "--calpolicy-config", str(bad))
    assert (code, rows[0]["status"], rows[0]["when"]) == (1, "error", "setup")
    assert "min_trades" in str(rows[0]["message"])
    assert (rows[1]["status"], rows[1]["message"]) == ("pass", "")  # a config that does not load waives nothing


def test_clm_option_overrides_the_configured_log(pytester: pytest.Pytester) -> None:
    _fixture_suite(
        pytester,
        "def test_clm(calpolicy_config, data_verdict):\n"
        "    assert str(calpolicy_config.paths.clm_file) == '/nonexistent/clm.jsonl'\n"
        "    assert calpolicy_config.sources['paths.clm_file'] == '--clm'\n"
        "    assert data_verdict.by_id('P0.2.a')[0].status == 'fail'\n",
    )
    _code, rows = _rows(pytester, "--clm", "/nonexistent/clm.jsonl")
    assert rows[0]["status"] == "pass", rows[0]["message"]


def test_the_results_recorder_is_registered_once_even_if_configured_twice(pytester: pytest.Pytester) -> None:
    from calpolicy import plugin

    results = pytester.path / "a" / "b" / "results.jsonl"  # missing parent folders are created
    config = pytester.parseconfigure("--calpolicy-results", str(results))
    first = config.pluginmanager.get_plugin("calpolicy-results")
    assert isinstance(first, plugin._ResultsRecorder)
    plugin.pytest_configure(config)
    recorders = [p for p in config.pluginmanager.get_plugins() if isinstance(p, plugin._ResultsRecorder)]
    assert recorders == [first]
    assert results.parent.is_dir()


def test_the_results_file_can_also_come_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = pytester.path / "deep" / "er" / "env.jsonl"
    monkeypatch.setenv("CALPOLICY_RESULTS", str(results))
    _policy_suite(pytester, '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n')
    assert pytester.runpytest_inprocess("-p", "no:cacheprovider").ret == 0
    (row,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert (row["controls"], row["status"]) == (["S.a"], "pass")
    assert round(row["duration_s"], 4) == row["duration_s"]


def test_the_refusal_names_each_offending_test_on_its_own_line(pytester: pytest.Pytester) -> None:
    _policy_suite(
        pytester,
        '@pytest.mark.control("P9.9.z")\ndef test_typo():\n    pass\ndef test_untraced():\n    pass\n',
    )
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    start = outcome.errlines.index("ERROR: calpolicy traceability check failed:")
    assert outcome.errlines[start + 1 : start + 3] == [
        "  policy_tests/test_items.py::test_typo: unknown control ID(s) P9.9.z",
        "  policy_tests/test_items.py::test_untraced: policy test carries no @pytest.mark.control(...) ID",
    ]


def test_a_failed_item_shows_its_message_not_a_traceback(pytester: pytest.Pytester) -> None:
    _policy_suite(
        pytester,
        "from calpolicy.plugin import enforce\nfrom calpolicy.vocabulary.verdict import Finding, Verdict\n"
        '@pytest.mark.control("S.a")\ndef test_few():\n'
        '    enforce(Verdict((Finding("S.a", "fail", "12 trades, fewer than 50"),)), "S.a")\n',
    )
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert outcome.ret == 1
    text = "\n".join(outcome.outlines)
    assert "S.a FAIL: 12 trades, fewer than 50" in text
    assert "def test_few" not in text  # pytrace=False: the operator sees the finding, not our source
    assert "plugin.py" not in text


def _report(outcome: str, longrepr: object) -> pytest.TestReport:
    return pytest.TestReport("t.py::test", ("t.py", 1, "test"), {}, outcome, longrepr, "call")  # type: ignore[arg-type]


def test_the_message_of_a_report_whatever_shape_its_longrepr_has() -> None:
    from calpolicy.plugin import _message_of

    assert _message_of(_report("passed", None)) == ""
    assert _message_of(_report("skipped", ("t.py", 3, "Skipped: no operator"))) == "Skipped: no operator"
    assert _message_of(_report("failed", "a plain text failure")) == "a plain text failure"


def test_the_phase_marker_alone_runs_the_policy_suite_in_process(pytester: pytest.Pytester) -> None:
    """With only ``-m <phase>`` and the project's testpaths, the shipped policy suite is collected instead."""
    pytester.makeini("[pytest]\ntestpaths = unit\n")
    pytester.mkdir("unit")
    (pytester.path / "unit" / "test_unit.py").write_text("def test_unit():\n    pass\n")

    def collected(*args: str) -> list[str]:
        outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--noconftest", "--collect-only", "-q", *args)
        return [line for line in outcome.outlines if "::" in line]

    routed = collected("-m", "preflight")
    assert routed
    assert "unit/test_unit.py::test_unit" not in routed
    assert any("test_system_health.py" in line for line in routed)
    assert collected("-m", "not preflight") == ["unit/test_unit.py::test_unit"]
    assert collected("-m", "slow") == []  # not a phase: left alone, nothing in unit/ carries it
    assert collected() == ["unit/test_unit.py::test_unit"]
    assert collected("unit", "-m", "preflight") == []  # an explicit path is never rerouted


def test_help_lists_every_option_with_its_explanation(pytester: pytest.Pytester) -> None:
    """What ``pytest --help`` tells the operator, under the gate's own heading."""
    text = " ".join(" ".join(pytester.runpytest_inprocess("--help").outlines).split())
    block = text[text.index("calpolicy policy gate:") :]
    for option, explanation in (
        ("--calpolicy-config=CALPOLICY_CONFIG", "calpolicy.toml to use (else CALPOLICY_CONFIG)"),
        ("--clm=CLM", "CLM trade log to check (overrides paths.clm_file)"),
        ("--calpolicy-now=CALPOLICY_NOW", "ISO-8601 instant to judge freshness against (default: now)"),
        ("--operator=OPERATOR", "name of the operator attesting availability (S.d)"),
        ("--on-call-until=ON_CALL_UNTIL", "ISO-8601 end of the operator's on-call period"),
        ("--job=JOB", "job folder whose proposal/report the phase 1-3 tests check"),
        ("--calpolicy-results=CALPOLICY_RESULTS", "write one JSON line per test to this file"),
        (
            "--job-wait=JOB_WAIT",
            "wait up to this many seconds for the job's manifest.json (calpolicy run starts the tests early)",
        ),
        (
            "--calpolicy-trace=CALPOLICY_TRACE",
            "write every collected test's node ID and control IDs as JSON to this file (calpolicy controls)",
        ),
    ):
        assert f"{option} {explanation}" in block, option


def test_options_default_to_unset(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    for option in ("--calpolicy-config", "--clm", "--calpolicy-now", "--operator", "--on-call-until", "--job"):
        assert config.getoption(option) is None, option


def test_a_passing_row_carries_what_its_own_checks_said_and_nothing_from_the_test_before(
    pytester: pytest.Pytester,
) -> None:
    _policy_suite(
        pytester,
        "from calpolicy.plugin import enforce\nfrom calpolicy.vocabulary.verdict import Finding, Verdict\n"
        "V = Verdict((Finding('S.a', 'pass', '60 trades over 4.0 days'), Finding('S.a', 'pass', ''),\n"
        "             Finding('S.f', 'pass', 'last trade 0.1 h ago')))\n"
        '@pytest.mark.control("S.a")\ndef test_first():\n    enforce(V, "S.a")\n    enforce(V, "S.a")\n'
        '@pytest.mark.control("S.b")\ndef test_second():\n    pass\n'
        '@pytest.mark.control("S.f")\ndef test_third():\n    enforce(V, "S.f")\n',
    )
    code, rows = _rows(pytester)
    assert code == 0
    seen = {str(row["nodeid"]).split("::")[-1]: row for row in rows}
    assert seen["test_first"]["passed"] == [["S.a", "60 trades over 4.0 days"]]  # once, and no empty message
    assert seen["test_first"]["message"] == "60 trades over 4.0 days"
    assert seen["test_second"]["passed"] == []
    assert seen["test_second"]["message"] == ""
    assert seen["test_third"]["passed"] == [["S.f", "last trade 0.1 h ago"]]


def test_a_pass_under_a_waiver_is_recorded_as_waived_with_every_waivers_reason(pytester: pytest.Pytester) -> None:
    config = pytester.path / "waived.toml"  # not ./calpolicy.toml: only --calpolicy-config may find it
    config.write_text(
        "[cadence]\nmin_trades = 40\nmin_symbols = 1\n"
        '[waivers."cadence.min_trades"]\nby = "ana.berg"\nwhy = "pilot INC-1"\nuntil = 2099-01-01T00:00:00Z\n'
        '[waivers."cadence.min_symbols"]\nby = "bo.li"\nwhy = "one symbol"\nuntil = 2099-01-01T00:00:00Z\n'
    )
    _policy_suite(
        pytester,
        '@pytest.mark.control("S.a")\ndef test_cadence():\n    pass\n'
        '@pytest.mark.control("S.b")\ndef test_other():\n    pass\n',
    )
    code, rows = _rows(pytester, "--calpolicy-config", str(config))
    assert code == 0
    seen = {str(row["nodeid"]).split("::")[-1]: (row["status"], row["message"]) for row in rows}
    assert seen == {
        "test_cadence": (
            "waived",
            "passed only under a waiver: cadence.min_trades (by ana.berg until 2099-01-01T00:00+00:00: pilot INC-1); "
            "cadence.min_symbols (by bo.li until 2099-01-01T00:00+00:00: one symbol)",
        ),
        "test_other": ("pass", ""),  # S.b is governed by neither value
    }


def test_a_crash_in_setup_is_an_error_not_a_failure(pytester: pytest.Pytester) -> None:
    _policy_suite(
        pytester,
        "@pytest.fixture\ndef buggy():\n    raise RuntimeError('bug in a fixture')\n"
        '@pytest.mark.control("S.a")\ndef test_x(buggy):\n    pass\n',
    )
    _code, (row,) = _rows(pytester)
    assert (row["status"], row["when"], row["message"]) == ("error", "setup", "RuntimeError: bug in a fixture")


def test_could_not_check_is_an_error_even_without_the_checklist_shaped_output(pytester: pytest.Pytester) -> None:
    """With ``-p no:calpolicy.plugin.output`` pytest reports it as a failed call; the row still says error."""
    _policy_suite(
        pytester, '@pytest.mark.control("S.e")\ndef test_unknown():\n    raise CouldNotCheck("redis refused")\n'
    )
    _code, (row,) = _rows(pytester, "-p", "no:calpolicy.plugin.output")
    assert (row["status"], row["when"]) == ("error", "call")
    assert row["message"] == "calpolicy.plugin.CouldNotCheck: redis refused"


def test_a_failed_finding_is_recorded_as_its_sentence_and_shown_with_its_evidence(pytester: pytest.Pytester) -> None:
    _policy_suite(
        pytester,
        "from calpolicy.plugin import enforce\nfrom calpolicy.vocabulary.verdict import Finding, Verdict\n"
        '@pytest.mark.control("S.a")\ndef test_few():\n'
        '    enforce(Verdict((Finding("S.a", "fail", "12 trades", {"trades": 12}),)), "S.a")\n'
        '@pytest.mark.control("S.e")\ndef test_probe():\n'
        '    enforce(Verdict((Finding("S.e", "error", "refused", {"host": "r1"}),)), "S.e")\n',
    )
    results = pytester.path / "out" / "results.jsonl"
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--calpolicy-results", str(results))
    rows = {row["nodeid"].split("::")[-1]: row for row in map(json.loads, results.read_text().splitlines())}
    assert (rows["test_few"]["status"], rows["test_few"]["message"]) == ("fail", "S.a FAIL: 12 trades")
    assert (rows["test_probe"]["status"], rows["test_probe"]["message"]) == ("error", "S.e ERROR: refused")
    text = "\n".join(outcome.outlines)
    assert "S.a FAIL: 12 trades\n    evidence: trades 12" in text
    assert "S.e ERROR: refused\n    evidence: host r1" in text  # could-not-check carries its findings too


def test_a_plain_assertion_is_recorded_as_pytests_one_line_crash_message(pytester: pytest.Pytester) -> None:
    _policy_suite(pytester, '@pytest.mark.control("P0.2.a")\ndef test_assert():\n    assert 1 == 2, "one is not two"\n')
    _code, (row,) = _rows(pytester)
    assert (row["status"], row["message"]) == ("fail", "AssertionError: one is not two\nassert 1 == 2")


def test_a_test_enforcing_two_items_records_both_passing_sentences(pytester: pytest.Pytester) -> None:
    _policy_suite(
        pytester,
        "from calpolicy.plugin import enforce\nfrom calpolicy.vocabulary.verdict import Finding, Verdict\n"
        "V = Verdict((Finding('S.a', 'pass', '60 trades'), Finding('S.f', 'pass', 'last trade 0.1 h ago')))\n"
        '@pytest.mark.control("S.a", "S.f")\ndef test_both():\n    enforce(V, "S.a")\n    enforce(V, "S.f")\n',
    )
    _code, (row,) = _rows(pytester)
    assert row["message"] == "60 trades; last trade 0.1 h ago"
    assert row["passed"] == [["S.a", "60 trades"], ["S.f", "last trade 0.1 h ago"]]


def test_a_checkout_that_loads_the_plugin_from_its_conftest_still_routes_a_phase_to_the_policy_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No entry point (a checkout, not installed): the plugin arrives with the root conftest, too late for
    its early routing hook, and ``pytest_configure`` points ``-m <phase>`` at the suite instead."""
    import policy_tests

    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\ntestpaths = unit\n")
    pytester.makeconftest('pytest_plugins = ["calpolicy.plugin"]\n')
    pytester.mkdir("unit")
    suite = str(Path(policy_tests.__file__).parent)
    assert pytester.parseconfigure("-m", "preflight").args == [suite]
    assert pytester.parseconfigure("-m", "proposal or report").args == [suite]
    assert pytester.parseconfigure("-m", "preflightX").args == ["unit"]  # a longer marker name is no phase
    assert pytester.parseconfigure("-m", "not preflight").args == ["unit"]
    assert pytester.parseconfigure().args == ["unit"]
