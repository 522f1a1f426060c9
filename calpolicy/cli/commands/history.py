"""``calpolicy history``: every apply and rollback, oldest first, from the append-only history file, after the
jobs it records as aborted (an abort is recorded there too, so a cut in the jobs folder cannot undo it)."""

from __future__ import annotations

import argparse

from calpolicy.cli.commands.common import config_from, json_text, printable
from calpolicy.jobs import history as apply_history
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK, EXIT_GO


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("history", help="list every apply and rollback of the live calibration")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from calpolicy.apply.deploy import LivePaths, read_live  # pydantic, numpy: only once the command runs

    paths = LivePaths.from_config(config_from(args))
    try:
        entries = apply_history.read(paths.history)
    except OSError as error:
        print(f"calpolicy history: cannot read {paths.history}: {error.strerror}")
        return EXIT_COULD_NOT_CHECK
    rows = apply_history.completed(entries)
    aborts = [e for e in entries if e.get("phase") == apply_history.ABORT]
    live = read_live(paths).version
    if args.json:
        print(json_text({"live": live, "history": rows, "aborts": aborts}))
        return EXIT_GO
    print(f"live: {live}   ({paths.calibration_file}; history in {paths.history})")
    if not rows:
        print("no apply or rollback recorded yet")
    begins = iter(rows)
    for entry in entries:  # in the file's order: applies, rollbacks and aborts as they happened
        if entry.get("phase") == apply_history.ABORT:  # a job ended without going live: approve refuses it
            print(printable(
                f"{str(entry.get('at', '?'))[:19]}  abort    job {entry.get('job_id')} by {entry.get('by')}: "
                f"{entry.get('note')}"
            ))  # fmt: skip
        elif entry.get("phase") == "begin":
            _show(next(begins))
    return EXIT_GO


def _show(row: dict) -> None:
    status = "" if row["completed"] else "   [INTERRUPTED: not confirmed complete]"
    job = f" job {row['job_id']}" if row.get("job_id") else ""
    # every field as text: a hand-edited line (a number where text belongs) is shown, not a traceback
    print(printable(  # a hand-edited line's control characters are shown, never obeyed by the terminal
        f"{str(row.get('at', '?'))[:19]}  {row.get('event', '?')!s:8} {row.get('from')} → {row.get('to')}  "
        f"by {row.get('by')}{job}; rollback target then: {row.get('then_previous') or '-'}{status}"
    ))  # fmt: skip
