#!/usr/bin/env python3
"""Rewrite old ``calpolicy`` module paths (the flat layout before issue 23) to the package-per-stage layout.

Why it exists: tests and fixes written against the old layout (``from calpolicy.deploy import rollback``,
``"calpolicy.sandbox"`` in a ``-m`` argument, ``calpolicy/jobs.py`` in tools/mutation.sh) keep arriving on
branches cut before the move; this turns them into the new paths mechanically, so a merge is fixed by one
command instead of by hand.

    python3 tools/relayout.py FILE...            rewrite the files in place, print which changed
    python3 tools/relayout.py --check FILE...    change nothing; list what would change, exit 1 if anything
    python3 tools/relayout.py --diff FILE...     print a unified diff instead of writing
    python3 tools/relayout.py --map              print the old -> new module map

What it rewrites, in any text file (Python, Markdown, shell, TOML):

- dotted names ``calpolicy.X[.Y...]`` wherever they stand (imports, strings, prose, mutant names), by the
  longest old name that prefixes them (``MOVES``); a name of a module that was split is sent to the part
  that now defines it when the next segment names it (``SYMBOLS``), else to the split package, whose
  ``__init__`` re-exports the module's public names;
- ``from calpolicy import a, b`` where ``a`` moved: ``from calpolicy.jobs import history as apply_history``;
- ``from calpolicy.deploy import x, _y`` where the names now live in different parts: one import per part;
- file paths ``calpolicy/X.py`` and ``calpolicy/X/`` (``PATHS``, derived from ``MOVES``).

It only knows the names in its map, so ``calpolicy.toml`` (a file) and new names are left alone, and a file
already in the new layout is unchanged (running it twice is harmless). It uses nothing but the standard
library so it runs from any python3.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

# old module (or package) -> new module (or package). A package maps its submodules by prefix.
MOVES: dict[str, str] = {
    # the shared vocabulary: what every stage says
    "calpolicy.config": "calpolicy.vocabulary.config",
    "calpolicy.verdict": "calpolicy.vocabulary.verdict",
    "calpolicy.decisions": "calpolicy.vocabulary.decisions",
    "calpolicy.waivers": "calpolicy.vocabulary.waivers",
    "calpolicy.controls": "calpolicy.vocabulary.controls",
    "calpolicy.render": "calpolicy.vocabulary.render",
    # shared file handling: fail-closed reads, atomic writes, strict JSON
    "calpolicy.safe_read": "calpolicy.files.safe_read",
    "calpolicy.atomic_io": "calpolicy.files.atomic_io",
    "calpolicy.strict_json": "calpolicy.files.strict_json",
    # phase 0: the probes move under the preflight gate (calpolicy.preflight keeps its name: the gate is the
    # package's __init__); the trade-log gate keeps its name, calpolicy.clm
    "calpolicy.probes": "calpolicy.preflight.probes",
    "calpolicy.probes.redis_probe": "calpolicy.preflight.probes.redis",
    # the job store (calpolicy.jobs keeps its name: the store is the package's __init__) and the history of
    # applies it reads a job's state from
    "calpolicy.apply_history": "calpolicy.jobs.history",
    # phase 1: the lockdown
    "calpolicy.sandbox": "calpolicy.lockdown.sandbox",
    "calpolicy.seccomp": "calpolicy.lockdown.seccomp",
    "calpolicy.protected": "calpolicy.lockdown.protected",
    "calpolicy.engine_weights": "calpolicy.lockdown.engine_weights",
    # phase 2: the calibration
    "calpolicy.bounds": "calpolicy.calibrate.bounds",
    "calpolicy.calibration_task": "calpolicy.calibrate.task",
    # phase 3: the review and the decision
    "calpolicy.report": "calpolicy.review.report",
    "calpolicy.html_report": "calpolicy.review.html_report",
    "calpolicy.signing": "calpolicy.review.signing",
    "calpolicy.approval": "calpolicy.review.approval",
    # the locked-down run (calpolicy.run keeps its name; split, its names are in SYMBOLS)
    "calpolicy.run": "calpolicy.run",
    # phase 4.1: apply
    "calpolicy.deploy": "calpolicy.apply.deploy",
    "calpolicy.apply_lock": "calpolicy.apply.lock",
    "calpolicy.archive": "calpolicy.apply.archive",
    "calpolicy.confirmation": "calpolicy.apply.confirmation",
    # the pytest plugin (calpolicy.plugin itself keeps its name: it is the pytest11 entry point)
    "calpolicy.plugin_output": "calpolicy.plugin.output",
    "calpolicy.plugin_routing": "calpolicy.plugin.routing",
    "calpolicy.controls_table": "calpolicy.plugin.controls_table",
    # the command line (calpolicy.cli keeps its name: it is the console entry point)
    "calpolicy.commands": "calpolicy.cli.commands",
    "calpolicy.doctor": "calpolicy.cli.doctor",
    "calpolicy.docs_gen": "calpolicy.cli.docs_gen",
}

# Modules that were split: old module -> {name it defined: the new module that defines it now}. Names not
# listed are reached through the split package's __init__ (MOVES), which re-exports the public ones.
SYMBOLS: dict[str, dict[str, str]] = {
    "calpolicy.deploy": {
        "_lock": "calpolicy.apply.deploy.common",
        "_OpenErrors": "calpolicy.apply.deploy.common",
        "_holder": "calpolicy.apply.deploy.common",
        "_known": "calpolicy.apply.deploy.common",
        "_summary": "calpolicy.apply.deploy.common",
        "_acknowledge": "calpolicy.apply.deploy.common",
        "_note": "calpolicy.apply.deploy.common",
        "SCHEMA": "calpolicy.apply.deploy.live",
        "DEFAULT_WEIGHTS": "calpolicy.apply.deploy.live",
        "UNREADABLE": "calpolicy.apply.deploy.live",
        "PARSE_ERRORS": "calpolicy.apply.deploy.live",
        "Say": "calpolicy.apply.deploy.live",
        "DeployError": "calpolicy.apply.deploy.live",
        "NothingToDo": "calpolicy.apply.deploy.live",
        "Locked": "calpolicy.apply.deploy.live",
        "__all__": "calpolicy.apply.deploy.live",
        "LivePaths": "calpolicy.apply.deploy.live",
        "Live": "calpolicy.apply.deploy.live",
        "read_live": "calpolicy.apply.deploy.live",
        "_lenient_version": "calpolicy.apply.deploy.live",
        "Outcome": "calpolicy.apply.deploy.live",
        "_fail": "calpolicy.apply.deploy.live",
        "_reason": "calpolicy.apply.deploy.live",
        "swap": "calpolicy.apply.deploy.swap",
        "build_calibration": "calpolicy.apply.deploy.approve",
        "serialize": "calpolicy.apply.deploy.approve",
        "approve_job": "calpolicy.apply.deploy.approve",
        "_resumed": "calpolicy.apply.deploy.approve",
        "rollback": "calpolicy.apply.deploy.rollback",
        "_last_made_live": "calpolicy.apply.deploy.rollback",
        "_recorded_copies": "calpolicy.apply.deploy.rollback",
        "_archived_copy": "calpolicy.apply.deploy.rollback",
        "_read_archived": "calpolicy.apply.deploy.rollback",
        "_refuse_rolled_back": "calpolicy.apply.deploy.rollback",
        "_job_of": "calpolicy.apply.deploy.rollback",
        "_record_rollback_in_job": "calpolicy.apply.deploy.rollback",
        "JobError": "calpolicy.jobs",
        "validate_job_id": "calpolicy.jobs",
    },
    "calpolicy.run": {
        "CALIBRATION_TASK": "calpolicy.run.job",
        "PREFLIGHT_RESULTS": "calpolicy.run.job",
        "POLICY_RESULTS": "calpolicy.run.job",
        "PROPOSAL": "calpolicy.run.job",
        "run_job": "calpolicy.run.job",
        "_after_preflight": "calpolicy.run.job",
        "_in_job": "calpolicy.run.job",
        "_approve_blocker": "calpolicy.run.job",
        "_gate_record": "calpolicy.run.job",
        "_write_review_report": "calpolicy.run.job",
        "_manifest": "calpolicy.run.job",
        "config_json": "calpolicy.run.context",
        "_effective": "calpolicy.run.context",
        "RunContext": "calpolicy.run.context",
        "job_store": "calpolicy.run.context",
        "RUN_ID": "calpolicy.run.outcome",
        "SIGNING_ID": "calpolicy.run.outcome",
        "SANDBOX_ID": "calpolicy.run.outcome",
        "RunOutcome": "calpolicy.run.outcome",
        "_job_failed": "calpolicy.run.outcome",
        "_stopped": "calpolicy.run.outcome",
        "_stopped_many": "calpolicy.run.outcome",
        "violation_id": "calpolicy.run.findings",
        "_sandbox_findings": "calpolicy.run.findings",
        "_task_findings": "calpolicy.run.findings",
        "POLICY_DIRS": "calpolicy.run.policy",
        "POLICY_MARKERS": "calpolicy.run.policy",
        "POLICY_IDS": "calpolicy.run.policy",
        "HTML_REPORT": "calpolicy.run.policy",
        "_OUTCOME": "calpolicy.run.policy",
        "_policy_argv": "calpolicy.run.policy",
        "PolicyTests": "calpolicy.run.policy",
        "_contract_row": "calpolicy.run.policy",
    },
    "calpolicy.probes.redis_probe": {
        "REDIS_TYPES": "calpolicy.preflight.probes.redis.connection",
        "_Watchdog": "calpolicy.preflight.probes.redis.connection",
        "connect": "calpolicy.preflight.probes.redis.connection",
        "_overran": "calpolicy.preflight.probes.redis.connection",
        "_verify_is_redis": "calpolicy.preflight.probes.redis.connection",
        "_not_redis": "calpolicy.preflight.probes.redis.connection",
        "DETAIL_CHARS": "calpolicy.preflight.probes.redis.connection",
        "checked_type": "calpolicy.preflight.probes.redis.connection",
        "_translated": "calpolicy.preflight.probes.redis.connection",
        "_safe": "calpolicy.preflight.probes.redis.connection",
        "LatencyStats": "calpolicy.vocabulary.decisions",
        "_quantile": "calpolicy.vocabulary.decisions",
        "quantile_rank": "calpolicy.vocabulary.decisions",
        "measure_latency": "calpolicy.preflight.probes.redis.latency",
        "stats_of": "calpolicy.vocabulary.decisions",
        "LatencySampler": "calpolicy.preflight.probes.redis.latency",
        "GroupBacklog": "calpolicy.vocabulary.decisions",
        "stream_backlogs": "calpolicy.preflight.probes.redis.backlog",
        "BOOLEAN_PATTERN": "calpolicy.preflight.probes.redis.halt",
        "HaltState": "calpolicy.preflight.probes.redis.halt",
        "_vocabulary": "calpolicy.preflight.probes.redis.halt",
        "boolean_halt": "calpolicy.preflight.probes.redis.halt",
        "halt_state": "calpolicy.preflight.probes.redis.halt",
    },
}

# Old paths of modules that are now packages of several files: the file that holds most of the old module.
SPLIT_PATHS: dict[str, str] = {
    "calpolicy.config": "calpolicy/vocabulary/config/sections.py",
    "calpolicy.probes.redis_probe": "calpolicy/preflight/probes/redis/*",
    "calpolicy.run": "calpolicy/run/*",
    "calpolicy.deploy": "calpolicy/apply/deploy/*",
}

# Files that moved while their module name stayed (the module became its package's __init__ or main part).
FILES: dict[str, str] = {
    "calpolicy/jobs.py": "calpolicy/jobs/__init__.py",
    "calpolicy/preflight.py": "calpolicy/preflight/__init__.py",
    "calpolicy/plugin.py": "calpolicy/plugin/__init__.py",
    "calpolicy/cli.py": "calpolicy/cli/parser.py",
}

_NAME = r"[A-Za-z_]\w*"
# not followed by "/": "calpolicy.report/1" is a file format's schema name, not a module
_DOTTED = re.compile(rf"(?<![\w.])calpolicy(?:\.{_NAME})+(?![\w/])")
_PATH = re.compile(r"(?<![\w/.-])calpolicy/[\w/]*\w(?:\.py)?/?")
_NAMES = r"(?P<names>\([^)]*\)|[^\n#(]+)(?P<rest>[^\n]*)$"
_FROM_PACKAGE = re.compile(r"^(?P<indent>[ \t]*)from calpolicy import " + _NAMES, re.M)
_FROM_MODULE = re.compile(rf"^(?P<indent>[ \t]*)from (?P<module>calpolicy(?:\.{_NAME})+) import " + _NAMES, re.M)


def _new_names() -> set[str]:
    """Every new module and the packages above it: a match that continues into one of them is already new."""
    names: set[str] = set()
    for new in [*MOVES.values(), *(m for parts in SYMBOLS.values() for m in parts.values())]:
        pieces = new.split(".")
        names.update(".".join(pieces[:i]) for i in range(2, len(pieces) + 1))
    return names


def map_module(dotted: str) -> str:
    """The new name for ``dotted`` (a module, or a module plus attributes); unchanged when not in the map."""
    parts = dotted.split(".")
    new_names = _new_names()
    for cut in range(len(parts), 1, -1):
        old = ".".join(parts[:cut])
        if old not in MOVES:
            continue
        rest = parts[cut:]
        if rest and f"{old}.{rest[0]}" in new_names and f"{old}.{rest[0]}" not in MOVES:
            return dotted  # already the new layout (calpolicy.jobs.store, calpolicy.preflight.probes ...)
        if rest and old in SYMBOLS and rest[0] in SYMBOLS[old]:
            return ".".join([SYMBOLS[old][rest[0]], *rest])
        return ".".join([MOVES[old], *rest])
    return dotted


def _path_map() -> dict[str, str]:
    paths: dict[str, str] = dict(FILES)
    for old, new in MOVES.items():
        old_path, new_path = old.replace(".", "/"), new.replace(".", "/")
        paths[old_path + ".py"] = SPLIT_PATHS.get(old, new_path + ".py")
        paths[old_path + "/"] = new_path + "/"
        paths[old_path] = new_path
    return paths


def map_path(path: str) -> str:
    """The new file path for ``path`` (``calpolicy/deploy.py``, ``calpolicy/probes/x.py``, ``calpolicy/report/``)."""
    paths = _path_map()
    if path in paths:
        return paths[path]
    pieces = path.rstrip("/").split("/")
    for cut in range(len(pieces) - 1, 1, -1):
        prefix = "/".join(pieces[:cut])
        if prefix in paths and not paths[prefix].endswith(".py"):
            new_prefix = paths[prefix]
            if path.startswith(new_prefix + "/"):
                return path
            return new_prefix + path[len(prefix) :]
    return path


def _split_names(text: str) -> list[str]:
    return [n.strip() for n in text.strip().strip("()").replace("\n", " ").split(",") if n.strip()]


def _rewrite_from_package(match: re.Match[str]) -> str:
    """``from calpolicy import a, b``: moved names become ``from calpolicy.new import leaf as a``."""
    indent, rest = match["indent"], match["rest"]
    kept: list[str] = []
    lines: list[str] = []
    for item in _split_names(match["names"]):
        name, _, alias = item.partition(" as ")
        name, alias = name.strip(), alias.strip() or name.strip()
        new = map_module(f"calpolicy.{name}")
        if new == f"calpolicy.{name}":
            kept.append(item)
            continue
        package, _, leaf = new.rpartition(".")
        lines.append(f"{indent}from {package} import {leaf}" + ("" if leaf == alias else f" as {alias}"))
    if not lines:
        return match.group(0)
    if kept:
        lines.insert(0, f"{indent}from calpolicy import {', '.join(kept)}")
    lines[0] += rest
    return "\n".join(lines)


def _rewrite_from_module(match: re.Match[str]) -> str:
    """``from calpolicy.old import x, y``: one import per new module that defines the names."""
    indent, module, rest = match["indent"], match["module"], match["rest"]
    if module not in SYMBOLS:
        return f"{indent}from {map_module(module)} import {match['names']}{rest}"
    groups: dict[str, list[str]] = {}
    for item in _split_names(match["names"]):
        name = item.partition(" as ")[0].strip()
        target = SYMBOLS[module].get(name, MOVES[module])
        groups.setdefault(target, []).append(item)
    lines = [f"{indent}from {target} import {', '.join(items)}" for target, items in groups.items()]
    lines[0] += rest
    return "\n".join(lines)


def rewrite(text: str) -> str:
    """``text`` with every old module path of the map replaced by its new path."""
    text = _FROM_PACKAGE.sub(_rewrite_from_package, text)
    text = _FROM_MODULE.sub(_rewrite_from_module, text)
    text = _DOTTED.sub(lambda m: map_module(m.group(0)), text)
    return _PATH.sub(lambda m: map_path(m.group(0)), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite old calpolicy module paths to the package layout.")
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file would change")
    parser.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    parser.add_argument("--map", action="store_true", help="print the old -> new module map")
    parser.add_argument("--only", default="", help="comma-separated new packages: apply only the moves into them")
    args = parser.parse_args(argv)
    if args.only:
        packages = [p.strip() for p in args.only.split(",")]
        keep = tuple(p + "." for p in packages)
        for old in [old for old, new in MOVES.items() if new not in packages and not new.startswith(keep)]:
            del MOVES[old]
            SYMBOLS.pop(old, None)
        for old in [old for old, new in FILES.items() if not new.replace("/", ".").startswith(keep)]:
            del FILES[old]
    if args.map:
        for old, new in MOVES.items():
            print(f"{old} -> {new}")
        for old, names in SYMBOLS.items():
            for name, new in names.items():
                print(f"{old}.{name} -> {new}.{name}")
        return 0
    changed = 0
    for path in args.files:
        try:
            old = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"relayout: cannot read {path}: {exc}", file=sys.stderr)
            return 3
        new = rewrite(old)
        if new == old:
            continue
        changed += 1
        if args.diff:
            diff = difflib.unified_diff(old.splitlines(True), new.splitlines(True), str(path), str(path))
            sys.stdout.writelines(diff)
        elif args.check:
            print(f"would rewrite {path}")
        else:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
