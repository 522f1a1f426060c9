"""One-screen text for a verdict: GO/STOP first, then why, then what was verified.

The on-call reader decides from the first line; the following lines name each failing item with its ID,
message and evidence so they can act without opening a JSON file. The headline counts *items* (not
findings) and keeps "failed", "could not be checked" and "passed" apart, in the CLI and in pytest alike.
"""

from __future__ import annotations

from calpolicy.vocabulary.verdict import Finding, Verdict

_HEADLINE = {0: "GO", 1: "STOP", 3: "STOP (could not check)"}
MAX_IDS_SHOWN = 10


def _id_list(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:MAX_IDS_SHOWN])
    return shown + (f", … ({len(ids) - MAX_IDS_SHOWN} more)" if len(ids) > MAX_IDS_SHOWN else "")


def headline(verdict: Verdict, title: str) -> str:
    """``STOP — title: 3 of 30 items failed (…); 2 could not be checked (…); 25 passed`` — one line."""
    head = _HEADLINE.get(verdict.exit_code, "STOP")
    if not verdict.findings:
        return f"{head} — {title}: no check ran, so nothing is known to be safe"
    counts = verdict.counts()
    waived = sorted({f.id for f in verdict.findings if f.status == "waived"})
    under = f" ({len(waived)} only under a waiver: {', '.join(waived)})" if waived else ""
    if verdict.go:
        return f"{head} — {title}: all {counts.total} item{'s' if counts.total != 1 else ''} passed{under}"
    parts = []
    if counts.failed:
        parts.append(f"{len(counts.failed)} of {counts.total} items failed ({_id_list(counts.failed)})")
    if counts.could_not_check:
        of_total = "" if counts.failed else f" of {counts.total} items"
        unknown = counts.could_not_check
        parts.append(f"{len(unknown)}{of_total} could not be checked ({_id_list(unknown)})")
    parts.append(f"{len(counts.passed)} passed{under}")
    return f"{head} — {title}: " + "; ".join(parts)


def _grouped(findings: tuple[Finding, ...]) -> dict[tuple[str, str], list[Finding]]:
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        first_line = finding.message.split("\n", 1)[0]
        groups.setdefault((finding.status, first_line), []).append(finding)
    return groups


def _cut(text: str, width: int | None) -> str:
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def item_lines(verdict: Verdict, width: int | None = 110) -> list[str]:
    """One line per item: status, ID and the first line of its (first non-passing) message, cut to fit a
    terminal; ``width=None`` never cuts (the HTML report: a reviewer signs the whole evidence)."""
    lines = []
    statuses = verdict.item_statuses()
    for control_id, status in statuses.items():
        finding = next(f for f in verdict.by_id(control_id) if f.status == status)
        first = finding.message.splitlines()[0] if finding.message else ""
        marker = {"fail": "FAIL", "error": "ERROR"}.get(status, status.upper())
        lines.append(f"  {marker:<5} {control_id:<24} {_cut(first, width)}")
    order = {"FAIL": 0, "ERROR": 1}
    return sorted(lines, key=lambda line: order.get(line.split()[0], 2))


def render_verdict(verdict: Verdict, title: str, verbose: bool = False) -> str:
    lines = [headline(verdict, title)]
    for (status, first_line), group in _grouped(verdict.failures).items():
        marker = "FAIL " if status == "fail" else "ERROR"
        ids = list(dict.fromkeys(f.id for f in group))
        if len(ids) == 1:
            for finding in group:
                lines.append(f"  {marker} {finding.id:<24} {finding.message}")
        else:  # one cause behind many items (say, no CLM file): say it once, name every item
            lines.append(f"  {marker} {', '.join(ids)} ({len(ids)} items): {first_line}")
    for finding in verdict.findings:  # a waiver is always shown: it is a decision someone must own
        if finding.status == "waived" or (finding.status == "pass" and (verbose or verdict.go)):
            lines.append(f"  {finding.status.upper():<5} {finding.id:<24} {finding.message}")
    return "\n".join(lines)


def item_count_text(tested: int, tests: int, own: tuple[str, ...] = ()) -> str:
    """Why the item count differs from the test count, in one sentence (``run``, the HTML, pytest-html).

    calpolicy counts checklist items; pytest counts tests. One item can take several tests (P1.1.e: one
    per way of restarting a service) and one test several items, and ``run`` checks a few items itself,
    around the sandbox, before the tests start.
    """
    text = f"{tested + len(own)} checklist items = {tested} checked by {tests} policy test{'s' if tests != 1 else ''}"
    if own:
        text += f" + {len(own)} checked by calpolicy run itself ({', '.join(own)})"
    return text + " (pytest counts tests: an item can take several tests, a test several items)"
