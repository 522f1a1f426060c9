"""The command line: ``calpolicy <command>``, one module per subcommand, the host check and the generated docs.

Owns every command and exit code (0 GO/OK, 1 STOP, 2 usage, 3 could not check, 4 inconclusive) and the
operator's side of the checklist's commands: ``parser`` (the parser and dispatch, ``main``; ``script`` is
the console entry point ``calpolicy.cli:script``), ``commands/`` (preflight, check-data, run, approve, abort, confirm,
watch, rollback, history, jobs, verify, controls, config, doctor, keygen, localenv, demo), ``doctor`` (is
this host set up: journal, Redis, sandbox, engine's Python) and ``docs_gen`` (the README's traceability
table and docs/configuration-reference.md, from the code they describe).

May import: everything below it and the local environment (``calpolicy demo``, ``calpolicy localenv``);
nothing below it imports the command line (contracts ``cli`` and ``layers`` in pyproject.toml). The
parser's names are resolved lazily so importing a subcommand does not import the parser.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """``calpolicy.cli.parser``'s names (``script``, ``main``, ``build_parser`` ...), as before the package."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("calpolicy.cli.parser"), name)
