"""policy_report.html as a person sees it: rendered by a real headless Chromium (pytest-html 4 builds
its results table with JavaScript, so reading the file as text would not see the rows)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from unit_tests.report.jobfolder import Job

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (install.sh installs it)")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_chromium
def test_rendered_report_has_every_row_its_controls_the_environment_and_the_plot(go_job: Job, tmp_path: Path) -> None:
    html = go_job.dir / "policy_report.html"
    done = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", html.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    results = [json.loads(line) for line in (go_job.dir / "policy_results.jsonl").read_text().splitlines()]
    assert len(results) == 17
    rows = {
        nodeid: (outcome, body)
        for outcome, nodeid, body in re.findall(
            r'<tbody class="results-table-row (\w+)" id="([^"]+)">(.*?)</tbody>', dom, flags=re.S
        )
    }
    assert len(rows) == len(results), "the rendered table does not hold one row per test"
    for result in results:
        assert result["nodeid"] in rows, f"no rendered row for {result['nodeid']}"
        outcome, row = rows[result["nodeid"]]
        status = result.get("outcome", result.get("status"))  # the contract's name, or the recorder's today
        assert outcome == {"pass": "passed", "fail": "failed", "skip": "skipped"}.get(status, "error")
        assert f">{result['nodeid']}<" in row
        controls = re.search(r'<td class="col-controls">(.*?)</td>', row)
        assert controls is not None, f"{result['nodeid']}: no Controls cell"
        assert re.split(r"[,\s]+", controls.group(1).strip()) == result.get("ids", result.get("controls"))
    environment = re.search(r'<table id="environment">(.*?)</table>', dom, flags=re.S)
    assert environment is not None, "no environment table"
    table = environment.group(1)
    clm = go_job.manifest["clm"]
    for key, value in (
        ("Job ID", go_job.id),
        ("Operator", "Kari Nordmann"),
        ("On call until", go_job.manifest["on_call_until"]),
        ("CLM sha256", clm["sha256"]),
        ("CLM lines", str(clm["lines"])),
        ("Config digest", go_job.manifest["config_digest"]),
        ("calpolicy version", "0.1.0"),
    ):
        assert re.search(rf"<td>{re.escape(key)}</td>\s*<td>(<div>)?{re.escape(value)}(</div>)?</td>", table), (
            f"environment: {key}"
        )
    assert re.search(r'<img class="calpolicy-plot"[^>]*src="data:image/png;base64,iVBORw0KGgo', dom), "no embedded plot"
    assert "Ready for review — calibration job cal_20260102_030405" in dom


@needs_chromium
def test_screenshot_renders(go_job: Job, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = _chromium(
        tmp_path, "--window-size=1400,2400", f"--screenshot={shot}", go_job.dir.joinpath("policy_report.html").as_uri()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 50_000, "the screenshot is nearly empty"


# ------------------------------------------------------------------ what a reviewer must see (issue 22 §4)


def _dom(job: Job, tmp_path: Path) -> str:
    done = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", (job.dir / "policy_report.html").as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _cells(table_html: str) -> list[list[str]]:
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S) for row in re.findall(r"<tr>(.*?)</tr>", table_html)]
    return [row for row in rows if row]  # the header row has <th> cells only


def _table(dom: str, css_class: str) -> str:
    found = re.search(rf'<table class="{css_class}"[^>]*>(.*?)</table>', dom, flags=re.S)
    assert found is not None, f"no {css_class} table"
    return found.group(1)


@needs_chromium
def test_the_phase0_gate_is_in_the_signed_report_with_its_evidence_and_time(go_job: Job, tmp_path: Path) -> None:
    dom = _dom(go_job, tmp_path)
    title = "Phase 0 — the gate: the preflight that allowed this calibration to run"
    assert f'<h3 class="calpolicy-gate">{title}</h3>' in dom
    gate = go_job.manifest["preflight"]
    assert f"the preflight started at {gate['started_at']}, which took 8.2 s" in dom
    rows = [json.loads(line) for line in (go_job.dir / "preflight_results.jsonl").read_text().splitlines()]
    cells = {row[0]: row for row in _cells(_table(dom, "calpolicy-gate"))}
    assert len(cells) == len(rows) == gate["items"]
    for row in rows:
        (cid,) = row["controls"]
        assert cells[cid][1] == row["status"].upper()
        assert cells[cid][2] == html_text(row["passed"][0][1]), cid


@needs_chromium
def test_drift_is_a_table_of_four_significant_digits_with_its_conclusion(go_job: Job, tmp_path: Path) -> None:
    dom = _dom(go_job, tmp_path)
    assert "{'" not in dom, "a raw Python dict in the report"
    rows = _cells(_table(dom, "calpolicy-drift"))
    report = json.loads((go_job.dir / "report.json").read_text())
    assert [r[0] for r in rows] == [m["model"] for m in report["summary"]["models"]]
    for row in rows:
        assert row[-1] in ("yes", "no"), "the conclusion (significant) is shown, not cut"
        for cell in row[1:-1]:
            digits = re.sub(r"[^0-9]", "", cell.split("e")[0]).lstrip("0")
            assert len(digits) <= 4, f"{cell!r} has more than 4 significant digits"
    assert re.search(r"Drift: (no significant drift|SIGNIFICANT drift) between the earliest and the latest", dom)


@needs_chromium
def test_held_out_n_and_the_binding_band_are_said(go_job: Job, tmp_path: Path) -> None:
    dom = _dom(go_job, tmp_path)
    report = json.loads((go_job.dir / "report.json").read_text())
    models = {m["model"]: m for m in report["summary"]["models"]}
    table = {row[0]: row for row in _cells(_table(dom, "calpolicy-models"))}
    for name, model in models.items():
        assert table[name][2] == str(model["n_evaluated"]), "the held-out n the decision used"
        assert model["max_change"] == pytest.approx(0.15)  # this job's maps all sit on the band
    smallest = min(models.values(), key=lambda m: m["n_evaluated"])
    small_n = next(r["text"] for r in report["risks"] if r["kind"] == "small n")
    assert f"{smallest['model']} with {smallest['n_evaluated']} trades (of {smallest['n']} in all)" in small_n
    binding = re.search(r'<p class="calpolicy-binding"[^>]*>(.*?)</p>', dom, flags=re.S)
    assert binding is not None, "a binding band is not said"
    assert f"binding for {', '.join(models)}" in binding.group(1)
    assert "corrects only part" in binding.group(1)
    assert "still off the diagonal" in binding.group(1)


@needs_chromium
def test_a_stop_jobs_summary_names_each_models_failing_item(stop_job: Job, tmp_path: Path) -> None:
    dom = _dom(stop_job, tmp_path)
    report = json.loads((stop_job.dir / "report.json").read_text())
    failed = {}
    for finding in report["metrics"]["bound_findings"]:
        if finding["status"] == "fail":
            model = "ensemble" if finding["id"] == "P2.2.b" else finding["message"].split(":")[0]
            failed.setdefault(model, []).append(finding["id"])
    assert failed, "the STOP job has failing bound items"
    table = {row[0]: row for row in _cells(_table(dom, "calpolicy-models"))}
    for name, row in table.items():
        status = re.sub(r"<[^>]+>", "", row[3])
        if name in failed:
            assert status == f"STOP: {', '.join(failed[name])} failed", name
        else:
            assert status == "ok", name
    assert not re.search(r'<p class="calpolicy-binding"', dom), "no band is binding in this job"
    verdict = re.search(r'<h2 class="calpolicy-verdict"[^>]*>(.*?)</h2>\s*<ul>(.*?)</ul>', dom, flags=re.S)
    assert verdict is not None
    assert "…" not in verdict.group(1) + verdict.group(2), "a reason cut in the verdict block"
    assert html_text(report["reasons"][0]) in verdict.group(1)


@needs_chromium
def test_one_item_count_explained_and_evidence_never_cut(go_job: Job, tmp_path: Path) -> None:
    dom = _dom(go_job, tmp_path)
    results = [json.loads(line) for line in (go_job.dir / "policy_results.jsonl").read_text().splitlines()]
    tested = {cid for r in results for cid in r.get("ids", r.get("controls"))}
    total = len(tested) + 1  # run.sandbox, checked by run itself (the manifest's run_checks)
    verdict = re.search(r'<p class="calpolicy-run-verdict"[^>]*><strong>(.*?)</strong>', dom)
    assert verdict is not None
    assert verdict.group(1).startswith(f"GO — job {go_job.id}: all {total} items passed")
    count = re.search(r'<p class="calpolicy-item-count">(.*?)</p>', dom)
    assert count is not None
    assert count.group(1).startswith(
        f"{total} checklist items = {len(tested)} checked by {len(results)} policy tests + 1 checked by "
        "calpolicy run itself (run.sandbox)"
    )
    assert f"{len(results)} Passed" in dom, "pytest-html's own count is the tests'"
    items = re.search(r'<pre class="calpolicy-items"[^>]*>(.*?)</pre>', dom, flags=re.S)
    assert items is not None
    assert "…" not in items.group(1), "evidence cut in the verdict block"
    band_line = next(line for line in items.group(1).splitlines() if "P2.2.a" in line)
    assert all(name in band_line for name in ("ensemble", "lgbm", "nhits", "patchtst", "xgb"))


@needs_chromium
def test_the_environment_table_names_each_thing_once(go_job: Job, tmp_path: Path) -> None:
    dom = _dom(go_job, tmp_path)
    keys = re.findall(r"<tr>\s*<td>([^<]+)</td>", _environment(dom))
    assert len(keys) == len(set(keys)), keys
    assert "calpolicy config digest" not in keys
    assert "calpolicy CLM file" not in keys
    assert {"Config digest", "CLM file", "CLM sha256"} <= set(keys)


def _environment(dom: str) -> str:
    found = re.search(r'<table id="environment">(.*?)</table>', dom, flags=re.S)
    assert found is not None
    return found.group(1)


def html_text(text: str) -> str:
    import html

    return html.escape(text, quote=False)
