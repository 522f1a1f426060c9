"""``calpolicy localenv up DIR`` / ``calpolicy localenv down DIR``: a local environment to practise on.

``up`` stays in the foreground (Ctrl-C or SIGTERM stops it); ``down`` stops it from another terminal.
Exit codes: 0 done (``down`` also when nothing was up), 2 usage (already up, a folder the namespace
cannot see), 3 could not start or stop it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from calpolicy.cli.commands.common import UsageError, positive_int
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK, EXIT_GO


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "localenv", help="bring up (or down) the demo's environment in DIR to practise the operator flow by hand"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="build it in DIR, print the --config to use, stay up until stopped")
    up.add_argument("dir", metavar="DIR", help="folder for the environment (created; kept afterwards)")
    up.add_argument(
        "--trades", type=positive_int, default=1100, help="trades in the generated log (default 1100, as the demo)"
    )
    up.set_defaults(handler=run_up)
    down = actions.add_parser("down", help="stop the environment `localenv up DIR` runs (harmless if none)")
    down.add_argument("dir", metavar="DIR", help="the folder given to `localenv up`")
    down.set_defaults(handler=run_down)


def run_up(args: argparse.Namespace) -> int:
    from calpolicy.localenv.session import LocalenvError, up

    if args.trades < 2:
        raise UsageError(f"--trades must be at least 2 (a generated log spans time between trades), got {args.trades}")
    try:
        return up(Path(args.dir), n_trades=args.trades)
    except LocalenvError as error:
        raise UsageError(str(error)) from None
    except (OSError, RuntimeError, TimeoutError) as error:  # redis-server missing, a port, systemd not booting
        print(f"calpolicy localenv: could not bring the environment up: {type(error).__name__}: {error}")
        return EXIT_COULD_NOT_CHECK


def run_down(args: argparse.Namespace) -> int:
    from calpolicy.localenv.session import LocalenvError, down

    try:
        print(down(Path(args.dir)))
    except LocalenvError as error:
        print(f"calpolicy localenv: {error}")
        return EXIT_COULD_NOT_CHECK
    return EXIT_GO
