"""Part of the pytest plugin: what an operator reads after ``pytest -m preflight`` (terminal and HTML).

* A policy failure reads like the checklist: its ID(s), the message and the evidence, no traceback. A
  check that could not run is an ERROR (as pytest reports a broken fixture), also without a traceback.
  Any other exception is a bug in calpolicy or the suite and keeps its full traceback.
* The run ends with the same one-line GO/STOP verdict as ``calpolicy preflight`` (built by the same
  ``calpolicy.preflight.build_verdict``), then one line per item.
* pytest-html gets a "Controls" column, the verdict on top, and the config digest, operator and host in
  its environment table.

Loaded through ``calpolicy.plugin``'s ``pytest_plugins``.
"""

from __future__ import annotations

import hashlib
import html
import json
import socket
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from calpolicy.plugin import CouldNotCheck, item_controls, result_row
from calpolicy.vocabulary.verdict import Finding, PolicyFailure, Verdict, describe, format_evidence

# --------------------------------------------------------------------------------------------- failures


def policy_text(error: BaseException, ids: list[str]) -> tuple[str, str] | None:
    """(message, report text) for a policy outcome; ``None`` for anything else (a real bug)."""
    findings: tuple[Finding, ...] = ()
    if isinstance(error, PolicyFailure | CouldNotCheck):
        findings = getattr(error, "findings", ())
        message = str(error)
    elif isinstance(error, pytest.fail.Exception) and not error.pytrace:
        message = str(error.msg)
    else:
        return None
    if not findings:
        status = "ERROR" if isinstance(error, CouldNotCheck) else "FAIL"
        if ids and not message.startswith(tuple(ids)):
            message = f"{', '.join(ids)} {status}: {message}"
        return message, message
    blocks = []
    for finding in findings:
        evidence = format_evidence(finding.evidence)
        blocks.append(describe(finding) + (f"\n    evidence: {evidence}" if evidence else ""))
    return message, "\n".join(blocks)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.excinfo is None or not report.failed:
        return
    shaped = policy_text(call.excinfo.value, item_controls(item))
    if shaped is None:
        return  # a real bug: pytest's traceback stays
    message, text = shaped
    report.longrepr = text
    report.user_properties.append(("calpolicy_message", message))
    if isinstance(call.excinfo.value, CouldNotCheck) and report.when == "call":
        # "could not check" is pytest's error outcome, as when a probe fixture fails: ERROR, not FAILED,
        # in the terminal, in junit-xml and in pytest-html alike.
        report.when = "setup"


# --------------------------------------------------------------------------------------------- verdict


class RunVerdict:
    """Collects one result row per policy test (as ``--calpolicy-results`` writes them) for the verdict."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = result_row(report)
        if row is not None and row["controls"]:
            self.rows.append(row)

    def verdict(self, exitstatus: int = 1) -> tuple[Verdict, str] | None:
        """The run's verdict and title, or ``None`` when no policy test ran (the project's own tests)."""
        if not self.rows:
            return None
        from calpolicy.preflight import PREFLIGHT_IDS, TITLE, build_verdict

        markexpr = (self.config.getoption("markexpr", default="") or "").strip()
        status = exitstatus if exitstatus in (0, 1) else None
        if markexpr == "preflight" and not self.config.getoption("keyword", default=""):
            verdict = build_verdict(self.rows, status, required=PREFLIGHT_IDS)
            title = TITLE
        else:
            verdict = build_verdict(self.rows, status, required=(), suite="policy suite")
            title = f"policy suite (-m {markexpr})" if markexpr else "policy suite"
        return verdict, f"{title} in {time.monotonic() - self.started:.1f} s"


def run_verdict(config: pytest.Config) -> RunVerdict | None:
    return config.pluginmanager.get_plugin(_RUN_VERDICT)  # type: ignore[no-any-return]


_RUN_VERDICT = "calpolicy-run-verdict"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(_RUN_VERDICT):
        config.pluginmanager.register(RunVerdict(config), _RUN_VERDICT)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, Any, None]:
    """After pytest's own summary (this wrapper is outermost): the verdict line, then one line per item."""
    yield
    collector = run_verdict(session.config)
    outcome = collector.verdict(int(exitstatus)) if collector is not None else None
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if outcome is None or reporter is None:
        return
    from calpolicy.vocabulary.render import headline, item_lines

    verdict, title = outcome
    reporter.write_line("")
    reporter.write_line(headline(verdict, title), bold=True, green=verdict.go, red=not verdict.go)
    for line in item_lines(verdict):
        reporter.write_line(line)


# --------------------------------------------------------------------------------------------- pytest-html


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(1, '<th class="sortable" data-column-type="controls">Controls</th>')


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    controls = dict(report.user_properties).get("calpolicy_controls") or []
    cells.insert(1, f'<td class="col-controls">{html.escape(", ".join(controls))}</td>')


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: Any) -> None:
    collector = run_verdict(session.config)
    outcome = collector.verdict(1 if session.testsfailed else 0) if collector is not None else None
    if outcome is None:
        return
    from calpolicy.vocabulary.render import headline, item_lines

    verdict, title = outcome
    explained = ""
    job = session.config.getoption("--job", default=None)
    if job:  # the job's verdict counts the checks ``run`` made itself too: the same count as ``run`` printed
        from calpolicy.review.html_report import job_verdict

        verdict, title, explained = job_verdict(Path(job), verdict, len(collector.rows))  # type: ignore[union-attr]
    colour = "green" if verdict.go else "#b00"
    line = html.escape(headline(verdict, title))
    style = f"font-size:1.3em;color:{colour}"
    prefix.append(f'<p class="calpolicy-run-verdict" style="{style}"><strong>{line}</strong></p>')
    if explained:
        prefix.append(f'<p class="calpolicy-item-count">{html.escape(explained)}</p>')
    # never cut: the evidence a reviewer signs is shown whole, wrapped rather than truncated
    lines = "\n".join(item_lines(verdict, width=None))
    prefix.append(f'<pre class="calpolicy-items" style="white-space:pre-wrap">{html.escape(lines)}</pre>')


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """The environment table of pytest-html: which config judged which host, attested by whom."""
    metadata.update(run_identity(config))


def run_identity(config: pytest.Config) -> dict[str, str]:
    from calpolicy.vocabulary.config import ConfigError, load_config

    identity = {"calpolicy host": socket.gethostname()}
    if not config.getoption("--job", default=None):  # a job's own table names the job's operator (html_report)
        identity["calpolicy operator"] = config.getoption("--operator", default=None) or "(none given: --operator)"
        identity["calpolicy on call until"] = config.getoption("--on-call-until", default=None) or "(none given)"
    try:
        effective = load_config(config.getoption("--calpolicy-config", default=None))
        clm = config.getoption("--clm", default=None)
        if clm:
            effective = effective.with_overrides({"paths.clm_file": clm}, "--clm")
    except ConfigError as error:
        identity["calpolicy config digest"] = f"(the config could not be loaded: {error})"
        return identity
    identity["calpolicy config digest"] = config_digest(effective.as_dict())
    identity["calpolicy CLM file"] = str(effective.paths.clm_file)
    return identity


def config_digest(values: dict[str, Any]) -> str:
    """sha256 of the effective config's canonical JSON (sorted keys, no spaces): the manifest's digest."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
