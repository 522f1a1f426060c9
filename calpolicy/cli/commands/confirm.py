"""``calpolicy confirm [--allow-restart]``: does the AI engine serve the written calibration? (checklist 4.1)

The real engine loads ``calibration.json`` only at start, so after approve or rollback without
``--allow-restart`` the new file is written but NOT live. This command looks for the engine's own evidence
(its log line, or the hot-reload loader's acknowledgement, from the unit's current main process); with
``--allow-restart`` it does the one restart the checklist allows for that change (never a second one),
recorded under the change's history entry, and confirms again. Exit 0 live, 1 not live, 3 could not check.
"""

from __future__ import annotations

import argparse
import getpass

from calpolicy.cli.commands.common import config_from, printable
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK, EXIT_GO, EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "confirm", help="is the written calibration live in the AI engine? --allow-restart: restart it once"
    )
    parser.add_argument(
        "--allow-restart",
        action="store_true",
        help="if the engine does not serve the written version, restart its unit once (the one P4.1.c allows)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from calpolicy.apply.confirmation import confirm_live, epoch_seconds, headline
    from calpolicy.apply.deploy.common import _lock, _note
    from calpolicy.apply.deploy.live import DeployError, LivePaths, Outcome, read_live
    from calpolicy.jobs import history as apply_history

    config = config_from(args)
    paths = LivePaths.from_config(config)
    try:
        with _lock(paths, getpass.getuser(), "calpolicy confirm"):
            live = read_live(paths)
            entries = apply_history.read(paths.history)
            begins = [e for e in entries if e.get("phase") == "begin" and e.get("to") == live.version]
            begin = begins[-1] if begins else None
            if begin is None:
                outcome = Outcome("confirm", live.version, live.version)
                allow, done = False, False
                if args.allow_restart:
                    print(f"note: no approve or rollback in {paths.history} made {live.version} live: no restart")
            else:
                event, before = str(begin.get("event")), str(begin.get("from"))
                outcome = Outcome(event, before, live.version, entry_id=begin.get("id"))
                done = any(e.get("id") == begin.get("id") and e.get("phase") == "restart" for e in entries)
                allow = args.allow_restart
            result = confirm_live(
                config,
                paths.marker,
                live.version,
                epoch_seconds(begin.get("at")) if begin else 0.0,
                allow,
                lambda phase, **fields: _note(paths, outcome, phase, **fields),
                restart_done=done,
            )
    except DeployError as error:
        print(printable(f"COULD NOT CHECK — {error}"))
        return EXIT_COULD_NOT_CHECK
    print(headline("CONFIRMED", live.version, result, paths.marker, getattr(args, "config", None)))
    for line in result.lines:
        print(printable(f"  {line}"))
    if result.live:
        return EXIT_GO
    return EXIT_COULD_NOT_CHECK if result.could_not_check else EXIT_STOP
