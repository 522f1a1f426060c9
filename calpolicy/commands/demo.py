"""``calpolicy demo``: the gates on a self-contained local environment, each with a GO and a STOP case.

A new user sees what the tool says on a healthy system and on one with production's real defects,
without any live system at hand.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpolicy.commands.common import config_from, positive_int
from calpolicy.verdict import EXIT_GO, EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the gates on an embedded local environment")
    parser.add_argument("--dir", help="where to build the environment (default: a new temporary folder)")
    parser.add_argument(
        "--trades", type=positive_int, default=400, help="trades in the sample log (default 400)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary environment folder (always kept with --dir)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the environment in ``--dir`` (kept) or a temporary folder (removed afterwards unless ``--keep``).

    A leftover temporary folder would hold a ``calpolicy.toml`` pointing at ports and a namespace that
    no longer exist, so it is removed unless the user asked to keep it.
    """
    config = config_from(args)
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="calpolicy-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _run_demo(root, config, args.trades)
    finally:
        if not args.dir and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            print(f"demo: removed {root} (use --keep or --dir DIR to keep the environment)")


def _run_demo(root: Path, config: Any, trades: int) -> int:
    from calpolicy.clm import check_data, read_clm_for
    from calpolicy.localenv.defects import double_delivery, short_recorded_as_buy, write_records, zero_pnl
    from calpolicy.localenv.demo import demo_preflight
    from calpolicy.localenv.sample_log import sample_records
    from calpolicy.render import render_verdict

    now = datetime.now(UTC)
    healthy = sample_records(n_trades=trades, now=now, seed=7)
    print(f"calpolicy demo — environment in {root}\n")

    good_path = write_records(root / "data" / "clm_trades.jsonl", healthy)
    print(f"1) Data gate on a healthy log ({len(healthy)} trades): expect GO")
    good = check_data(
        read_clm_for(config.with_overrides({"paths.clm_file": str(good_path)}, "demo")), config, now
    )
    print(render_verdict(good, f"CLM data gate on {good_path}") + "\n")

    broken = short_recorded_as_buy(zero_pnl(double_delivery(healthy)))
    bad_path = write_records(root / "data_defective" / "clm_trades.jsonl", broken)
    print(
        "2) Data gate on the same log with production's defects "
        "(double delivery, a zero PnL, a short recorded as BUY): expect STOP"
    )
    bad = check_data(
        read_clm_for(config.with_overrides({"paths.clm_file": str(bad_path)}, "demo")), config, now
    )
    print(render_verdict(bad, f"CLM data gate on {bad_path}") + "\n")

    data_as_expected = good.exit_code == EXIT_GO and bad.exit_code == EXIT_STOP
    print("3) The whole pre-flight (Phase 0 and every stop signal), then the gated run, on a live local environment")
    preflight_as_expected = demo_preflight(root, n_trades=trades)
    as_expected = data_as_expected and preflight_as_expected
    print("demo: " + ("every verdict as expected" if as_expected else "UNEXPECTED verdicts — see above"))
    return EXIT_GO if as_expected else EXIT_STOP
