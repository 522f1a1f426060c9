"""``calpolicy config show``: every effective setting and where it came from."""

from __future__ import annotations

import argparse

from calpolicy.cli.commands.common import config_from


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="inspect the effective configuration")
    parser.add_argument("action", choices=["show"], help="show: print every value and its source")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(config_from(args).show())
    return 0
