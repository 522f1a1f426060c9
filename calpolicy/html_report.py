"""The job's policy_report.html: pytest-html, made into the report the on-call person reads.

Active only when pytest runs with ``--job DIR`` and ``--html``. It then
- forces a self-contained file (one HTML, plot embedded), whatever the caller passed;
- puts the job's metadata at the top of the environment table: job ID, operator, on-call-until, the CLM
  digest and line count, the config digest and the calpolicy version (from the job's manifest.json);
- adds a "Controls" column with each test's checklist IDs;
- shows the report's verdict line, its one-screen summary and the reliability plot above the results,
  and attaches the plot and the summary as extras to the Phase 3 report tests (P3.1.c, P3.1.a).

Registered from ``plugin.py`` through ``pytest_plugins``; it imports pytest, so it stays out of the
library proper like the plugin itself.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path
from typing import Any

import pytest

JOB_OPTION = "--job"
PLOT = "reliability.png"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
_KEY = pytest.StashKey["JobHtml"]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before pytest-html builds its report object: make it self-contained and hook the job in."""
    job = config.getoption(JOB_OPTION, default=None)
    if not job or not config.getoption("htmlpath", default=None) or not _html_loaded(config):
        return
    config.option.self_contained_html = True
    plugin = JobHtml(Path(job))
    config.stash[_KEY] = plugin
    config.pluginmanager.register(plugin, "calpolicy-job-html")


def _html_loaded(config: pytest.Config) -> bool:
    """pytest-html under its entry-point name, or loaded by module (``-p pytest_html.plugin``, as ``run`` does
    with plugin autoloading off)."""
    return any(config.pluginmanager.hasplugin(name) for name in ("html", "pytest_html.plugin"))


def job_metadata(job_dir: Path) -> dict[str, str]:
    """The environment-table rows for a job, read from its manifest; a bad manifest says so in the table."""
    try:
        manifest = json.loads((job_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {"Job ID": job_dir.name, "Job manifest": f"UNREADABLE: {error}"}
    clm = manifest.get("clm") or {}
    return {
        "Job ID": str(manifest.get("job_id", job_dir.name)),
        "Operator": str(manifest.get("operator")),
        "On call until": str(manifest.get("on_call_until")),
        "CLM sha256": str(clm.get("sha256")),
        "CLM lines": str(clm.get("lines")),
        "CLM file": f"{clm.get('path')} ({clm.get('bytes')} bytes analysed)",
        "Config digest": str(manifest.get("config_digest")),
        "calpolicy version": str(manifest.get("calpolicy_version")),
        "Job created": str(manifest.get("created_at")),
    }


class JobHtml:
    """The pytest-html hooks for one job folder."""

    def __init__(self, job_dir: Path) -> None:
        self.job_dir = job_dir

    # ------------------------------------------------------------------------------ environment table

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # ``calpolicy run`` starts the tests before the job is written: its table must show the job, so
        # wait (as the tests do, ``--job-wait``) for the manifest, which is written after the report.
        deadline = time.monotonic() + float(session.config.getoption("--job-wait", default=0.0) or 0.0)
        while not (self.job_dir / "manifest.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pytest-html depends on pytest-metadata; without it there is no table
            return
        metadata = session.config.stash.get(metadata_key, None)
        if metadata is None:
            return
        others = dict(metadata)
        metadata.clear()
        metadata.update(job_metadata(self.job_dir))
        metadata.update(others)

    def _report_json(self) -> dict[str, Any]:
        try:
            loaded = json.loads((self.job_dir / REPORT_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def pytest_html_report_title(self, report: Any) -> None:
        verdict = self._report_json().get("verdict", "no report")
        report.title = f"calpolicy job {job_metadata(self.job_dir)['Job ID']} — {verdict}"

    # ------------------------------------------------------------------------------------ the table

    # The Controls column itself comes from plugin_output, for every policy run, job or not.

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        if report.when != "call":
            return
        ids = {str(arg) for marker in item.iter_markers("control") for arg in marker.args}
        from pytest_html import extras

        added = list(getattr(report, "extras", []))
        if "P3.1.c" in ids and (self.job_dir / PLOT).is_file():
            encoded = base64.b64encode((self.job_dir / PLOT).read_bytes()).decode("ascii")
            added.append(extras.png(encoded, name="reliability.png"))
        if "P3.1.a" in ids and (self.job_dir / REPORT_MD).is_file():
            added.append(extras.text((self.job_dir / REPORT_MD).read_text(encoding="utf-8"), name="report.md"))
        report.extras = added

    # --------------------------------------------------------------------------------- the summary

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        prefix.extend(summary_html(self.job_dir))


def summary_html(job_dir: Path) -> list[str]:
    """The verdict line, the one-screen summary and the embedded plot, as HTML fragments."""
    try:
        report = json.loads((job_dir / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [
            '<h2 class="calpolicy-verdict stop">DO NOT APPLY — the job has no readable report '
            f"({html.escape(str(error))})</h2>"
        ]
    ready = report.get("verdict") != "DO NOT APPLY"
    colour = "#1e8449" if ready else "#c0392b"
    out = [
        f'<h2 class="calpolicy-verdict" style="color:{colour}">{html.escape(str(report.get("headline")))}</h2>',
    ]
    if report.get("reasons"):
        out.append("<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in report["reasons"]) + "</ul>")
    summary = report.get("summary", {})
    data = summary.get("data", {})
    out.append(
        "<p>"
        + html.escape(
            f"Data analysed: {data.get('trades')} trades ({data.get('lines')} lines) of {data.get('path')}, "
            f"sha256 {data.get('sha256')}; {_span_text(data)}."
        )
        + "</p>"
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_fmt(m.get(k), percent=k == 'improvement'))}</td>"
            for k in ("model", "n", "status", "brier_before", "brier_after", "improvement", "max_change")
        )
        + "</tr>"
        for m in summary.get("models", [])
    )
    out.append(
        '<table class="calpolicy-models" style="border-collapse:collapse" border="1" cellpadding="4">'
        "<tr><th>model</th><th>n</th><th>status</th><th>Brier before</th><th>Brier after</th>"
        f"<th>rel. improvement</th><th>max change</th></tr>{rows}</table>"
    )
    bounds = "".join(
        f"<li><b>{html.escape(b['id'])} {html.escape(b['status'].upper())}</b>: {html.escape(b['message'])}</li>"
        for b in summary.get("bounds", [])
    )
    out.append(f"<p>Safety bounds:</p><ul>{bounds}</ul>")
    plot = job_dir / PLOT
    if plot.is_file():
        encoded = base64.b64encode(plot.read_bytes()).decode("ascii")
        out.append(
            f'<img class="calpolicy-plot" alt="reliability plot" style="max-width:min(100%, 1000px)" '
            f'src="data:image/png;base64,{encoded}"/>'
        )
    return out


def _fmt(value: Any, percent: bool = False) -> str:
    if isinstance(value, float) and percent:
        return f"{100 * value:+.2f}%"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def _span_text(data: dict[str, Any]) -> str:
    span = data.get("span_days")
    if not isinstance(span, (int, float)):
        return "time span unknown"
    return f"span {span:.1f} days, last trade {data.get('last_trade')}"
