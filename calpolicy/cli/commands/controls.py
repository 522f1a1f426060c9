"""``calpolicy controls``: every checklist ID, its text, the policy tests enforcing it, and its last result.

Exit 0 when every registry ID has a policy test, 1 (STOP) when one has none, 2 for an unreadable results
file, 3 when the suite could not be collected at all.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calpolicy.cli.commands.common import UsageError
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK, EXIT_GO, EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "controls", help="list each checklist ID with its text, its policy tests and (with --results) its last result"
    )
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument(
        "--results", type=Path, default=None,
        help="a --calpolicy-results file (a job's policy_results.jsonl): show each ID's latest result",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from calpolicy.plugin.controls_table import (
        TraceError,
        build_rows,
        collect_tests,
        read_results,
        render_text,
        untested,
    )

    try:
        results = read_results(args.results) if args.results is not None else None
    except TraceError as error:
        raise UsageError(str(error)) from None
    try:
        tests = collect_tests()
    except TraceError as error:
        print(f"calpolicy controls: {error}")
        return EXIT_COULD_NOT_CHECK
    rows = build_rows(tests, results)
    missing = untested(rows)
    code = EXIT_STOP if missing else EXIT_GO
    if args.json:
        findings = [{"id": cid, "status": "fail", "message": "no policy test names this ID", "evidence": {}}
                    for cid in missing]  # fmt: skip
        payload = {"verdict": "STOP" if missing else "GO", "exit_code": code, "findings": findings,
                   "controls": [row.as_dict() for row in rows]}  # fmt: skip
        print(json.dumps(payload, indent=2))
    else:
        print(render_text(rows, with_results=results is not None))
    return code
