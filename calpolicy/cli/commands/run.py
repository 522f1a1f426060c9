"""``calpolicy run``: preflight, then the sandboxed calibration → a job folder, then Phase 1-2 on that job."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from calpolicy.cli.commands.common import UsageError, config_from, parse_instant
from calpolicy.files.strict_json import parse_json
from calpolicy.vocabulary.render import render_verdict

MAX_TIMEOUT_S = 86_400.0  # a day: beyond it (or NaN, or inf) a preflight time limit is a typo, not a limit

if TYPE_CHECKING:
    from calpolicy.run.outcome import RunOutcome


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="preflight, then calibrate in the sandbox and write a job for review (proposes, never applies)"
    )
    parser.add_argument("--operator", help="who attests to being available for review and the 24 h watch (S.d)")
    parser.add_argument("--on-call-until", help="ISO-8601 end of that operator's on-call period (S.d)")
    parser.add_argument("--json", action="store_true", help="print the machine-readable verdict with job_id/job_dir")
    parser.add_argument("--now", help="judge data freshness as of this ISO-8601 instant (default: now)")
    parser.add_argument("--timeout", type=float, default=120.0, help="preflight time limit in seconds (default 120)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config_from(args)  # a broken config is a usage error (exit 2) before anything runs
    parse_instant(args.now, "--now")
    if args.on_call_until is not None:
        parse_instant(args.on_call_until, "--on-call-until")
    if not 0 < args.timeout <= MAX_TIMEOUT_S:  # NaN fails this too
        raise UsageError(f"--timeout must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], got {args.timeout:g}")
    from calpolicy.run.job import run_job  # pandas, pyarrow, redis, cryptography: only once the arguments are good

    outcome = run_job(
        getattr(args, "config", None),
        operator=args.operator,
        on_call_until=args.on_call_until,
        now=args.now,
        preflight_timeout_s=args.timeout,
    )
    print(json.dumps(outcome.to_dict(), indent=2, default=str) if args.json else render(outcome))
    return outcome.verdict.exit_code


_STAGE = {
    "preflight": "the preflight did not say GO, so nothing was calibrated and no job was made",
    "job": "the job could not be written, so no job was made",
    "sandbox": "the sandboxed calibration did not produce a proposal, so no job was made",
    "lockdown": "the calibration broke the lockdown and was stopped, so no job was made",
}


def render(outcome: RunOutcome) -> str:
    """GO/STOP and the job first; then why; then what was written and what to do next."""
    verdict = outcome.verdict
    if outcome.job_id is None:
        title = f"calpolicy run — {_STAGE.get(outcome.stage, 'no job was made')}"
        if outcome.stage == "preflight" and outcome.preflight is not None:
            from calpolicy.preflight import render as render_preflight

            text = render_preflight(outcome.preflight)
            text = text.replace("— preflight", "— calpolicy run stopped at the preflight", 1)
            return text + "\n  no job was made: nothing is calibrated until the preflight says GO"
        return render_verdict(verdict, title)
    title = f"calpolicy run, job {outcome.job_id}" + (" — ready for review" if verdict.go else "")
    lines = render_verdict(verdict, title).splitlines()
    if verdict.go:  # the passes are many; the headline and the job matter
        lines = lines[:1]
    clm = outcome.details.get("clm", {})
    grown = outcome.details.get("clm_grown_bytes", 0)
    lines += [
        f"  job folder: {outcome.job_dir}",
        f"  wrote:      {', '.join(outcome.written)}",
        f"  analysed:   {clm.get('path')} — {clm.get('lines')} lines, {clm.get('bytes')} bytes, "
        f"sha256 {str(clm.get('sha256'))[:16]}…" + (f" ({grown} bytes appended since were left out)" if grown else ""),
        f"  lockdown:   audit hook + {outcome.details.get('os_guard')}",
    ]
    counted = _item_count(outcome)
    if counted:
        lines.append(f"  items:      {counted}")
    blocker = outcome.details.get("approve_blocker")
    if verdict.go and blocker:
        lines.append(
            f"  warning:    approve will STOP on this host: {blocker} (P1.1.b, P2.1; docs/apply.md, 'Ensemble weights')"
        )
    if verdict.go:
        lines.append(f"  next:       review the job, then approve or abort {outcome.job_id}")
    else:
        lines.append("  next:       do not apply; the job is kept for the record")
    return "\n".join(lines)


def _item_count(outcome: RunOutcome) -> str | None:
    """The headline's item count explained against the job's tests (the HTML report says the same)."""
    from calpolicy.vocabulary.render import item_count_text

    try:
        text = (Path(str(outcome.job_dir)) / "policy_results.jsonl").read_text(encoding="utf-8")
        rows = [parse_json(line) for line in text.splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    tested = {str(i) for row in rows if isinstance(row, dict) for i in row.get("ids") or row.get("controls") or []}
    own = tuple(i for i in outcome.verdict.item_statuses() if i not in tested)
    return item_count_text(len(tested), len(rows), own)
