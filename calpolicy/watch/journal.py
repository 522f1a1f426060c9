"""The AI engine's decisions, read from its journal lines (REAL_SYSTEM.md §3): HOLD or an acted-on side."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from calpolicy.preflight.probes.journal import JournalEntry, log_text

_CONFIDENCE = r"confidence=(?P<conf>\d+(?:\.\d+)?)(?P<pct>%?)"
_CONFIRMED = re.compile(r"Action confirmed:\s*(?P<action>[A-Z]+)\s*\(" + _CONFIDENCE)
_NO_SIGNAL = re.compile(r"No actionable signal for\s+(?P<symbol>\S+)")


@dataclass(frozen=True)
class Decision:
    """One decision of the AI engine: HOLD, or an actionable side with the confidence it acted on."""

    when: datetime
    action: str
    confidence: float | None
    text: str


def _text_of(message: str) -> str:
    """The log text, unwrapped from the engine's JSON line forms (``msg`` or ``message``) when it has one."""
    return log_text(message)


def parse_confidence(number: str, percent: str) -> float:
    """``0.72`` and ``72.00%`` are the same confidence; both forms appear in the engine's journal."""
    value = float(number)
    return value / 100.0 if percent else value


def parse_decisions(entries: Iterable[JournalEntry], dedupe_window_s: float = 2.0) -> list[Decision]:
    """Each decision once, from its "Action confirmed" or "No actionable signal" line.

    The engine logs a decision several times in a row (plain and JSON-wrapped, and again by other
    loggers): a decision line identical to the previous decision line and within ``dedupe_window_s`` of it
    is a repeat. Only consecutive repeats merge, so two decisions with the same text (the confirmed line
    names no symbol) count twice as long as any other decision came between them.
    """
    decisions: list[Decision] = []
    previous: tuple[str, datetime] | None = None
    for entry in sorted(entries, key=lambda e: e.when):
        text = _text_of(entry.message)
        confirmed = _CONFIRMED.search(text)
        hold = None if confirmed else _NO_SIGNAL.search(text)
        if not confirmed and not hold:
            continue
        key = (confirmed or hold).group(0)
        repeat = previous is not None and previous[0] == key
        if repeat and (entry.when - previous[1]).total_seconds() <= dedupe_window_s:
            previous = (key, entry.when)
            continue
        previous = (key, entry.when)
        if confirmed:
            confidence = parse_confidence(confirmed["conf"], confirmed["pct"])
            decisions.append(Decision(entry.when, confirmed["action"], confidence, key))
        else:
            decisions.append(Decision(entry.when, "HOLD", None, key))
    return decisions
