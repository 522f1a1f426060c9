"""One-screen text for a verdict: GO/STOP first, then why, then what was verified.

The on-call reader decides from the first line; the following lines name each failing item with its ID,
message and evidence so they can act without opening a JSON file.
"""

from __future__ import annotations

from calpolicy.verdict import Finding, Verdict

_HEADLINE = {0: "GO", 1: "STOP", 3: "STOP (could not check)"}


def _grouped(findings: tuple[Finding, ...]) -> dict[tuple[str, str], list[Finding]]:
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        first_line = finding.message.split("\n", 1)[0]
        groups.setdefault((finding.status, first_line), []).append(finding)
    return groups


def render_verdict(verdict: Verdict, title: str, verbose: bool = False) -> str:
    failing = verdict.failures
    checked = len({f.id for f in verdict.findings})
    head = _HEADLINE.get(verdict.exit_code, "STOP")
    waived = sorted({f.id for f in verdict.findings if f.status == "waived"})
    under = f" ({len(waived)} only under a waiver: {', '.join(waived)})" if waived else ""
    if verdict.go:
        lines = [f"{head} — {title}: all {checked} checked items passed{under}"]
    elif not verdict.findings:
        lines = [f"{head} — {title}: no check ran, so nothing is known to be safe"]
    else:
        ids = sorted({f.id for f in failing})
        lines = [f"{head} — {title}: {len(ids)} of {checked} items failed ({', '.join(ids)})"]
    for (status, first_line), group in _grouped(failing).items():
        marker = "FAIL " if status == "fail" else "ERROR"
        if len(group) == 1:
            lines.append(f"  {marker} {group[0].id:<24} {group[0].message}")
        else:  # one cause behind many items (say, no CLM file): say it once, name every item
            ids = list(dict.fromkeys(f.id for f in group))
            lines.append(f"  {marker} {', '.join(ids)} ({len(ids)} items): {first_line}")
    for finding in verdict.findings:  # a waiver is always shown: it is a decision someone must own
        if finding.status == "waived" or (finding.status == "pass" and (verbose or verdict.go)):
            lines.append(f"  {finding.status.upper():<5} {finding.id:<24} {finding.message}")
    return "\n".join(lines)
