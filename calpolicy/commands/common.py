"""What every subcommand shares: loading the config once, and printing a verdict as text or JSON."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from calpolicy.config import Config, ConfigError, load_config
from calpolicy.render import render_verdict
from calpolicy.verdict import EXIT_USAGE, Verdict


class UsageError(Exception):
    """Bad arguments or config: exit 2 with the message, before any check runs."""


def config_from(args: argparse.Namespace) -> Config:
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


def emit(verdict: Verdict, title: str, as_json: bool, verbose: bool = False) -> int:
    print(verdict.to_json() if as_json else render_verdict(verdict, title, verbose))
    return verdict.exit_code


def usage_failure(error: Exception) -> int:
    print(f"calpolicy: error: {error}", file=sys.stderr)
    return EXIT_USAGE
