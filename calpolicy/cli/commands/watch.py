"""``calpolicy watch``: the post-apply verdict now — OK, ROLLBACK RECOMMENDED or INCONCLUSIVE (checklist 4.2).

It never rolls back by itself: on a breach it prints the exact rollback command for a human to run.
``--json`` prints the README's contract (``findings``; ``signals`` is the same list under its older name).
Exit codes: 0 OK, 1 ROLLBACK RECOMMENDED, 3 could not check, 4 INCONCLUSIVE (hold for a human).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from calpolicy.cli.commands.common import config_from, parse_instant

if TYPE_CHECKING:
    from calpolicy.vocabulary.config import Config

_MARK = {"ok": "OK    ", "breach": "BREACH", "inconclusive": "HOLD  "}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "watch", help="post-apply watch: OK (0), ROLLBACK RECOMMENDED (1), INCONCLUSIVE (4) (checklist 4.2)"
    )
    parser.add_argument("--json", action="store_true", help="print the machine-readable verdict")
    parser.add_argument("--now", help="judge as of this ISO-8601 instant (default: now)")
    parser.add_argument(
        "--in-window",
        action="store_true",
        help="only say whether the watch window (watch.hours after approved_at, and one look more for the final "
        "verdict) is open: exit 0 yes, 1 no",
    )
    parser.set_defaults(handler=run)


def rollback_command(args: argparse.Namespace) -> str:
    words = ["calpolicy"]
    if getattr(args, "config", None):
        words += ["--config", args.config]
    return shlex.join([*words, "rollback"])


def in_window(config: Config, now: datetime | None) -> int:
    """For the timer's ExecCondition: 0 while the watch window is open, 1 (skip this run) otherwise."""
    from calpolicy.watch import WatchError, applied_calibration

    try:
        version, approved_at = applied_calibration(config.paths.calibration_file)
    except WatchError as error:
        print(f"watch window closed: {error}")
        return 1
    # one look past the window's end: the run after the last look gives the day's final verdict (OK needs it)
    end = approved_at + timedelta(hours=config.watch.hours * (1 + 1 / config.watch.looks))
    if (now or datetime.now(UTC)) > end:
        print(f"watch window closed: {version} was approved {config.watch.hours:g} h before {end.isoformat()}")
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    from calpolicy.watch import EXIT_COULD_NOT_CHECK, WatchError, watch

    config = config_from(args)
    now = parse_instant(args.now, "--now")
    if args.in_window:
        return in_window(config, now)
    try:
        report = watch(config, now)
    except WatchError as error:
        if args.json:
            print(json.dumps({"verdict": "COULD NOT CHECK", "exit_code": EXIT_COULD_NOT_CHECK, "error": str(error)}))
        else:
            print(f"COULD NOT CHECK — post-apply watch: {error}")
        return EXIT_COULD_NOT_CHECK
    if args.json:
        payload = report.to_dict()
        if report.verdict == "ROLLBACK RECOMMENDED":
            payload["rollback_command"] = rollback_command(args)
        print(json.dumps(payload, indent=2, default=str))
        return report.exit_code
    elapsed = (report.now - report.approved_at).total_seconds() / 3600
    print(
        f"{report.verdict} — post-apply watch of {report.version or '(unversioned)'}, "
        f"{elapsed:.1f} h after approval at {report.approved_at.isoformat(timespec='seconds')}"
    )
    for signal in report.signals:
        print(f"  {_MARK[signal.status]} {signal.id:<8} {signal.name:<24} {signal.message}")
    for note in report.notes:
        print(f"  note: {note}")
    if report.verdict == "ROLLBACK RECOMMENDED":
        print(f"Roll back now (a human decides; the watch never does it): {rollback_command(args)}")
    elif report.verdict == "INCONCLUSIVE":
        print(
            "INCONCLUSIVE: too little data, or no harm shown *yet* (OK is said only once the window's looks are "
            "complete): hold for a human, check again later."
        )
    sys.stdout.flush()
    return report.exit_code
