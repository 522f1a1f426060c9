"""``calpolicy approve JOB_ID``: a human's decision to apply a proposed, signed, green job (checklist 3.2, 4.1)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calpolicy.cli.commands.common import UsageError, config_from, parse_instant, print_applied, printable
from calpolicy.vocabulary.verdict import EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("approve", help="apply a proposed job's calibration to the live config")
    parser.add_argument("job_id", metavar="JOB_ID", help="the job to apply (cal_YYYYMMDD_HHMMSS)")
    parser.add_argument("--approver", required=True, help="your name; recorded in the config and the manifest")
    parser.add_argument("--reviewed", action="store_true", help="I have read the job's report (P3.2.a)")
    parser.add_argument("--on-call-until", required=True, help="ISO-8601 end of your on-call period (P3.2.c)")
    parser.add_argument("--yes", action="store_true", help="confirm: write the live config now")
    parser.add_argument(
        "--allow-restart",
        action="store_true",
        help="if the engine does not confirm the new version (no hot reload), restart the AI engine unit once",
    )
    parser.set_defaults(handler=run)


def check_arguments(args: argparse.Namespace, min_hours: float) -> None:
    if not args.approver.strip():
        raise UsageError("--approver must name a person")
    if not args.reviewed:
        raise UsageError("--reviewed is required: the report must have been reviewed before approval (P3.2.a)")
    if not args.yes:
        raise UsageError("--yes is required: approve writes the live calibration config")
    parse_instant(args.on_call_until, "--on-call-until")  # malformed: a usage error (exit 2)
    from calpolicy.jobs import JobError, validate_job_id

    try:
        validate_job_id(args.job_id)
    except JobError as error:
        raise UsageError(str(error)) from None


def on_call_too_short(on_call_until: str, min_hours: float) -> str | None:
    """P3.2.c: the approver stays on call for the whole watch after apply; why not, or None.

    The same rule as the preflight's S.d: a window too short is a policy failure (STOP, exit 1) in both;
    only a malformed instant is a usage error (exit 2).
    """
    until = parse_instant(on_call_until, "--on-call-until")
    assert until is not None
    if until < datetime.now(UTC) + timedelta(hours=min_hours):
        return f"P3.2.c FAIL: --on-call-until {on_call_until} does not cover the {min_hours:g} h watch after apply"
    return None


def run(args: argparse.Namespace) -> int:
    from calpolicy.apply.deploy import DeployError, approve_job
    from calpolicy.jobs import JobError, read_job_files
    from calpolicy.review.approval import approval_preconditions  # pydantic, numpy: only once the command runs

    config = config_from(args)
    check_arguments(args, config.operator.min_on_call_hours)
    job_dir = Path(config.paths.jobs_dir) / args.job_id
    if not (job_dir / "manifest.json").is_file():
        raise UsageError(f"no job {args.job_id} in {config.paths.jobs_dir}")
    short = on_call_too_short(args.on_call_until, config.operator.min_on_call_hours)
    if short:  # a policy item (P3.2.c, as S.d in the preflight): a STOP, exit 1 — not a usage error
        print(f"STOP — job {args.job_id} is NOT applied; the live config is unchanged:")
        print(f"  - {short}")
        return EXIT_STOP
    try:
        files = read_job_files(job_dir)  # read ONCE: these bytes are verified, judged and applied
    except JobError as error:
        print(printable(f"STOP — job {args.job_id} is NOT applied; the live config is unchanged: {error}"))
        return EXIT_STOP
    # progress on stderr: the verdict (APPLIED / STOP) is the first line of stdout, as for every command
    print(
        f"approve {args.job_id}: checking signature, state, policy results, CLM log and a fresh preflight …",
        file=sys.stderr,
        flush=True,
    )
    problems = approval_preconditions(
        job_dir,
        config,
        operator=args.approver,
        on_call_until=args.on_call_until,
        config_path=getattr(args, "config", None),
        files=files,
    )
    if problems:
        print(f"STOP — job {args.job_id} is NOT applied; the live config is unchanged:")
        for problem in problems:
            print(printable(f"  - {problem}"))  # may quote a planted test name or file
        return EXIT_STOP
    try:
        outcome = approve_job(
            config,
            args.job_id,
            args.approver,
            on_call_until=args.on_call_until,
            allow_restart=args.allow_restart,
            files=files,
        )
    except DeployError as error:
        print(printable(f"STOP — job {args.job_id}: {error}"))
        return EXIT_STOP
    return print_applied("APPLIED", outcome, config, args)
