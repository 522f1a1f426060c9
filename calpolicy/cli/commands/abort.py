"""``calpolicy abort JOB_ID [--reason TEXT]``: archive a proposed job; nothing else changes (checklist 3.2).

The job folder stays where it is, as evidence; only its manifest moves to ``aborted`` with who, when and
why. The abort is also one line in the apply history beside the live config, written first and under the
apply lock (``calpolicy.apply.deploy.abort``), so that cutting the jobs folder's own records cannot make
the job approvable again. The live calibration, the CLM log and every other job are not touched.
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
    ``approve`` of a decided job: a STOP, nothing changed (docs/operator-guide.md, "Already decided") — or
    the abort could not be recorded (the apply history or the jobs folder cannot be written; the lock is
    held): the message says what was and was not recorded."""
    from calpolicy.apply.deploy.abort import AlreadyDecided, HalfRecorded, abort_job
    from calpolicy.apply.deploy.live import DeployError  # pydantic: only once the command runs

    config = config_from(args)
    by = args.by or getpass.getuser()
    try:
        store_for(config).manifest(args.job_id)
    except JobError as error:
        raise UsageError(str(error)) from None
    try:
        outcome = abort_job(config, args.job_id, by, args.reason)
    except AlreadyDecided as error:
        print(printable(f"STOP — {error}. Nothing changed."))
        return EXIT_STOP
    except HalfRecorded as error:
        print(printable(f"ABORTED, NOT COMPLETE — {error}"))
        return EXIT_STOP
    except DeployError as error:  # the lock is held, the history or the jobs folder cannot be written
        print(printable(f"STOP — job {args.job_id} was not aborted: {error}. Nothing changed."))
        return EXIT_STOP
    if outcome.done == "finished":
        print(printable(f"ABORTED — job {args.job_id}: the abort the apply history held is now recorded in the jobs "
                        "folder too; nothing was applied or changed."))  # fmt: skip
    elif outcome.done == "backfilled":
        print(printable(f"ABORTED — job {args.job_id} was already aborted; its abort is now recorded in the apply "
                        "history too; nothing was applied or changed."))  # fmt: skip
    else:
        print(printable(f"ABORTED — job {args.job_id} archived by {by}; nothing was applied or changed."))
    for line in outcome.lines:  # notes after the verdict, which is the first line as for every command
        print(printable(line))
    return EXIT_GO
