"""``calpolicy rollback [VERSION|none]``: back to the previous, to any archived, or to no calibration."""

from __future__ import annotations

import argparse
import getpass
import sys

from calpolicy.cli.commands.common import UsageError, config_from, print_applied, printable
from calpolicy.vocabulary.verdict import EXIT_GO, EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rollback", help="return the live config to the previous version, an archived one, or none"
    )
    parser.add_argument(
        "version",
        nargs="?",
        default="previous",
        metavar="VERSION",
        help="archived version or archive file stem; 'none' = no calibration (default: the previous version)",
    )
    parser.add_argument("--by", default=None, help="who rolls back (default: the login name)")
    parser.add_argument(
        "--allow-restart",
        action="store_true",
        help="if the engine does not confirm the version (no hot reload), restart the AI engine unit once",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from calpolicy.apply.archive import validate_version  # pydantic, numpy: only once the command runs
    from calpolicy.apply.deploy import DeployError, NothingToDo, rollback

    config = config_from(args)
    if args.version != "previous":
        try:
            validate_version(args.version)
        except ValueError as error:
            raise UsageError(str(error)) from None
    by = args.by or getpass.getuser()
    try:
        outcome = rollback(config, args.version, by, allow_restart=args.allow_restart)
    except NothingToDo as error:
        print(printable(f"OK — {error}"))
        return EXIT_GO
    except DeployError as error:
        print(printable(f"STOP — {error}"), file=sys.stderr)
        return EXIT_STOP
    return print_applied("ROLLED BACK", outcome, config, args)
