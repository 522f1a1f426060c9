"""The review report on real job folders: verdict first, the sections in order, the proposal's numbers,
and the phase 3 policy suite that holds a job's files to all of that (run for real, in a child pytest)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from calpolicy.calibrate import Proposal
from calpolicy.calibrate.proposal import ModelResult
from calpolicy.review.report import DO_NOT_APPLY, READY, build_report, render_markdown
from calpolicy.vocabulary.verdict import Finding, Verdict
from unit_tests.report.jobfolder import Job, run_policy_suite


def _results(job_dir: Path) -> dict[str, dict]:
    """Test name → {"status", "message"}; reads the contract's ``outcome`` or the recorder's ``status``."""
    rows = [json.loads(line) for line in (job_dir / "policy_results.jsonl").read_text().splitlines()]
    return {
        row["nodeid"].split("::")[-1]: {"status": row.get("outcome", row.get("status")), "message": row.get("message")}
        for row in rows
    }


def test_go_job_report_is_ready_and_complete(go_job: Job) -> None:
    md = (go_job.dir / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Ready for review — calibration job cal_20260102_030405")
    report = json.loads((go_job.dir / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == READY
    assert list(report)[-5:] == ["summary", "metrics", "reliability", "risks", "do_not_apply_if"]
    statuses = {row["status"] for row in _results(go_job.dir).values()}
    assert statuses == {"pass"}


def test_stop_job_says_do_not_apply_on_its_first_line(stop_job: Job) -> None:
    md = (stop_job.dir / "report.md").read_text(encoding="utf-8")
    first = md.splitlines()[0]
    assert first.startswith("# DO NOT APPLY — calibration job"), first
    assert "P2.2.b FAIL" in first
    report = json.loads((stop_job.dir / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == DO_NOT_APPLY
    assert report["do_not_apply_if"][0] == "THIS JOB SAID STOP: do not apply it at all"
    results = _results(stop_job.dir)
    # the report of a STOP job is complete (P3.1 passes) but the decision cannot be made (P3.2.b fails)
    assert {results[name]["status"] for name in results if name.startswith("test_") and "report" in name} <= {"pass"}
    assert results["test_all_safety_bounds_ok"]["status"] == "fail"
    assert results["test_ensemble_improves_out_of_fold"]["status"] == "fail"


def test_markdown_and_json_carry_the_same_numbers(go_job: Job) -> None:
    report = json.loads((go_job.dir / "report.json").read_text(encoding="utf-8"))
    assert render_markdown(report) == (go_job.dir / "report.md").read_text(encoding="utf-8")


def test_phase3_suite_catches_a_wrong_report_and_a_bad_decision_record(
    go_job: Job, job_copy: Callable[[Job], Path]
) -> None:
    folder = job_copy(go_job)
    md = (folder / "report.md").read_text(encoding="utf-8")
    risks_start = md.index("## Risks")
    (folder / "report.md").write_text(md[:risks_start] + md[md.index("## DO NOT APPLY IF") :], encoding="utf-8")
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    report["metrics"]["models"][0]["brier_after"] *= 0.9  # a prettier number than the proposal's
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (folder / "reliability.png").write_bytes(b"not a png")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    created = datetime.fromisoformat(manifest["created_at"])
    manifest["on_call_until"] = (created + timedelta(hours=2)).isoformat()
    manifest["state"] = "approved"
    manifest["approval"] = {
        "at": manifest["created_at"],
        "reviewed_report": False,
        "on_call_24h": True,
        "models": ["ensemble"],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    tampered = Job(go_job.root, folder, go_job.clm, go_job.config_file, go_job.config, go_job.manifest)
    (folder / "policy_results.jsonl").unlink()
    done = run_policy_suite(tampered, "phase3", html=False)
    assert done.returncode == 1, done.stdout
    results = _results(folder)
    assert results["test_summary_comes_first_with_the_verdict"]["status"] == "fail"
    assert results["test_before_after_metrics_are_the_proposals"]["status"] == "fail"
    assert results["test_reliability_tables_and_plot"]["status"] == "fail"
    assert results["test_risk_section"]["status"] == "fail"
    assert "not a PNG" in results["test_reliability_tables_and_plot"]["message"]
    assert results["test_report_there_to_review"]["status"] == "fail"  # approval without a reviewed report
    assert "less than 24 h" in results["test_decider_on_call_for_24h"]["message"]
    assert "partial approval" in results["test_no_partial_decision"]["message"]


def test_phase3_without_a_job_could_not_check(go_job: Job, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from unit_tests.report.jobfolder import POLICY_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(POLICY_DIR / "phase3"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--calpolicy-config",
            str(go_job.config_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "run with --job DIR" in done.stdout


@dataclasses.dataclass(frozen=True)
class _NewerResult(ModelResult):
    """What a newer engine (issue 7) might add: the report must show such fields, not drop them."""

    improvement_lower_bound: float | None = None
    drift_z: float | None = None


def test_report_shows_fields_a_newer_engine_adds(go_job: Job) -> None:
    proposal = Proposal.from_json((go_job.dir / "proposal.json").read_text(encoding="utf-8"))
    models = {
        name: _NewerResult(
            **{f.name: getattr(r, f.name) for f in dataclasses.fields(r)}, drift_z=3.4, improvement_lower_bound=0.071
        )
        for name, r in proposal.models.items()
    }
    newer = dataclasses.replace(proposal, models=models)
    bounds = Verdict((Finding("P2.2.b", "pass", "lower bound 7.1% ≥ 5%"),))
    report = build_report(newer, bounds, Verdict(()), {"job_id": "cal_20260101_000000"})
    more = report["metrics"]["models"][0]["more"]
    assert {"improvement_lower_bound": 0.071, "drift_z": 3.4}.items() <= more.items()
    assert any(r["kind"] == "drift" and "drift_z = 3.4" in r["text"] for r in report["risks"])
    md = render_markdown(report)
    assert "improvement_lower_bound: 0.071" in md
    assert md.startswith("# Ready for review")
    no_bounds = build_report(newer, Verdict(()), Verdict(()), {"job_id": "cal_20260101_000000"})
    assert render_markdown(no_bounds).startswith("# DO NOT APPLY"), "no bound result must never read as ready"


def test_a_run_reports_its_data_span_and_holdout_when_the_data_verdict_has_no_evidence(go_job: Job) -> None:
    """A run hands the report the preflight's verdict, whose passing rows carry no evidence: the span, the
    last trade and the scored window must come from the proposal's windows, never read "— days"."""
    proposal = Proposal.from_json((go_job.dir / "proposal.json").read_text(encoding="utf-8"))
    silent = Verdict((Finding("S.a", "pass", ""), Finding("S.f", "pass", "")))
    bounds = Verdict((Finding("P2.2.b", "pass", "lower bound 7.1% ≥ 5%"),))
    report = build_report(proposal, bounds, silent, {"job_id": go_job.id})
    windows = proposal.windows
    first = min(datetime.fromisoformat(w["from"]) for w in windows.values())
    last = max(datetime.fromisoformat(w["to"]) for w in windows.values())
    data = report["summary"]["data"]
    assert data["last_trade"] == last.isoformat()
    assert data["span_days"] == round((last - first).total_seconds() / 86400, 3) > 0
    md = render_markdown(report)
    assert f"Span: {data['span_days']:.1f} days, last trade {last.isoformat()}" in md
    holdout = windows["holdout"]
    assert f"scored on the newest {holdout['records']} (lines {holdout['first_line']}–{holdout['last_line']}" in md
    assert "— folds" not in md
    assert "None folds" not in md
