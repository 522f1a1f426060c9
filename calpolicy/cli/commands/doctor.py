"""``calpolicy doctor``: check this host's set-up item by item and say what to fix (calpolicy.cli.doctor)."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the host's set-up before the first run and say, item by item, what to fix",
        description="Exit 0 when every item holds, 1 when one needs a fix, 3 when one could not be checked.",
    )
    parser.add_argument("--json", action="store_true", help="print the items as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from calpolicy.cli.doctor import diagnose, exit_code, render

    checks = diagnose(getattr(args, "config", None))
    code = exit_code(checks)
    if args.json:
        print(json.dumps({"exit_code": code, "items": [c.as_dict() for c in checks]}, indent=2, ensure_ascii=False))
    else:
        print(render(checks))
    return code
