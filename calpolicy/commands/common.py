"""What every subcommand shares: loading the config once, and printing a verdict as text or JSON.

Only the standard library is imported at module level: ``calpolicy --help`` and a usage error must
answer at once, so the config (pydantic), the data stack (pandas, pyarrow) and the probes (redis) are
imported by the command that needs them, when it runs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from calpolicy.verdict import EXIT_USAGE

if TYPE_CHECKING:
    from calpolicy.config import Config
    from calpolicy.verdict import Verdict


class UsageError(Exception):
    """Bad arguments or config: exit 2 with the message, before any check runs."""


def config_from(args: argparse.Namespace) -> Config:
    from calpolicy.config import ConfigError, load_config

    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as error:
        raise UsageError(str(error)) from None


def parse_instant(raw: str | None, option: str) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"{option} must be an ISO-8601 instant, got {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def positive_int(raw: str) -> int:
    """argparse type: a whole number ≥ 1 (``--trades -5`` is a usage error, exit 2, not a traceback)."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def emit(verdict: Verdict, title: str, as_json: bool, verbose: bool = False) -> int:
    from calpolicy.render import render_verdict

    print(verdict.to_json() if as_json else render_verdict(verdict, title, verbose))
    return verdict.exit_code


def usage_failure(error: Exception) -> int:
    print(f"calpolicy: error: {error}", file=sys.stderr)
    return EXIT_USAGE
