"""``calpolicy demo``: the whole checklist end to end on a self-contained local environment (issue 13).

A new user sees preflight, run, verify, approve, the hot reload, the watch and a rollback on a real
redis-server, readiness API and systemd namespace, and one STOP with its reason, without a live system.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from calpolicy.cli.commands.common import UsageError, config_from, positive_int
from calpolicy.vocabulary.verdict import EXIT_GO, EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="the whole checklist end to end on an embedded local environment")
    parser.add_argument("--dir", help="where to build the environment (default: a new temporary folder)")
    parser.add_argument(
        "--trades", type=positive_int, default=1100, help="trades in the sample log (default 1100: enough to decide)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary environment folder (always kept with --dir)"
    )
    parser.set_defaults(handler=run)


def demo_parent() -> Path:
    """Where the temporary environment goes: somewhere the systemd namespace's units can see.

    The namespace mounts an empty tmpfs on /tmp and /var/tmp, so the AI-engine unit could not read a
    calibration.json kept there; the usual temporary folder is used when it lies elsewhere, or when no
    namespace can be booted here anyway.
    """
    from calpolicy.localenv.systemd_ns import _hidden, unavailable_reason

    temp = Path(tempfile.gettempdir()).resolve()
    if not _hidden(str(temp)) or unavailable_reason() is not None:  # no namespace: /tmp is fine
        return temp
    return Path.home() / ".cache" / "calpolicy"


def _check_visible(root: Path) -> None:
    """A ``--dir`` the namespace's AI-engine unit could not see would make the flow fail half-way."""
    from calpolicy.localenv.systemd_ns import _hidden, unavailable_reason

    if _hidden(str(root.resolve())) and unavailable_reason() is None:
        raise UsageError(
            f"--dir {root} is under /tmp or /var/tmp, which the demo's systemd namespace replaces with an empty "
            "tmpfs (its AI-engine unit could not read the live calibration.json): choose a folder elsewhere"
        )


def run(args: argparse.Namespace) -> int:
    """Build the environment in ``--dir`` (kept) or a temporary folder (removed afterwards unless ``--keep``).

    A leftover temporary folder would hold a ``calpolicy.toml`` pointing at ports and a namespace that
    no longer exist, so it is removed unless the user asked to keep it.
    """
    from calpolicy.localenv.demo_flow import demo_flow

    config_from(args)  # a broken --config is a usage error before anything starts
    if args.trades < 2:
        raise UsageError(f"--trades must be at least 2 (a generated log spans time between trades), got {args.trades}")
    if args.dir:
        root = Path(args.dir)
        _check_visible(root)
        root.mkdir(parents=True, exist_ok=True)
    else:
        parent = demo_parent()
        parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="calpolicy-demo-", dir=parent))
    print("calpolicy demo: preflight → run → verify → approve → reload → trades → watch → rollback, and a STOP case")
    # the policy suite's child pytest runs make their own temporary folders: keep them inside the demo's
    scratch = root / "tmp"
    scratch.mkdir(exist_ok=True)
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None
    try:
        if demo_flow(root, n_trades=args.trades):
            return EXIT_GO
        print("demo: STOP — a step did not give its expected verdict (see its line above)")
        return EXIT_STOP
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        tempfile.tempdir = None
        if not args.dir and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            with contextlib.suppress(OSError):
                root.parent.rmdir()  # ~/.cache/calpolicy, when the demo made it and it is empty
            print(f"demo: removed {root} (use --keep or --dir DIR to keep the environment)")
        else:
            print(
                f"demo: kept the files in {root}; its redis-server, readiness API and systemd namespace are "
                f"STOPPED, so a command run on its calpolicy.toml now could not check them. To practise the "
                f"flow by hand: calpolicy localenv up DIR (prints the --config to use; see docs/operator-guide.md)"
            )
