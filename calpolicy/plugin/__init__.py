"""The pytest plugin that turns the policy suite into a gate.

It registers the phase markers and the ``control`` marker (the checklist IDs a test enforces), refuses a
run in which a policy test names an unknown ID or names none, provides the shared fixtures (config, the
CLM log, the data verdict) and records one JSON line per test so the CLI can print a GO/STOP verdict
without parsing pytest's text. This is the only module of the library that imports pytest.

The package is the policy suite's wiring, and owns the traceability the checklist demands ("every ID
must map to at least one pytest test"): this module (markers, the refusal of untraced tests, fixtures,
results), ``routing`` (which tests ``pytest -m preflight`` runs, from which rootdir), ``output`` (what an
operator reads: checklist-shaped failures, one verdict line, pytest-html columns) and ``controls_table``
(each registry ID, its policy tests and its last result: ``calpolicy controls``). It stays whole although
just over 400 lines: pytest registers this module (the pytest11 entry point ``calpolicy.plugin``) and
finds its hooks and fixtures here. May import: the vocabulary, ``calpolicy.files``, the trade-log gate,
the preflight and the review (the job's HTML report); never the command line.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from calpolicy.vocabulary.config import Config, ConfigError, load_config
from calpolicy.vocabulary.controls import KNOWN, traceability_problems
from calpolicy.vocabulary.verdict import Finding, PolicyFailure, Verdict, describe
from calpolicy.vocabulary.waivers import waived_controls

# Where ``pytest -m preflight`` finds the suite and its rootdir (plugin_routing), and how a run reads:
# checklist-shaped failures, one verdict line, pytest-html columns (plugin_output); with --job, the
# job's own pytest-html report (environment, controls, plot: html_report).
pytest_plugins = ["calpolicy.plugin.routing", "calpolicy.plugin.output", "calpolicy.review.html_report"]

PHASE_MARKERS = {
    "preflight": "Phase 0 and the absolute stop signals: must be green before anything runs",
    "lockdown": "Phase 1: the calibration run writes nothing and reads only the CLM file",
    "proposal": "Phase 2: allowed operations and the hard safety bounds, on a job's proposal",
    "report": "Phase 3: the review report is complete",
    "apply": "Phase 4.1: atomic apply, archive and reload",
    "watch": "Phase 4.2: the post-apply watch",
}
POLICY_DIR_NAME = "policy_tests"
RESULTS_ENV = "CALPOLICY_RESULTS"


class CouldNotCheck(AssertionError):
    """A check could not run (probe error, missing input): a STOP that says "unknown", not "bad".

    pytest reports it as ERROR (not FAILED) and without a traceback; ``findings`` carries the evidence.
    """

    def __init__(self, message: str, findings: tuple[Finding, ...] = ()) -> None:
        super().__init__(message)
        self.findings = findings


def enforce(verdict: Verdict, control_id: str) -> list[Finding]:
    """Fail the calling test unless every finding for ``control_id`` passed; no finding at all fails too.

    Fail closed: a gate that forgot to produce a finding for an item must not read as "nothing wrong".
    """
    findings = list(verdict.by_id(control_id))
    if not findings:
        raise CouldNotCheck(f"{control_id}: no check produced a result for this item")
    failed = [f for f in findings if f.status == "fail"]
    errors = [f for f in findings if f.status == "error"]
    if failed:
        raise PolicyFailure(failed + errors)
    if errors:
        raise CouldNotCheck("\n".join(describe(f) for f in errors), tuple(errors))
    _PASSED.extend((f.id, f.message) for f in findings if f.message)
    return findings


# What the findings the running test enforced said when they passed: a GO lists what was verified, in the
# checks' own words, not only which tests passed. Filled by ``enforce``, taken by the report hook below.
_PASSED: list[tuple[str, str]] = []


# --------------------------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("calpolicy", "calpolicy policy gate")
    group.addoption("--calpolicy-config", default=None, help="calpolicy.toml to use (else CALPOLICY_CONFIG)")
    group.addoption("--clm", default=None, help="CLM trade log to check (overrides paths.clm_file)")
    group.addoption("--calpolicy-now", default=None, help="ISO-8601 instant to judge freshness against (default: now)")
    group.addoption("--operator", default=None, help="name of the operator attesting availability (S.d)")
    group.addoption("--on-call-until", default=None, help="ISO-8601 end of the operator's on-call period")
    group.addoption("--job", default=None, help="job folder whose proposal/report the phase 1-3 tests check")
    group.addoption(
        "--job-wait", type=float, default=0.0,
        help="wait up to this many seconds for the job's manifest.json (calpolicy run starts the tests early)",
    )  # fmt: skip
    group.addoption("--calpolicy-results", default=None, help="write one JSON line per test to this file")
    group.addoption(
        "--calpolicy-trace", default=None,
        help="write every collected test's node ID and control IDs as JSON to this file (calpolicy controls)",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    for name, text in PHASE_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.addinivalue_line("markers", "control(*ids): the checklist item IDs this test enforces")
    _refuse_malformed_instants(config)
    results = config.getoption("--calpolicy-results", default=None) or os.environ.get(RESULTS_ENV)
    if results and not config.pluginmanager.has_plugin("calpolicy-results"):
        config.pluginmanager.register(_ResultsRecorder(Path(results)), "calpolicy-results")
    _route_phase_selection(config)


def _refuse_malformed_instants(config: pytest.Config) -> None:
    """A malformed instant is a usage error (as in the CLI), not a policy failure of S.d or S.f."""
    for option in ("--calpolicy-now", "--on-call-until"):
        raw = config.getoption(option, default=None)
        if raw is None:
            continue
        try:
            datetime.fromisoformat(raw)
        except ValueError:
            raise pytest.UsageError(f"{option} must be an ISO-8601 instant, got {raw!r}") from None


def _route_phase_selection(config: pytest.Config) -> None:
    """``pytest -m preflight`` (no paths given) means the policy suite, as the checklist's users say it.

    The project's ``testpaths`` point at its own unit tests, where no test carries a phase marker, so
    without this the operator's command would collect nothing. ``-m "not preflight"`` is left alone.
    """
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    words = re.findall(r"[A-Za-z_]+", config.getoption("markexpr", default="") or "")
    if "not" in words or not set(words) & set(PHASE_MARKERS):
        return
    import policy_tests

    config.args[:] = [str(Path(policy_tests.__file__).parent)]


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """Remember every test module that was collected cleanly: the whole-suite rule compares them to disk."""
    outcome = yield
    if isinstance(collector, pytest.Module) and outcome.get_result().passed:
        collector.config.stash.setdefault(_COLLECTED_MODULES, set()).add(Path(collector.path).resolve())


_COLLECTED_MODULES = pytest.StashKey[set[Path]]()


@pytest.hookimpl(tryfirst=True)  # before ``-m``/``-k`` deselect: the suite is judged whole, not the selection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse the run when a policy test's control IDs are missing or unknown: traceability is the gate.

    And when the whole policy suite was collected, refuse it too if a registered ID has no test at all:
    an item whose only test was deleted would otherwise stop being enforced without a word.
    """
    trace = config.getoption("--calpolicy-trace", default=None)
    if trace:  # before any refusal: ``calpolicy controls`` shows an untested ID as such, not a crash
        tests = {item.nodeid: item_controls(item) for item in items}
        Path(trace).write_text(json.dumps(tests, indent=1) + "\n", encoding="utf-8")
    problems = []
    for item in items:
        markers = {marker.name for marker in item.iter_markers()}
        in_policy_suite = POLICY_DIR_NAME in Path(str(item.path)).parts
        for problem in traceability_problems(item_controls(item), markers, in_policy_suite):
            problems.append(f"{item.nodeid}: {problem}")
    problems.extend(untested_in_whole_suite(config, items))  # after them: a misspelt ID is named as such
    if problems:
        raise pytest.UsageError("calpolicy traceability check failed:\n  " + "\n  ".join(problems))


