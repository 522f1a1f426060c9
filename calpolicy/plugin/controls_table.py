"""The traceability table: each registry ID, its checklist text, the policy tests naming it, its last result.

The tests are found exactly the way a run finds them: a child ``pytest --collect-only`` of the installed
policy suite, with the plugin writing each collected node ID and its ``control`` IDs (``--calpolicy-trace``).
A static scan of the markers would miss a module-level ``pytestmark``, a class marker or a parametrized
ID. Results come from a ``--calpolicy-results`` file (``policy_results.jsonl`` of a job): one JSON row per
test with its ``controls`` (or ``ids``) and ``status`` (or pytest's ``outcome``).

This module does not import pytest (only ``calpolicy.plugin`` does): the child process does.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calpolicy.files.strict_json import parse_json
from calpolicy.vocabulary.controls import REGISTRY

# a worse status wins when several tests of one ID have results: one failing test fails the item
_SEVERITY = {"fail": 5, "error": 4, "skip": 3, "waived": 2, "pass": 1}
_OUTCOME_WORDS = {"passed": "pass", "failed": "fail", "skipped": "skip", "errored": "error", "xfailed": "skip",
                  "xpassed": "fail"}  # fmt: skip


class TraceError(RuntimeError):
    """The suite could not be collected, or a results file cannot be read: the table would be a guess."""


@dataclass(frozen=True)
class ControlRow:
    """One line of the table. ``result`` is None when no results file was given or it has no row for the ID."""

    id: str
    text: str
    phase: str | None
    tests: tuple[str, ...]
    result: str | None = None
    result_tests: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "phase": self.phase, "tests": list(self.tests),
                "result": self.result, "result_tests": self.result_tests}  # fmt: skip


def installed_suite() -> Path:
    """The ``policy_tests`` package shipped with calpolicy, found without importing it."""
    spec = importlib.util.find_spec("policy_tests")
    if spec is None or not spec.submodule_search_locations:
        raise TraceError("calpolicy's policy suite (the policy_tests package) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def collect_tests(suite: Path | None = None, timeout_s: float = 300.0) -> dict[str, list[str]]:
    """Node ID → control IDs of every test of ``suite`` (default: the installed one), from a child pytest.

    Node IDs read ``policy_tests/…`` wherever the suite is installed. A collection that the plugin refuses
    (exit 4: an ID without a test) still yields the tests it found; any other failure is a ``TraceError``.
    """
    suite = (suite or installed_suite()).resolve()
    with tempfile.TemporaryDirectory(prefix="calpolicy-trace-") as scratch:
        trace = Path(scratch) / "trace.json"
        argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                "--rootdir", str(suite.parent), "--calpolicy-trace", str(trace), str(suite)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("CALPOLICY_RESULTS", "PYTEST_ADDOPTS")}
        try:
            child = subprocess.run(
                argv, capture_output=True, text=True, cwd=suite.parent, env=env, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise TraceError(f"collecting the policy suite {suite} took over {timeout_s:g} s") from None
        if not trace.is_file():
            detail = (child.stderr.strip() or child.stdout.strip())[-2000:]
            raise TraceError(f"could not collect the policy suite {suite} (pytest exit {child.returncode}): {detail}")
        tests: dict[str, list[str]] = parse_json(trace.read_text(encoding="utf-8"))
    return tests


def read_results(path: Path) -> dict[str, dict[str, str]]:
    """Control ID → {node ID: its latest status}, from a results file (a later row for a test wins)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TraceError(f"cannot read results file {path}: {error}") from None
    latest: dict[str, dict[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except ValueError as error:
            raise TraceError(f"{path}:{number}: not a JSON object: {error}") from None
        if not isinstance(row, dict):
            raise TraceError(f"{path}:{number}: not a JSON object")
        ids = row.get("controls", row.get("ids"))
        raw = row.get("status", row.get("outcome"))
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TraceError(f"{path}:{number}: no list of control IDs ('controls' or 'ids')")
        status = _OUTCOME_WORDS.get(str(raw), str(raw))
        if status not in _SEVERITY:
            raise TraceError(f"{path}:{number}: unknown status {raw!r} (expected one of {', '.join(_SEVERITY)})")
        nodeid = str(row.get("nodeid", f"line {number}"))
        for cid in ids:
            latest.setdefault(cid, {})[nodeid] = status
    return latest


def build_rows(tests: dict[str, list[str]], results: dict[str, dict[str, str]] | None = None) -> list[ControlRow]:
    """One row per registry ID, in checklist order; the result is the worst latest status of its tests."""
    rows = []
    for check in REGISTRY:
        named = tuple(sorted(nodeid for nodeid, ids in tests.items() if check.id in ids))
        per_test = dict(sorted((results or {}).get(check.id, {}).items()))
        worst = max(per_test.values(), key=_SEVERITY.__getitem__) if per_test else None
        rows.append(ControlRow(check.id, check.text, check.phase, named, worst, per_test))
    return rows


def untested(rows: list[ControlRow]) -> list[str]:
    return [row.id for row in rows if not row.tests]


def render_text(rows: list[ControlRow], with_results: bool) -> str:
    """The table for a terminal: one block per ID, its tests indented beneath it."""
    lines = []
    for row in rows:
        result = f"  [{(row.result or 'no result').upper()}]" if with_results else ""
        lines.append(f"{row.id:<24}{row.text}{result}")
        lines.extend(f"    {nodeid}" for nodeid in row.tests)
        if not row.tests:
            lines.append("    NO TEST names this ID")
    missing = untested(rows)
    tested = len(rows) - len(missing)
    none = f"; none: {', '.join(missing)}" if missing else ""
    lines.append(f"\n{tested} of {len(rows)} IDs have a policy test{none}")
    return "\n".join(lines)


def render_markdown(rows: list[ControlRow]) -> str:
    """The README's table (no results: the README describes the suite, not a run)."""
    lines = ["| ID | checklist item | phase | policy tests |", "|---|---|---|---|"]
    for row in rows:
        tests = "<br>".join(f"`{nodeid}`" for nodeid in row.tests) or "**none**"
        text = row.text.replace("|", "\\|")
        lines.append(f"| {row.id} | {text} | {row.phase or '-'} | {tests} |")
    return "\n".join(lines)
