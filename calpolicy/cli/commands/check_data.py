"""``calpolicy check-data [PATH]``: the CLM data gate on its own (checklist 0.2, S.a, S.f)."""

from __future__ import annotations

import argparse

from calpolicy.cli.commands.common import config_from, emit, parse_instant


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check-data", help="check the CLM trade log (checklist 0.2, S.a, S.f)")
    parser.add_argument("path", nargs="?", help="trade log (default: paths.clm_file from the config)")
    parser.add_argument("--json", action="store_true", help="print the machine-readable verdict")
    parser.add_argument("--now", help="judge freshness as of this ISO-8601 instant (default: now)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list the passing checks")
    parser.set_defaults(handler=run, exit_without_teardown=True)


def run(args: argparse.Namespace) -> int:
    now = parse_instant(args.now, "--now")
    config = config_from(args)
    if args.path:
        config = config.with_overrides({"paths.clm_file": args.path}, "command line")
    from calpolicy.clm import max_bytes_for
    from calpolicy.clm.raw import Prefetch

    # The read and the digest run on the other core while pandas and Arrow are imported.
    prefetch = Prefetch(config.paths.clm_file, max_bytes_for(config))
    from calpolicy.clm import check_data, read_clm_for  # pandas/pyarrow: only once the arguments are good
    from calpolicy.vocabulary.waivers import apply_waivers

    verdict = apply_waivers(check_data(read_clm_for(config, prefetch.result()), config, now=now), config.waivers)
    return emit(verdict, f"CLM data gate on {config.paths.clm_file}", args.json, args.verbose)
