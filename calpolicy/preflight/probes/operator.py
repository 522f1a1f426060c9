"""Operator attestation (S.d, P3.2.c): a named human on call for the whole watch period.

The tool cannot know whether someone is available, so the run must be told, explicitly, by whom and
until when; a missing name, an unparsable instant or an on-call period shorter than the watch is a STOP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calpolicy.vocabulary.verdict import Finding


def operator_finding(
    operator: str | None, on_call_until: str | None, now: datetime, min_hours: float, control_id: str = "S.d"
) -> Finding:
    evidence: dict[str, object] = {
        "operator": operator,
        "on_call_until": on_call_until,
        "now": now.isoformat(),
    }
    if not operator or not operator.strip():
        return Finding(
            control_id,
            "fail",
            "no operator attestation: run with --operator NAME --on-call-until ISO-8601 "
            f"(at least {min_hours:g} h ahead)",
            evidence,
        )
    if not on_call_until:
        return Finding(control_id, "fail", f"operator {operator!r} gave no --on-call-until", evidence)
    try:
        until = datetime.fromisoformat(on_call_until)
    except ValueError:
        return Finding(control_id, "fail", f"--on-call-until is not ISO-8601: {on_call_until!r}", evidence)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
        evidence["assumed_utc"] = True
    available = until - now
    evidence["hours_available"] = round(available / timedelta(hours=1), 2)
    if available < timedelta(hours=min_hours):
        return Finding(
            control_id,
            "fail",
            f"operator {operator!r} is on call for {available / timedelta(hours=1):.1f} h only "
            f"(until {until.isoformat()}); {min_hours:g} h of monitoring are required",
            evidence,
        )
    return Finding(control_id, "pass", f"operator {operator!r} is on call until {until.isoformat()}", evidence)
