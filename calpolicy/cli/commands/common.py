"""What every subcommand shares: loading the config once, and printing a verdict as text or JSON.

Only the standard library is imported at module level: ``calpolicy --help`` and a usage error must
answer at once, so the config (pydantic), the data stack (pandas, pyarrow) and the probes (redis) are
imported by the command that needs them, when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from calpolicy.vocabulary.verdict import EXIT_GO, EXIT_STOP, EXIT_USAGE

if TYPE_CHECKING:
    from calpolicy.apply.deploy.live import Outcome
    from calpolicy.vocabulary.config import Config
    from calpolicy.vocabulary.verdict import Verdict


class UsageError(Exception):
    """Bad arguments or config: exit 2 with the message, before any check runs."""


# ------------------------------------------------------------------------------ which config is in force

# Commands that read or write the live host's paths (jobs folder, live calibration, CLM log, history): on
# the built-in defaults they would look in folders relative to wherever they were started, so they refuse
# to run without a config file unless ``--defaults`` says that is meant.
HOST_COMMANDS = frozenset(
    {"jobs", "status", "run", "approve", "rollback", "watch", "preflight", "history", "verify", "abort"}
)
# Commands that read the host but are useful without one (a CLM file given on the command line, a key pair
# written where the user says, the effective settings): they say which config is in force, and run.
ANNOUNCING_COMMANDS = HOST_COMMANDS | {"check-data", "keygen", "config"}
CONFIG_NOTE = "calpolicy: config"  # every announcement starts with this (so a caller can tell it apart)


def config_file_in_force(args: argparse.Namespace, environ: dict[str, str] | None = None) -> tuple[Path | None, str]:
    """The config file ``load_config`` will read for these arguments, and what chose it.

    The same order as ``calpolicy.vocabulary.config.load_config``: ``--config``, then ``CALPOLICY_CONFIG``, then
    ``./calpolicy.toml`` when it exists; ``(None, why)`` when there is none and the defaults apply.
    """
    from calpolicy.vocabulary.config import DEFAULT_CONFIG_FILE, ENV_CONFIG_PATH

    env = os.environ if environ is None else environ
    explicit = getattr(args, "config", None)
    if explicit is not None:
        return Path(explicit), "--config"
    if env.get(ENV_CONFIG_PATH) is not None:
        return Path(env[ENV_CONFIG_PATH]), ENV_CONFIG_PATH
    if Path(DEFAULT_CONFIG_FILE).exists():
        return Path(DEFAULT_CONFIG_FILE), f"./{DEFAULT_CONFIG_FILE}"
    return None, f"no --config, no {ENV_CONFIG_PATH} and no {DEFAULT_CONFIG_FILE} in {Path.cwd()}"


def default_paths_text() -> str:
    """Where the defaults point, relative to the current folder (so a wrong folder shows at a glance)."""
    from calpolicy.vocabulary.config import PathsConfig

    paths = PathsConfig()
    cwd = Path.cwd()
    return (
        f"jobs {cwd / paths.jobs_dir}, CLM log {cwd / paths.clm_file}, live calibration {cwd / paths.calibration_file}"
    )


def announce_config(args: argparse.Namespace) -> None:
    """Say on stderr which config file is in force, or that none is and the defaults apply; refuse a host
    command on the defaults unless ``--defaults`` was given (exit 2, one line).

    Called by ``config_from``, so only when a command loads its config, after its own argument checks (a
    malformed option is still named first), and once. stderr, so that the verdict stays the first line of
    stdout and ``--json`` output stays pure JSON.
    """
    command = getattr(args, "command", None)
    if command not in ANNOUNCING_COMMANDS or getattr(args, "config_announced", False):
        return
    args.config_announced = True
    path, chosen_by = config_file_in_force(args)
    if path is not None:
        print(f"{CONFIG_NOTE} {path.resolve()} (from {chosen_by})", file=sys.stderr)
        return
    if command in HOST_COMMANDS and not getattr(args, "defaults", False):
        raise UsageError(
            f"{command} needs the host's paths and no config file was found ({chosen_by}): give --config FILE, "
            f"set CALPOLICY_CONFIG or run it where calpolicy.toml is; --defaults runs it on the defaults "
            f"({default_paths_text()})"
        )
    print(f"{CONFIG_NOTE}: none ({chosen_by}); defaults apply: {default_paths_text()}", file=sys.stderr)


def config_from(args: argparse.Namespace) -> Config:
    from calpolicy.vocabulary.config import ConfigError, load_config

    announce_config(args)
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
    from calpolicy.vocabulary.render import render_verdict

    print(verdict.to_json() if as_json else render_verdict(verdict, title, verbose))
    return verdict.exit_code


def json_text(value: object, indent: int | None = 2) -> str:
    """``--json`` output that is JSON: a ``NaN`` or ``Infinity`` read from a hand-edited history line or
    manifest (``json.loads`` takes them) is shown as a string, never printed as a token that strict readers
    (``jq``, every other language's parser) refuse."""
    import json
    import math

    def finite(item: object) -> object:
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)
        if isinstance(item, dict):
            return {key: finite(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [finite(inner) for inner in item]
        return item

    return json.dumps(finite(value), indent=indent, allow_nan=False)


LINE_LIMIT = 4000  # characters of one printed line; far above any line calpolicy writes itself


def printable(text: object) -> str:
    """``text`` with every control or format character shown as an escape (``\\x1b``, ``\\u202e``).

    Why: the views print fields of files others can write (a history line's ``by``, a manifest's
    ``operator``, a file name in a job folder). Printed raw, ``\\r`` or an ANSI sequence rewrites what the
    operator sees (``GO\\rSTOP`` shows as STOP; ``\\x1b[1A\\x1b[2K`` erases the line above).
    """
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text)[: LINE_LIMIT + 1])
    if len(shown) <= LINE_LIMIT:
        return shown
    # a field of several MB (a hand-edited manifest's ``operator``) would bury every line after it
    return f"{shown[:LINE_LIMIT]}… [{len(str(text)) - LINE_LIMIT} more characters not shown]"


def usage_failure(error: Exception) -> int:
    print(f"calpolicy: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def print_applied(done: str, outcome: Outcome, config: Config, args: argparse.Namespace) -> int:
    """approve's and rollback's answer: the headline (``done`` when the engine serves the version), then what
    was done line by line; GO only when the engine acknowledged the version it was given."""
    from calpolicy.apply.confirmation import headline
    from calpolicy.apply.deploy.live import LivePaths

    marker = LivePaths.from_config(config).marker
    print(headline(done, outcome.to_version, outcome.confirmation, marker, getattr(args, "config", None)))
    for line in outcome.lines:
        print(printable(f"  {line}"))
    return EXIT_GO if outcome.acknowledged else EXIT_STOP
