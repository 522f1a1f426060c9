"""The ``calpolicy`` command. Exit codes: 0 GO/OK, 1 STOP, 2 usage error, 3 could not check."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from calpolicy.cli.commands.common import UsageError, usage_failure
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK, EXIT_USAGE

COMMAND_MODULES = (
    "calpolicy.cli.commands.check_data",
    "calpolicy.cli.commands.preflight",
    "calpolicy.cli.commands.demo",
    "calpolicy.cli.commands.config_show",
    "calpolicy.cli.commands.approve",
    "calpolicy.cli.commands.rollback",
    "calpolicy.cli.commands.confirm",
    "calpolicy.cli.commands.history",
    "calpolicy.cli.commands.keygen",
    "calpolicy.cli.commands.verify",
    "calpolicy.cli.commands.abort",
    "calpolicy.cli.commands.run",
    "calpolicy.cli.commands.jobs",
    "calpolicy.cli.commands.watch",
    "calpolicy.cli.commands.controls",
    "calpolicy.cli.commands.doctor",
    "calpolicy.cli.commands.localenv",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calpolicy",
        description="Gate, prove, apply and watch confidence re-calibration (the checklist as tests).",
    )
    parser.add_argument("--config", help="calpolicy.toml to use (else CALPOLICY_CONFIG, else ./calpolicy.toml)")
    parser.add_argument("--defaults", action="store_true", help=DEFAULTS_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    for subparser in subparsers.choices.values():
        accept_config_after_command(subparser)
    return parser


DEFAULTS_HELP = "run on the built-in defaults when no config file is found (commands that use host paths refuse else)"


def accept_config_after_command(subparser: argparse.ArgumentParser) -> None:
    """``calpolicy check-data --config FILE`` as well as ``calpolicy --config FILE check-data`` (and ``--defaults``).

    SUPPRESS keeps the subcommand from overwriting a ``--config`` given before it with ``None``.
    """
    subparser.add_argument("--config", default=argparse.SUPPRESS, help="calpolicy.toml to use")
    subparser.add_argument("--defaults", action="store_true", default=argparse.SUPPRESS, help=DEFAULTS_HELP)


EXIT_OUTPUT_CLOSED = 141


def main(argv: list[str] | None = None) -> int:
    return _main_with_args(argv)[0]


def _main_with_args(argv: list[str] | None) -> tuple[int, argparse.Namespace]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE, args
    try:
        return int(args.handler(args)), args
    except UsageError as error:
        return usage_failure(error), args
    except BrokenPipeError:
        return output_closed(), args
    except Exception as error:  # last resort: a crash is "could not check", never GO (0) or a policy STOP (1)
        return internal_error(error), args


def script() -> None:
    """The ``calpolicy`` console script: ``main`` and its exit code.

    A command that holds a large heap and nothing to clean up (``check-data`` on a million-line log: about
    0.8 GiB of frames) sets ``exit_without_teardown``; once its verdict is written and flushed, the process
    ends without the interpreter freeing every object one by one, which costs 0.15-0.3 s there. Nothing is
    lost: such a command writes no file and starts no thread that outlives it.
    """
    code, args = _main_with_args(None)
    if getattr(args, "exit_without_teardown", False):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            code = output_closed()
        os._exit(code)
    sys.exit(code)


def output_closed() -> int:
    """The reader of our output went away (``calpolicy … | head``): not a crash, so no traceback; but the
    verdict was not delivered whole, so never exit 0. 141 is what a shell reports for death by SIGPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush of stdout must not fail again
    os.close(devnull)
    return EXIT_OUTPUT_CLOSED


def internal_error(error: BaseException) -> int:
    """Print ``calpolicy: internal error: …`` and the traceback to stderr; exit 3 (could not check)."""
    print(f"calpolicy: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    traceback.print_exception(error, file=sys.stderr)
    print("calpolicy: nothing was checked to the end; this is a STOP (exit 3)", file=sys.stderr)
    return EXIT_COULD_NOT_CHECK


if __name__ == "__main__":
    script()
