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
import time
from pathlib import Path
from typing import Any

import pytest

from calpolicy.files.strict_json import parse_json

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
        manifest = parse_json((job_dir / "manifest.json").read_text(encoding="utf-8"))
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


# Rows the plugin adds for any policy run that a job's own rows already show (from its signed manifest):
# one row each, the job's, so the table never shows two digests of one thing.
SHOWN_BY_THE_JOB = ("calpolicy config digest", "calpolicy CLM file")


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
        others = {k: v for k, v in metadata.items() if k not in SHOWN_BY_THE_JOB}
        metadata.clear()
        metadata.update(job_metadata(self.job_dir))
        metadata.update(others)

    def _report_json(self) -> dict[str, Any]:
        try:
            loaded = parse_json((self.job_dir / REPORT_JSON).read_text(encoding="utf-8"))
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
    from calpolicy.review.report.content import full_headline

    try:
        report = parse_json((job_dir / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [
            '<h2 class="calpolicy-verdict stop">DO NOT APPLY — the job has no readable report '
            f"({html.escape(str(error))})</h2>"
        ]
    ready = report.get("verdict") != "DO NOT APPLY"
    colour = "#1e8449" if ready else "#c0392b"
    out = [
        f'<h2 class="calpolicy-verdict" style="color:{colour}">{html.escape(full_headline(report))}</h2>',
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
    out.append(_models_table(summary.get("models", [])))
    binding = summary.get("band_binding")
    if binding:
        out.append(
            '<p class="calpolicy-binding" style="border-left:4px solid #b9770e;padding:4px 8px;background:#fef5e7">'
            f"<b>Bound binding:</b> {html.escape(binding['text'])}.</p>"
        )
    bounds = "".join(
        f"<li><b>{html.escape(b['id'])} {html.escape(b['status'].upper())}</b>: {html.escape(b['message'])}</li>"
        for b in summary.get("bounds", [])
    )
    out.append(f"<p>Safety bounds:</p><ul>{bounds}</ul>")
    out.extend(_drift_html(report.get("risks", [])))
    plot = job_dir / PLOT
    if plot.is_file():
        encoded = base64.b64encode(plot.read_bytes()).decode("ascii")
        out.append(
            f'<img class="calpolicy-plot" alt="reliability plot" style="max-width:min(100%, 1000px)" '
            f'src="data:image/png;base64,{encoded}"/>'
        )
    out.extend(gate_html(job_dir))
    return out


_TABLE = 'style="border-collapse:collapse" border="1" cellpadding="4"'
_MODEL_COLUMNS = (
    ("model", "model"),
    ("n", "n"),
    ("n_evaluated", "n held out"),
    ("status", "status"),
    ("brier_before", "Brier before"),
    ("brier_after", "Brier after"),
    ("improvement", "rel. improvement"),
    ("max_change", "max change"),
)


def _models_table(models: list[dict[str, Any]]) -> str:
    """One row per model; a model whose bound items failed says so in red, in its status cell."""
    rows = []
    for m in models:
        cells = []
        for key, _ in _MODEL_COLUMNS:
            text = html.escape(_fmt(m.get(key), percent=key == "improvement", digits=3 if key == "max_change" else 4))
            stop = key == "status" and str(m.get(key)) != "ok"
            cells.append(f'<td style="color:#c0392b;font-weight:bold">{text}</td>' if stop else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{html.escape(title)}</th>" for _, title in _MODEL_COLUMNS)
    return f'<table class="calpolicy-models" {_TABLE}><tr>{header}</tr>{"".join(rows)}</table>'


def _drift_html(risks: list[dict[str, Any]]) -> list[str]:
    """The drift check as a table (4 significant digits, the conclusion above it), never a raw dict."""
    from calpolicy.review.report.content import DRIFT_COLUMNS, sig

    out = []
    for risk in risks:
        rows = risk.get("table") if risk.get("kind") == "drift" else None
        if not rows:
            continue
        header = "".join(f"<th>{html.escape(title)}</th>" for _, title in DRIFT_COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(sig(row.get(key)))}</td>" for key, _ in DRIFT_COLUMNS) + "</tr>"
            for row in rows
        )
        out.append(f"<p>Drift: {html.escape(risk['text'])}</p>")
        out.append(f'<table class="calpolicy-drift" {_TABLE}><tr>{header}</tr>{body}</table>')
    return out


def gate_html(job_dir: Path) -> list[str]:
    """Phase 0 as it gated this job: the preflight's results (preflight_results.jsonl, signed with the job),
    each item with its evidence, and when it ran and how long it took (from the manifest)."""
    try:
        manifest = parse_json((job_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    record = manifest.get("preflight") if isinstance(manifest.get("preflight"), dict) else {}
    name = record.get("results") or "preflight_results.jsonl"
    title = '<h3 class="calpolicy-gate">Phase 0 — the gate: the preflight that allowed this calibration to run</h3>'
    try:
        lines = (job_dir / name).read_text(encoding="utf-8").splitlines()
        rows = [parse_json(line) for line in lines if line.strip()]
    except (OSError, ValueError) as error:
        why = html.escape(str(error))
        return [title, f'<p style="color:#c0392b">No readable Phase 0 results in this job folder ({why}): '
                "the report cannot show what gated the calibration.</p>"]  # fmt: skip
    items: dict[str, dict[str, Any]] = {}
    for row in rows:
        evidence = {cid: text for cid, text in row.get("passed") or []}
        for cid in row.get("controls") or []:
            item = items.setdefault(cid, {"status": "pass", "evidence": [], "duration_s": 0.0, "tests": []})
            if row.get("status") != "pass":
                item["status"] = str(row.get("status"))
            item["evidence"].append(evidence.get(cid) or str(row.get("message") or f"passed ({row.get('nodeid')})"))
            item["duration_s"] += float(row.get("duration_s") or 0.0)
            item["tests"].append(str(row.get("nodeid")))
    passed = sum(1 for item in items.values() if item["status"] in ("pass", "waived"))
    when = record.get("started_at", "an unrecorded time")
    duration = record.get("duration_s")
    took = f"{duration:.1f} s" if isinstance(duration, (int, float)) else "an unrecorded time"
    verdict = record.get("verdict") or ("GO" if passed == len(items) else "STOP")
    intro = (
        f"<p><b>{html.escape(str(verdict))}</b> — {passed} of {len(items)} Phase 0 and stop-signal items passed in "
        f"the preflight started at {html.escape(str(when))}, which took {html.escape(took)} "
        f"({len(rows)} tests). <code>calpolicy run</code> calibrates only after this preflight says GO: these "
        f"results are why it ran. They are {html.escape(name)} in the job folder, covered by the signature.</p>"
    )
    body = "".join(
        f"<tr><td>{html.escape(cid)}</td><td>{html.escape(item['status'].upper())}</td>"
        f"<td>{'<br>'.join(html.escape(e) for e in dict.fromkeys(item['evidence']))}</td>"
        f"<td>{item['duration_s'] * 1000:.0f} ms</td></tr>"
        for cid, item in items.items()
    )
    table = (
        f'<table class="calpolicy-gate" {_TABLE}><tr><th>item</th><th>status</th><th>evidence</th>'
        f"<th>test time</th></tr>{body}</table>"
    )
    return [title, intro, table]


def job_verdict(job_dir: Path, tested: Any, n_tests: int) -> tuple[Any, str, str]:
    """The job's verdict as ``calpolicy run`` gave it: the policy tests' items plus the checks ``run`` made
    itself (``run_checks`` in the manifest); its title; and the sentence that explains the counts."""
    from calpolicy.vocabulary.render import item_count_text
    from calpolicy.vocabulary.verdict import Finding, Verdict

    try:
        manifest = parse_json((job_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    checks = [c for c in manifest.get("run_checks") or [] if isinstance(c, dict) and c.get("id")]
    own = Verdict(tuple(Finding(str(c["id"]), str(c.get("status")), str(c.get("message") or "")) for c in checks))
    tested_ids = tested.item_statuses()
    extra = tuple(i for i in own.item_statuses() if i not in tested_ids)
    merged = Verdict(own.findings + tested.findings)
    title = f"job {manifest.get('job_id', job_dir.name)}"
    gate = manifest.get("preflight") if isinstance(manifest.get("preflight"), dict) else {}
    text = item_count_text(len(tested_ids), n_tests, extra) + "."
    if gate.get("items"):
        text += f" The {gate['items']} Phase 0 items that gated the run are in their own section (the gate)."
    return merged, title, text


def _fmt(value: Any, percent: bool = False, digits: int = 4) -> str:
    if isinstance(value, float) and percent:
        return f"{100 * value:+.2f}%"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "—" if value is None else str(value)


def _span_text(data: dict[str, Any]) -> str:
    span = data.get("span_days")
    if not isinstance(span, (int, float)):
        return "time span unknown"
    return f"span {span:.1f} days, last trade {data.get('last_trade')}"