def policy_suite_root(path: Path) -> Path | None:
    """The ``policy_tests`` package a test file belongs to; None outside one.

    Only a package (with ``__init__.py``, as the shipped suite and any copy of it are) counts as the policy
    suite: the plugin's own tests build throw-away ``policy_tests`` folders of one file, which are not it.
    """
    parts = path.parts
    if POLICY_DIR_NAME not in parts:
        return None
    root = Path(*parts[: len(parts) - parts[::-1].index(POLICY_DIR_NAME)])
    return root if (root / "__init__.py").is_file() else None


def suite_modules(root: Path, config: pytest.Config) -> set[Path]:
    """Every test module on disk under ``root``, by the run's own ``python_files`` patterns."""
    patterns = config.getini("python_files")
    return {
        path.resolve()
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts and any(fnmatch.fnmatch(path.name, p) for p in patterns)
    }


def untested_controls(tested: set[str]) -> list[str]:
    """Registry IDs, in checklist order, that no collected policy test names."""
    return [cid for cid in KNOWN if cid not in tested]


def untested_in_whole_suite(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """The whole-suite rule: every test module of the policy package collected ⇒ every registry ID tested.

    "Whole" is exact: each ``test_*.py`` file under the suite's folder was collected without error (a
    module that failed to import is pytest's own collection error, reported as such). A run of one phase
    folder or one file is a part of the suite and is not judged; ``-m``/``-k`` select after this check.
    """
    roots = {root for item in items if (root := policy_suite_root(Path(str(item.path))))}
    collected = config.stash.get(_COLLECTED_MODULES, set())
    problems = []
    for root in sorted(roots):
        if not suite_modules(root, config) <= collected:
            continue
        tested = {
            cid for item in items if policy_suite_root(Path(str(item.path))) == root for cid in item_controls(item)
        }
        missing = untested_controls(tested)
        if missing:
            problems.append(
                f"the whole policy suite ({root}) was collected, but {len(missing)} checklist ID(s) have no "
                f"test: {', '.join(missing)}"
            )
    return problems


def item_controls(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for marker in item.iter_markers("control"):
        ids.extend(str(arg) for arg in marker.args)
    return ids


# --------------------------------------------------------------------------------------------- results


class _ResultsRecorder:
    """Writes one JSON object per test: nodeid, control IDs, status (pass/fail/error/skip), message.

    Registered as a plugin of its own only when a results file was asked for, so a plain ``pytest`` run
    writes nothing anywhere.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("a", encoding="utf-8")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = result_row(report)
        if row is not None:
            self.handle.write(json.dumps(row, default=str) + "\n")
            self.handle.flush()

    def pytest_sessionfinish(self) -> None:
        self.handle.close()


def result_row(report: pytest.TestReport) -> dict[str, Any] | None:
    """The one result line of a test (its call, or the setup/teardown that failed or skipped it)."""
    if report.when != "call" and not (report.failed or report.skipped):
        return None
    props = dict(report.user_properties)
    return {
        "nodeid": report.nodeid,
        "controls": props.get("calpolicy_controls", []),
        "status": _status_of(report, props),
        "when": report.when,
        "message": _message_of(report),
        "passed": [list(pair) for pair in props.get("calpolicy_passed", [])],  # (control ID, what passed)
        "duration_s": round(report.duration, 4),
    }


def _status_of(report: pytest.TestReport, props: dict[str, Any]) -> str:
    if report.passed:
        return "waived" if props.get("calpolicy_waivers") else "pass"
    if report.skipped:
        return "skip"
    if report.when != "call" or props.get("calpolicy_status") == "error":
        return "error"
    return "fail"


def _message_of(report: pytest.TestReport) -> str:
    waivers = dict(report.user_properties).get("calpolicy_waivers")
    if report.passed and waivers:
        return "passed only under a waiver: " + "; ".join(waivers)
    if not (report.failed or report.skipped):
        return "; ".join(text for _, text in dict(report.user_properties).get("calpolicy_passed") or [])
    message = dict(report.user_properties).get("calpolicy_message")
    if message is not None:  # a policy outcome: the checklist text, without pytest's "Failed: " framing
        return str(message)
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[-1])
    return str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _PASSED.clear()  # only this test's findings
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.passed and _PASSED:
        report.user_properties.append(("calpolicy_passed", list(dict.fromkeys(_PASSED))))
    if call.excinfo is not None and call.excinfo.errisinstance(CouldNotCheck):
        report.user_properties.append(("calpolicy_status", "error"))
    report.user_properties.append(("calpolicy_controls", item_controls(item)))
    if report.when == "call" and report.passed:
        waived = _waived_controls(item.config)
        reasons = [text for cid in item_controls(item) for text in waived.get(cid, [])]
        if reasons:  # a pass that holds only because a checklist value was loosened is not a plain pass
            report.user_properties.append(("calpolicy_waivers", reasons))


_WAIVED_KEY = pytest.StashKey[dict[str, list[str]]]()


def _waived_controls(config: pytest.Config) -> dict[str, list[str]]:
    """Control ID → waiver texts of the run's config (a config that does not load waives nothing)."""
    if _WAIVED_KEY not in config.stash:
        try:
            loaded = load_config(config.getoption("--calpolicy-config", default=None))
            config.stash[_WAIVED_KEY] = waived_controls(loaded.waivers)
        except ConfigError:
            config.stash[_WAIVED_KEY] = {}
    return config.stash[_WAIVED_KEY]


# --------------------------------------------------------------------------------------------- fixtures


def job_dir(pytestconfig: pytest.Config) -> Path | None:
    """The ``--job`` folder once its manifest exists (waiting up to ``--job-wait``); None without a job.

    ``calpolicy run`` starts the policy tests while the calibration still runs and writes the manifest
    last, so a test that reads the job never sees it half-made.
    """
    import time

    raw = pytestconfig.getoption("--job")
    if not raw:
        return None
    folder = Path(raw)
    wait_s = float(pytestconfig.getoption("--job-wait") or 0.0)
    deadline = time.monotonic() + wait_s
    while wait_s > 0 and not (folder / "manifest.json").is_file():
        if time.monotonic() >= deadline:
            raise CouldNotCheck(f"the job folder {folder} got no manifest.json within {wait_s:g} s")
        time.sleep(0.02)
    return folder


@pytest.fixture(scope="session")
def calpolicy_config(pytestconfig: pytest.Config) -> Config:
    """The effective config, with ``--clm`` applied; a broken config fails every test that needs it."""
    try:
        config = load_config(pytestconfig.getoption("--calpolicy-config"))
    except ConfigError as error:
        raise CouldNotCheck(str(error)) from None
    clm = pytestconfig.getoption("--clm")
    if clm:
        config = config.with_overrides({"paths.clm_file": clm}, "--clm")
    return config


@pytest.fixture(scope="session")
def calpolicy_now(pytestconfig: pytest.Config) -> datetime:
    raw = pytestconfig.getoption("--calpolicy-now")
    if not raw:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(raw)  # validated at configure time
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@pytest.fixture(scope="session")
def clm_log(calpolicy_config: Config, pytestconfig: pytest.Config) -> Any:
    """The CLM log, read once; with a results file, which bytes were judged is recorded beside it.

    ``calpolicy run`` analyses exactly those bytes (their length and sha256), not whatever the file
    holds by the time the calibration starts.
    """
    from calpolicy.clm import read_clm_for
    from calpolicy.preflight import CLM_JUDGED_SUFFIX

    log = read_clm_for(calpolicy_config)
    results = pytestconfig.getoption("--calpolicy-results", default=None) or os.environ.get(RESULTS_ENV)
    if results and log.read_error is None:
        judged = {"path": str(Path(log.path).resolve()), "bytes": log.size_bytes, "lines": log.line_count,
                  "sha256": log.sha256}  # fmt: skip
        Path(str(results) + CLM_JUDGED_SUFFIX).write_text(json.dumps(judged) + "\n", encoding="utf-8")
    return log


@pytest.fixture(scope="session")
def data_verdict(clm_log: Any, calpolicy_config: Config, calpolicy_now: datetime) -> Verdict:
    from calpolicy.clm import check_data

    return check_data(clm_log, calpolicy_config, now=calpolicy_now)


__all__ = ["KNOWN", "CouldNotCheck", "PolicyFailure", "enforce", "item_controls", "job_dir"]
