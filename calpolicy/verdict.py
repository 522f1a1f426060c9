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
    """``lines 3, 7, 9`` or ``lines 3, 7, … (1204 in all)`` for messages."""
    shown = ", ".join(str(n) for n in evidence.get("lines", []))
    if evidence.get("truncated"):
        return f"lines {shown}, … ({evidence['count']} in all)"
    return f"line {shown}" if evidence.get("count") == 1 else f"lines {shown}"
