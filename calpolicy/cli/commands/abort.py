"""``calpolicy abort JOB_ID [--reason TEXT]``: archive a proposed job; nothing else changes (checklist 3.2).

The job folder stays where it is, as evidence; only its manifest moves to ``aborted`` with who, when and
why. The live calibration, the CLM log and every other job are not touched.
"""

from __future__ import annotations

import argparse
import getpass

from calpolicy.cli.commands.common import UsageError, config_from, printable
from calpolicy.cli.commands.job_lookup import JobError, store_for
from calpolicy.vocabulary.verdict import EXIT_GO, EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("abort", help="archive a proposed job without applying anything")
    parser.add_argument("job_id", help="the job to abort (cal_YYYYMMDD_HHMMSS)")
    parser.add_argument("--reason", default="", help="why the job is aborted (recorded in its manifest)")
    parser.add_argument("--by", default=None, help="who aborts it (default: the login name)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 aborted; 2 no such job (a usage error); 1 the job is already decided — the same rule as
    ``approve`` of a decided job: a STOP, nothing changed (docs/operator-guide.md, "Already decided")."""
    config = config_from(args)
    by = args.by or getpass.getuser()
    store = store_for(config)
    try:
        state = store.manifest(args.job_id).get("state")
    except JobError as error:
        raise UsageError(str(error)) from None
    if state != "proposed":
        why = f"is already {state}; only a proposed job can be aborted"
        print(printable(f"STOP — job {args.job_id} {why}. Nothing changed."))
        return EXIT_STOP
    try:
        store.transition(args.job_id, "aborted", by, note=args.reason or "aborted, no reason given")
    except JobError as error:  # decided by someone else between the read and the lock
        print(printable(f"STOP — job {args.job_id} was not aborted: {error}. Nothing changed."))
        return EXIT_STOP
    print(printable(f"ABORTED — job {args.job_id} archived by {by}; nothing was applied or changed."))
    return EXIT_GO
