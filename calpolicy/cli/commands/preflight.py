"""``calpolicy preflight``: Phase 0 and the absolute stop signals against the live host → GO / STOP."""

from __future__ import annotations

import argparse
import json
import math

from calpolicy.cli.commands.common import UsageError, config_from, parse_instant


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preflight", help="run Phase 0 and the stop signals (pytest -m preflight) against the live host"
    )
    parser.add_argument("--json", action="store_true", help="print the machine-readable verdict")
    parser.add_argument("--operator", help="who attests to being available for review and the 24 h watch (S.d)")
    parser.add_argument("--on-call-until", help="ISO-8601 end of that operator's on-call period (S.d)")
    parser.add_argument("--clm", help="trade log to check (default: paths.clm_file from the config)")
    parser.add_argument("--now", help="judge data freshness as of this ISO-8601 instant (default: now)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="stop the suite after this many seconds (default 120)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list every passing item with what was verified")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    parse_instant(args.now, "--now")
    parse_instant(args.on_call_until, "--on-call-until")  # malformed is a usage error, as --now is
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError(f"--timeout must be a positive, finite number of seconds, got {args.timeout!r}")
    config_from(args)  # a broken config is a usage error (exit 2) before any probe runs
    from calpolicy.preflight import render, run_preflight

    outcome = run_preflight(
        config_path=getattr(args, "config", None),
        operator=args.operator,
        on_call_until=args.on_call_until,
        clm=args.clm,
        now=args.now,
        timeout_s=args.timeout,
    )
    if args.json:
        document = outcome.verdict.to_dict()
        document["duration_s"] = round(outcome.duration_s, 3)
        print(json.dumps(document, indent=2, default=str))
    else:
        print(render(outcome, verbose=args.verbose))
    return outcome.verdict.exit_code
