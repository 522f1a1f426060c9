"""``calpolicy check-data [PATH]``: the CLM data gate on its own (checklist 0.2, S.a, S.f)."""

from __future__ import annotations

import argparse

from calpolicy.commands.common import config_from, emit, parse_instant


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check-data", help="check the CLM trade log (checklist 0.2, S.a, S.f)")
    parser.add_argument("path", nargs="?", help="trade log (default: paths.clm_file from the config)")
    parser.add_argument("--json", action="store_true", help="print the machine-readable verdict")
    parser.add_argument("--now", help="judge freshness as of this ISO-8601 instant (default: now)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list the passing checks")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    now = parse_instant(args.now, "--now")
    config = config_from(args)
    from calpolicy.clm import check_data, read_clm_for  # pandas/pyarrow: only once the arguments are good
    from calpolicy.waivers import apply_waivers

    if args.path:
        config = config.with_overrides({"paths.clm_file": args.path}, "command line")
    verdict = apply_waivers(check_data(read_clm_for(config), config, now=now), config.waivers)
    return emit(verdict, f"CLM data gate on {config.paths.clm_file}", args.json, args.verbose)
