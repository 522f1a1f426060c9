"""Checklist 3.1 — the review report is complete, on the job's actual files (report.md, report.json, plot).

"Missing report = no decision": every section must be present and non-empty, in order, in both files;
the plot must be a real PNG with one panel per model; and the numbers must be the proposal's own.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from calpolicy.review.report import DO_NOT_APPLY, PANELS_KEY, READY, SECTION_CONTROLS, SECTION_TITLES

pytestmark = pytest.mark.report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _md_section(report_md: str, key: str) -> str:
    """The body of one report.md section: between its heading and the next ``## ``."""
    heading = f"## {SECTION_TITLES[key]}"
    assert heading in report_md, f"report.md has no '{heading}' section"
    body = report_md.split(heading, 1)[1].split("\n", 1)[1]
    return body.split("\n## ", 1)[0].strip()


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.control("P3.1.a")
def test_summary_comes_first_with_the_verdict(report_md: str, report_json: dict, job_proposal: Any) -> None:
    """Line one is the verdict; the summary names the data, every model's before/after and the bounds."""
    first = report_md.splitlines()[0] if report_md else ""
    assert first.startswith(("# Ready for review", f"# {DO_NOT_APPLY}")), f"first line is not a verdict: {first!r}"
    assert report_json["verdict"] in (READY, DO_NOT_APPLY)
    assert (report_json["verdict"] == DO_NOT_APPLY) == (DO_NOT_APPLY in first)
    sections = [line for line in report_md.splitlines() if line.startswith("## ")]
    expected = [f"## {SECTION_TITLES[k]}  ({SECTION_CONTROLS[k]})" for k in SECTION_TITLES]
    assert sections == expected, f"report.md sections out of order or missing: {sections}"
    summary = report_json["summary"]
    assert summary["data"]["sha256"] == job_proposal.inputs["sha256"], "the summary names other data"
    assert summary["data"]["trades"] == job_proposal.inputs["records"]
    assert [m["model"] for m in summary["models"]] == list(job_proposal.models), "summary omits a model"
    assert summary["bounds"], "the summary has no bound results"
    assert summary["largest_change"]["max_change"] == max(m.max_change for m in job_proposal.models.values())
    assert _md_section(report_md, "summary")


@pytest.mark.control("P3.1.b")
def test_before_after_metrics_are_the_proposals(report_json: dict, report_md: str, job_proposal: Any) -> None:
    """Per model: Brier before/after, improvement and interval equal the proposal's; the deciding rule is named."""
    metrics = report_json["metrics"]
    assert metrics["evaluation"]["rule"], "the report does not say which rule decided"
    rows = {m["model"]: m for m in metrics["models"]}
    assert set(rows) == set(job_proposal.models)
    for name, result in job_proposal.models.items():
        row = rows[name]
        for key in ("brier_before", "brier_after", "improvement"):
            assert _close(row[key], getattr(result, key)), f"{name}.{key}: report {row[key]} ≠ proposal"
        assert row["n"] == result.n
        expected = None if result.interval is None else list(result.interval)
        assert (row["interval"] is None) == (expected is None)
        if expected is not None:
            assert all(_close(a, b) for a, b in zip(row["interval"], expected, strict=True))
    body = _md_section(report_md, "metrics")
    for name in job_proposal.models:
        assert f"| {name} |" in body, f"report.md metrics table has no row for {name}"


@pytest.mark.control("P3.1.c")
def test_reliability_tables_and_plot(job_dir: Path, report_json: dict, report_md: str, job_proposal: Any) -> None:
    """A table per model with counts and Wilson intervals, and a PNG with one panel per model."""
    tables = {t["model"]: t for t in report_json["reliability"]["tables"]}
    assert list(tables) == list(job_proposal.models)
    for name, result in job_proposal.models.items():
        bins = tables[name]["bins"]
        source = getattr(result, "reliability_before", None) or []
        assert len(bins) == len(source), f"{name}: reliability table lost bins"
        if result.status == "ok":
            assert bins, f"{name}: no reliability table for a model that was scored"
        for mine, theirs in zip(bins, source, strict=True):
            for key in ("n", "mean_confidence", "win_rate", "wilson_lo", "wilson_hi"):
                assert _close(mine[key], theirs[key]), f"{name}: reliability {key} {mine[key]} ≠ proposal"
        for b in bins:
            assert b["wilson_lo"] <= b["win_rate"] <= b["wilson_hi"]
            assert 0.0 <= b["calibrated"] <= 1.0
        assert f"### {name}" in _md_section(report_md, "reliability")
    png = job_dir / "reliability.png"
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC), "reliability.png is not a PNG"
    from PIL import Image

    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        width, height = image.size
        panels = image.info.get(PANELS_KEY, "")
    assert min(width, height) >= 300, f"reliability.png is {width}x{height}: too small to read"
    assert panels.split(",") == list(job_proposal.models), f"plot panels {panels!r} ≠ the proposal's models"


@pytest.mark.control("P3.1.d")
def test_risk_section(report_json: dict, report_md: str) -> None:
    """Risks cover small n, the time span, class balance, drift and what out-of-sample numbers can tell."""
    kinds = {r["kind"] for r in report_json["risks"]}
    missing = {"small n", "time span", "class balance", "drift", "out of sample"} - kinds
    assert not missing, f"the risk section says nothing about: {sorted(missing)}"
    assert all(r["text"].strip() for r in report_json["risks"])
    assert _md_section(report_md, "risks").count("\n- ") + 1 == len(report_json["risks"])


@pytest.mark.control("P3.1.e")
def test_do_not_apply_if_section(report_json: dict, report_md: str, job_manifest: dict) -> None:
    """Concrete conditions from this job: its data's last trade, its CLM digest, its on-call time, its bounds."""
    items = report_json["do_not_apply_if"]
    text = "\n".join(items)
    clm = job_manifest.get("clm") or {}
    assert clm.get("sha256"), "the manifest records no CLM digest"
    assert clm["sha256"] in text, "DO NOT APPLY IF does not pin the analysed CLM bytes"
    for topic in ("regime", "24 h", "bound"):
        assert topic in text, f"DO NOT APPLY IF says nothing about {topic!r}"
    assert str(job_manifest.get("job_id")) in text
    body = _md_section(report_md, "do_not_apply_if")
    assert body.count("- ") >= len(items)
