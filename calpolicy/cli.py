"""The ``calpolicy`` command. Exit codes: 0 GO/OK, 1 STOP, 2 usage error, 3 could not check."""

from __future__ import annotations

import argparse
import importlib
import sys

from calpolicy.commands.common import UsageError, usage_failure
from calpolicy.verdict import EXIT_USAGE

COMMAND_MODULES = (
    "calpolicy.commands.check_data",
    "calpolicy.commands.preflight",
    "calpolicy.commands.demo",
    "calpolicy.commands.config_show",
    "calpolicy.commands.watch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calpolicy",
        description="Gate, prove, apply and watch confidence re-calibration (the checklist as tests).",
    )
    parser.add_argument(
        "--config", help="calpolicy.toml to use (else CALPOLICY_CONFIG, else ./calpolicy.toml)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except UsageError as error:
        return usage_failure(error)


if __name__ == "__main__":
    sys.exit(main())
