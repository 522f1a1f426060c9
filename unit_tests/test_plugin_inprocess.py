"""The plugin's hooks and fixtures, run in this process by pytest's own ``pytester``.

``test_plugin.py`` runs the plugin in a child pytest as an operator would; these run it in-process so the
exact rows, statuses and refusals are checked quickly (and mutation testing can see the hooks run).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
        "test_unknown": (["S.e"], "error", "call"),
        "test_skipped": (["S.d"], "skip", "call"),
        "test_setup_error": (["S.f"], "error", "setup"),
        "test_assert": (["P0.2.a"], "fail", "call"),
    }
    assert seen["test_ok"]["message"] == ""
    assert seen["test_bad"]["message"] == "Failed: S.b FAIL: halted"
    assert seen["test_unknown"]["message"] == "calpolicy.plugin.CouldNotCheck: redis refused"
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
    _policy_suite(pytester, '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n')
    outcome = pytester.runpytest_inprocess("--markers")
    for marker in ("preflight:", "lockdown:", "proposal:", "report:", "apply:", "watch:", "control(*ids):"):
        assert any(line.startswith(f"@pytest.mark.{marker}") for line in outcome.outlines), marker


def _fixture_suite(pytester: pytest.Pytester, body: str) -> None:
    _policy_suite(pytester, '@pytest.mark.control("S.a")\n' + body)


def test_a_bad_now_is_could_not_check(pytester: pytest.Pytester) -> None:
    _fixture_suite(pytester, "def test_now(calpolicy_now):\n    pass\n")
    code, rows = _rows(pytester, "--calpolicy-now", "yesterday")
    assert (code, rows[0]["status"]) == (1, "error")
    assert "--calpolicy-now is not an ISO-8601 instant: 'yesterday'" in str(rows[0]["message"])


def test_now_is_read_as_utc_when_it_has_no_zone(pytester: pytest.Pytester) -> None:
    _fixture_suite(
        pytester,
        "def test_now(calpolicy_now):\n"
        "    assert calpolicy_now.isoformat() == '2026-11-20T12:00:00+00:00'\n",
    )
    assert _rows(pytester, "--calpolicy-now", "2026-11-20T12:00:00")[1][0]["status"] == "pass"
    assert _rows(pytester, "--calpolicy-now", "2026-11-20T13:00:00+01:00")[1][-1]["status"] == "fail"


def test_a_broken_config_is_could_not_check(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.toml"
    bad.write_text("[cadence]\nmin_trades = -3\n")
    _fixture_suite(pytester, "def test_config(calpolicy_config):\n    pass\n")
    code, rows = _rows(pytester, "--calpolicy-config", str(bad))
    assert (code, rows[0]["status"], rows[0]["when"]) == (1, "error", "setup")
    assert "min_trades" in str(rows[0]["message"])


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
