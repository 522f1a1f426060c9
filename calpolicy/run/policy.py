"""The Phase 1-3 policy tests on the job, as a child pytest started early; fail closed like the preflight."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from calpolicy.preflight import build_verdict, policy_dir, read_rows
from calpolicy.vocabulary.controls import CHECKLIST
from calpolicy.vocabulary.verdict import Verdict

POLICY_DIRS = ("phase1", "phase2", "phase3")
POLICY_MARKERS = "lockdown or proposal or report"
POLICY_IDS: tuple[str, ...] = tuple(cid for cid in CHECKLIST if cid.startswith(("P1.", "P2.", "P3.")))
HTML_REPORT = "policy_report.html"


_OUTCOME = {"pass": "pass", "fail": "fail", "error": "error", "skip": "skip"}


def _policy_argv(results: Path, job_dir: Path, config_path: Path | None, wait_s: float) -> list[str]:
    argv = [
        sys.executable, "-m", "pytest", *(str(policy_dir() / d) for d in POLICY_DIRS), "-m", POLICY_MARKERS,
        "-p", "calpolicy.plugin", "-p", "pytest_metadata.plugin", "-p", "pytest_html.plugin",
        "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
        "--calpolicy-results", str(results), "--job", str(job_dir), "--job-wait", f"{wait_s:g}",
        "--html", str(job_dir / HTML_REPORT), "--self-contained-html",
    ]  # fmt: skip
    if config_path is not None:
        argv += ["--calpolicy-config", str(config_path)]
    return argv


class PolicyTests:
    """Phase 1 and 2 on the job, as a child pytest started early; fail closed like the preflight."""

    def __init__(self, config_path: Path | None, job_dir: Path, environ: Mapping[str, str], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tmp = tempfile.TemporaryDirectory(prefix="calpolicy-policy-")
        self.results = Path(self.tmp.name) / "results.jsonl"
        env = {**environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        env.pop("CALPOLICY_RESULTS", None)
        self.child = subprocess.Popen(
            _policy_argv(self.results, job_dir, config_path, timeout_s), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, text=True, start_new_session=True,
        )  # fmt: skip

    def finish(self) -> tuple[list[dict[str, Any]], Verdict]:
        try:
            output, _ = self.child.communicate(timeout=self.timeout_s)
            returncode: int | None = self.child.returncode
        except subprocess.TimeoutExpired:
            self.cancel()
            returncode, output = None, f"the policy tests did not finish within {self.timeout_s:g} s"
        rows = read_rows(self.results)
        tail = "\n".join(output.strip().splitlines()[-15:])
        return rows, build_verdict(rows, returncode, tail, POLICY_IDS, "policy tests")

    def cancel(self) -> None:
        """Stop the child and everything it started (its sandboxes), and drop its scratch folder."""
        if self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.child.pid, signal.SIGKILL)
            self.child.communicate()
        self.tmp.cleanup()


def _contract_row(row: dict[str, Any]) -> dict[str, Any]:
    """policy_results.jsonl as CONTRACTS.md fixes it: nodeid, ids, outcome, message."""
    return {
        "nodeid": row.get("nodeid"),
        "ids": list(row.get("controls") or []),
        "outcome": _OUTCOME.get(str(row.get("status")), "error"),
        "message": str(row.get("message") or ""),
    }
