"""Phase 0, the preflight: ``pytest -m preflight`` as a gate — the policy suite in a child, its verdict read.

The package owns the checklist's Phase 0 outside the trade log and the stop signals the host is asked
about: the probes (``probes/``: P0.1.a-d systemd units, P0.1.e the AI engine's journal, P0.1.f Redis
latency and backlog, P0.3.a-c the learning-cadence readiness API, S.b market extreme, S.c execution
errors, S.d operator availability, S.e Risk-Safety HALT) and this gate, which judges every Phase 0 and
stop-signal item (the trade-log items P0.2.a-e, S.a, S.f, CLM.* are judged by ``calpolicy.clm``) from
the policy suite's results. May import: the vocabulary, ``calpolicy.files``.

The suite runs as a child (not in-process) so that a hung probe can be killed at a deadline and so the
preflight's verdict comes from exactly the tests an operator can run by hand. Plugin auto-loading is
switched off in the child: only calpolicy's plugin is loaded, which keeps start-up fast and keeps
unrelated plugins from changing the outcome. The verdict is built fail-closed from the results file: a
skipped test is a failure, a run with no results is "could not check", and every Phase 0 / stop-signal
item must have produced at least one result.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calpolicy.files.strict_json import parse_json
from calpolicy.vocabulary.controls import registered
from calpolicy.vocabulary.render import render_verdict
from calpolicy.vocabulary.verdict import Finding, Verdict

# Every item the registry says a preflight test enforces — the CLM.* data checks included — must report.
PREFLIGHT_IDS: tuple[str, ...] = registered("preflight")
RUN_ID = "preflight.run"
CLM_JUDGED_SUFFIX = ".clm.json"  # beside the results file: the CLM bytes the data checks judged
# Phase 0 and the stop signals live here (DESIGN.md: preflight = phase0 + stop signals). Collecting only
# these keeps the gate from importing the calibration stack for tests it would deselect anyway; an item
# whose test went missing is still caught, because every PREFLIGHT_IDS item must report a result.
PREFLIGHT_DIRS = ("phase0", "stop_signals")
TITLE = "preflight (Phase 0 + absolute stop signals)"
_STATUS = {"pass": "pass", "fail": "fail", "error": "error", "waived": "waived"}
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
    clm: dict[str, Any] | None = None  # the CLM bytes the data checks judged: path, bytes, lines, sha256


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
    test_timeout_s: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> PreflightRun:
    """Run the preflight suite and turn its per-test results into a verdict.

    Each test's setup and call get ``test_timeout_s`` (default: a third of ``timeout_s``, at most 60 s)
    inside the child, so one slow probe costs its own item and every other finding survives.
    """
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"the preflight timeout must be a positive number of seconds, got {timeout_s!r}")
    per_test = test_timeout_s if test_timeout_s is not None else min(60.0, timeout_s / 3)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="calpolicy-preflight-") as tmp:
        results = Path(tmp) / "results.jsonl"
        argv = pytest_argv(results, config_path, operator, on_call_until, clm, now, extra)
        env = {
            **(os.environ if environ is None else environ),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "CALPOLICY_TEST_TIMEOUT_S": f"{per_test:g}",
        }
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
                partial_output(error.stdout)
            )
        rows = read_rows(results)
        clm = _read_judged(results)
    tail = "\n".join(output.splitlines()[-15:])
    verdict = build_verdict(rows, returncode, tail)
    return PreflightRun(verdict, rows, returncode, time.monotonic() - started, tail, clm)


def partial_output(stdout: object) -> str:
    """What a child killed at its deadline had written, as text for the "did not finish" message.

    ``subprocess`` hands over the raw bytes read so far even with ``text=True`` (or ``None`` when nothing
    arrived); bytes that are not UTF-8 — a write cut mid-character by the kill — are replaced, not fatal.
    """
    return stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else ""


def _read_judged(results: Path) -> dict[str, Any] | None:
    path = Path(str(results) + CLM_JUDGED_SUFFIX)
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_rows(results: Path) -> list[dict[str, Any]]:
    if not results.exists():
        return []
    rows = []
    for line in results.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(parse_json(line))
    return rows


def _clean(message: str, control_id: str) -> str:
    text = _NOISE.sub("", message.strip())
    text = re.sub(rf"^{re.escape(control_id)} (FAIL|ERROR): ", "", text)
    return text or "(no message)"


def _passed_text(row: dict[str, Any], control_id: str) -> str:
    """What this item's checks said when they passed, as the plugin recorded it (``row["passed"]``)."""
    said = [pair for pair in row.get("passed") or [] if isinstance(pair, list | tuple) and len(pair) == 2]
    return "; ".join(str(text) for cid, text in said if cid == control_id)


def build_verdict(
    rows: list[dict[str, Any]],
    returncode: int | None,
    output_tail: str = "",
    required: Sequence[str] = PREFLIGHT_IDS,
    suite: str = "preflight",
) -> Verdict:
    """One finding per (test result, control ID); fail closed on skips, silence and missing ``required`` items.

    ``calpolicy preflight`` and the plugin's end-of-run verdict (``pytest -m preflight``) both build
    their verdict here, so the two always agree on the same results.
    """
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
            elif status == "pass":  # the checks' own words when the test recorded them (see plugin.enforce)
                text = _passed_text(row, control_id) or f"passed ({row.get('nodeid')})"
            elif status == "waived":
                text = f"{message or 'passed only under a waiver'} ({row.get('nodeid')})"
            else:
                text = _clean(message, control_id)
            findings.append(Finding(control_id, status, text, evidence))
    if not rows:
        if returncode is None:
            why = "timed out"
        elif returncode < 0:
            why = f"was killed by {_signal_name(-returncode)}"
        else:
            why = f"exited with status {returncode}"
        message = f"the {suite} ran no test (pytest {why}): {output_tail[-800:]}"
        findings.append(Finding(f"{suite}.run", "error", message, {}))
        return Verdict(tuple(findings))
    if returncode is not None and returncode < 0:
        findings.append(
            Finding(
                f"{suite}.run",
                "error",
                f"the {suite} child was killed by {_signal_name(-returncode)} before it finished; the "
                f"findings above are the ones it reported before dying: {output_tail[-800:]}",
                {"returncode": returncode},
            )
        )
    elif returncode not in (0, 1):
        findings.append(
            Finding(
                f"{suite}.run",
                "error",
                f"the {suite} run did not complete normally (pytest exit {returncode}): {output_tail[-800:]}",
                {"returncode": returncode},
            )
        )
    for control_id in required:
        if control_id not in seen:
            findings.append(Finding(control_id, "error", f"no {suite} test ran for this item", {}))
    return Verdict(tuple(findings))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def render(run: PreflightRun, max_lines_per_item: int = 6, verbose: bool = False) -> str:
    """GO/STOP first, then each failing item (ID, message, test), trimmed to fit one screen; ``verbose``
    also lists each passing item with what its checks verified."""
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
    text = render_verdict(Verdict(tuple(trimmed)), f"{TITLE} in {run.duration_s:.1f} s", verbose=verbose)
    if verdict.go and not verbose:  # the passes are listed by render_verdict; one line per item is enough
        passed = sorted({f.id for f in verdict.findings if f.status == "pass"})
        waived = [line for line in text.splitlines()[1:] if line.lstrip().startswith("WAIVED")]
        text = "\n".join([text.splitlines()[0], "  PASS  " + ", ".join(passed), *waived])
    return text
