"""``pytest -m preflight`` as a gate: run the policy suite in a child process and read its verdict.

The suite runs as a child (not in-process) so that a hung probe can be killed at a deadline and so the
preflight's verdict comes from exactly the tests an operator can run by hand. Plugin auto-loading is
switched off in the child: only calpolicy's plugin is loaded, which keeps start-up fast and keeps
unrelated plugins from changing the outcome. The verdict is built fail-closed from the results file: a
skipped test is a failure, a run with no results is "could not check", and every Phase 0 / stop-signal
item must have produced at least one result.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calpolicy.controls import registered
from calpolicy.render import render_verdict
from calpolicy.verdict import Finding, Verdict

# Every item the registry says a preflight test enforces — the CLM.* data checks included — must report.
PREFLIGHT_IDS: tuple[str, ...] = registered("preflight")
RUN_ID = "preflight.run"
# Phase 0 and the stop signals live here (DESIGN.md: preflight = phase0 + stop signals). Collecting only
# these keeps the gate from importing the calibration stack for tests it would deselect anyway; an item
# whose test went missing is still caught, because every PREFLIGHT_IDS item must report a result.
PREFLIGHT_DIRS = ("phase0", "stop_signals")
TITLE = "preflight (Phase 0 + absolute stop signals)"
_STATUS = {"pass": "pass", "fail": "fail", "error": "error"}
_NOISE = re.compile(r"^(Failed: |(\w+\.)*CouldNotCheck: |AssertionError: )")


def policy_dir() -> Path:
    """The installed policy suite (a package shipped with calpolicy), wherever it lives."""
    import policy_tests

    return Path(policy_tests.__file__).parent


@dataclass(frozen=True)
class PreflightRun:
    verdict: Verdict
    rows: list[dict[str, Any]]
    returncode: int | None
    duration_s: float
    output_tail: str


def pytest_argv(
    results: Path,
    config_path: Path | None = None,
    operator: str | None = None,
    on_call_until: str | None = None,
    clm: str | None = None,
    now: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    argv = [
        sys.executable, "-m", "pytest", *(str(policy_dir() / d) for d in PREFLIGHT_DIRS), "-m", "preflight",
        "-p", "calpolicy.plugin", "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
        "--calpolicy-results", str(results),
    ]  # fmt: skip
    for option, value in (
        ("--calpolicy-config", config_path),
        ("--operator", operator),
        ("--on-call-until", on_call_until),
        ("--clm", clm),
        ("--calpolicy-now", now),
    ):
        if value is not None:
            argv += [option, str(value)]
    return [*argv, *extra]


def run_preflight(
    config_path: Path | None = None,
    operator: str | None = None,
    on_call_until: str | None = None,
    clm: str | None = None,
    now: str | None = None,
    timeout_s: float = 120.0,
    extra: Sequence[str] = (),
) -> PreflightRun:
    """Run the preflight suite and turn its per-test results into a verdict."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="calpolicy-preflight-") as tmp:
        results = Path(tmp) / "results.jsonl"
        argv = pytest_argv(results, config_path, operator, on_call_until, clm, now, extra)
        env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        env.pop("CALPOLICY_RESULTS", None)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, env=env, stdin=subprocess.DEVNULL
            )
            returncode: int | None = done.returncode
            output = (done.stdout + done.stderr).strip()
        except subprocess.TimeoutExpired as error:
            returncode = None
            output = f"the preflight suite did not finish within {timeout_s:g} s and was stopped. " + (
                (error.stdout or b"").decode("utf-8", "replace") if isinstance(error.stdout, bytes) else ""
            )
        rows = read_rows(results)
    tail = "\n".join(output.splitlines()[-15:])
    return PreflightRun(build_verdict(rows, returncode, tail), rows, returncode, time.monotonic() - started, tail)


def read_rows(results: Path) -> list[dict[str, Any]]:
    if not results.exists():
        return []
    rows = []
    for line in results.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def _clean(message: str, control_id: str) -> str:
    text = _NOISE.sub("", message.strip())
    text = re.sub(rf"^{re.escape(control_id)} (FAIL|ERROR): ", "", text)
    return text or "(no message)"


def build_verdict(rows: list[dict[str, Any]], returncode: int | None, output_tail: str = "") -> Verdict:
    """One finding per (test result, control ID); fail closed on skips, silence and missing items."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for row in rows:
        status = _STATUS.get(str(row.get("status")), "fail")
        evidence = {"test": row.get("nodeid"), "phase": row.get("when"), "duration_s": row.get("duration_s")}
        message = str(row.get("message") or "")
        for control_id in row.get("controls") or ["(no control ID)"]:
            seen.add(control_id)
            if row.get("status") == "skip":
                text = f"the check was skipped, and a skipped check is not a pass: {_clean(message, control_id)}"
            elif status == "pass":
                text = f"passed ({row.get('nodeid')})"
            else:
                text = _clean(message, control_id)
            findings.append(Finding(control_id, status, text, evidence))
    if not rows:
        why = "exited with status " + str(returncode) if returncode is not None else "timed out"
        findings.append(Finding(RUN_ID, "error", f"the preflight ran no test (pytest {why}): {output_tail[-800:]}", {}))
        return Verdict(tuple(findings))
    if returncode not in (0, 1):
        findings.append(
            Finding(
                RUN_ID,
                "error",
                f"the preflight run did not complete normally (pytest exit {returncode}): {output_tail[-800:]}",
                {"returncode": returncode},
            )
        )
    for control_id in PREFLIGHT_IDS:
        if control_id not in seen:
            findings.append(Finding(control_id, "error", "no preflight test ran for this item", {}))
    return Verdict(tuple(findings))


def render(run: PreflightRun, max_lines_per_item: int = 6) -> str:
    """GO/STOP first, then each failing item (ID, message, test), trimmed to fit one screen."""
    verdict = run.verdict
    trimmed = []
    for finding in verdict.findings:
        lines = finding.message.splitlines() or [""]
        if len(lines) > max_lines_per_item:
            lines = [*lines[:max_lines_per_item], f"… ({len(lines) - max_lines_per_item} more lines)"]
        test = finding.evidence.get("test")
        if finding.status in ("fail", "error") and test:
            lines.append(f"[{test}]")
        trimmed.append(Finding(finding.id, finding.status, "\n      ".join(lines), finding.evidence))
    text = render_verdict(Verdict(tuple(trimmed)), f"{TITLE} in {run.duration_s:.1f} s")
    if verdict.go:  # the passes are listed by render_verdict; one line per item is enough
        passed = sorted({f.id for f in verdict.findings})
        text = text.splitlines()[0] + "\n  PASS  " + ", ".join(passed)
    return text
