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
