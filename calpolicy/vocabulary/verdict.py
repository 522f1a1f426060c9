"""Findings and verdicts: the one shape every gate answers in.

A gate never answers with a bare boolean: the operator needs the checklist item, a sentence and the
evidence (line numbers, values) to decide. ``error`` is kept apart from ``fail`` because "could not
check" must never be read as "checked and fine" — both are STOP, but they call for different actions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "error", "waived"]

EXIT_GO = 0
EXIT_STOP = 1
EXIT_USAGE = 2
EXIT_COULD_NOT_CHECK = 3


@dataclass(frozen=True)
class Finding:
    """One checked item: its checklist (or named extra) ID, the outcome and what backs it up."""

    id: str
    status: Status
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "message": self.message, "evidence": self.evidence}


@dataclass(frozen=True)
class ItemCounts:
    """Items (not findings) by outcome: failed, could not be checked, passed — always counted apart."""

    failed: tuple[str, ...]
    could_not_check: tuple[str, ...]
    passed: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.failed) + len(self.could_not_check) + len(self.passed)


class PolicyFailure(AssertionError):
    """A policy test found its item(s) failing; carries the findings so the report can show the evidence.

    Raised by the plugin's ``enforce``; it lives here (not in the plugin) so it needs no pytest import.
    """

    def __init__(self, findings: list[Finding] | tuple[Finding, ...]) -> None:
        self.findings = tuple(findings)
        super().__init__("\n".join(describe(f) for f in self.findings))


@dataclass(frozen=True)
class Verdict:
    """GO only when every finding passed (or was explicitly waived) and at least one check ran."""

    findings: tuple[Finding, ...]

    @property
    def go(self) -> bool:
        return bool(self.findings) and all(f.status in ("pass", "waived") for f in self.findings)

    @property
    def exit_code(self) -> int:
        if self.go:
            return EXIT_GO
        if any(f.status == "fail" for f in self.findings):
            return EXIT_STOP
        return EXIT_COULD_NOT_CHECK

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status in ("fail", "error"))

    def item_statuses(self) -> dict[str, str]:
        """One status per checklist item, in first-seen order: any fail → fail, else any error → error,
        else any waived → waived (an item that passed only in part under a waiver is shown as waived).

        Several findings may back one item (one per unit, one per test); the operator counts items, so
        every headline (CLI and pytest) counts from here and never counts an item twice.
        """
        rank = {"fail": 3, "error": 2, "waived": 1, "pass": 0}
        statuses: dict[str, str] = {}
        for finding in self.findings:
            current = statuses.get(finding.id)
            if current is None or rank.get(finding.status, 3) > rank.get(current, 3):
                statuses[finding.id] = finding.status
        return statuses

    def counts(self) -> ItemCounts:
        statuses = self.item_statuses()
        return ItemCounts(
            # a status outside the four ranks as a failure in ``item_statuses``, and is counted as one
            failed=tuple(i for i, s in statuses.items() if s not in ("error", "pass", "waived")),
            could_not_check=tuple(i for i, s in statuses.items() if s == "error"),
            passed=tuple(i for i, s in statuses.items() if s in ("pass", "waived")),
        )

    def by_id(self, finding_id: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.id == finding_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": "GO" if self.go else "STOP",
            "exit_code": self.exit_code,
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str, allow_nan=False)

    def __add__(self, other: Verdict) -> Verdict:
        return Verdict(self.findings + other.findings)


def line_evidence(lines: Any, cap: int) -> dict[str, Any]:
    """Offending line numbers, capped so one bad million-line log cannot flood a report."""
    as_list = [int(n) for n in list(lines)[:cap]]
    total = len(lines)
    return {"lines": as_list, "count": int(total), "truncated": total > cap}


def format_lines(evidence: dict[str, Any]) -> str:
    """``lines 3, 7, 9`` or ``lines 3, 7, … (1204 in all)`` for messages; ``""`` when there are none.

    Some findings use ``lines`` for a line *count* (P0.2.b: the file's length), not a list of line
    numbers; that is not a location, so it yields ``""`` instead of a crash.
    """
    lines = evidence.get("lines")
    if not isinstance(lines, list | tuple) or not lines:
        return ""
    shown = ", ".join(str(n) for n in lines)
    if evidence.get("truncated"):
        return f"lines {shown}, … ({evidence['count']} in all)"
    return f"line {shown}" if evidence.get("count") == 1 else f"lines {shown}"


_LINE_KEYS = ("lines", "count", "truncated")


def describe(finding: Finding) -> str:
    """``ID FAIL: message (lines 2, 4)``; the line list is added only when the message lacks it."""
    where = format_lines(finding.evidence)
    suffix = f" ({where})" if where and where not in finding.message else ""
    return f"{finding.id} {finding.status.upper()}: {finding.message}{suffix}"


def format_evidence(evidence: dict[str, Any], width: int = 100, max_items: int = 8) -> str:
    """The evidence other than line numbers as ``key value; key value``, each value cut to ``width``."""
    parts = []
    for key, value in evidence.items():
        if key in _LINE_KEYS and isinstance(evidence.get("lines"), list | tuple):
            continue
        text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else value
        parts.append(f"{key} {text if len(text) <= width else text[: width - 1] + '…'}")
    if len(parts) > max_items:
        parts = [*parts[:max_items], f"… ({len(parts) - max_items} more)"]
    return "; ".join(parts)
