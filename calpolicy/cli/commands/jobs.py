"""``calpolicy jobs`` and ``calpolicy status``: what jobs exist, in which state, and what is applied."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

from calpolicy.cli.commands.common import config_from, json_text, printable
from calpolicy.cli.commands.job_lookup import store_for
from calpolicy.files.safe_read import read_optional
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import JobError, JobStore
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="list the calibration jobs with their state, newest first")
    jobs.add_argument("--json", action="store_true", help="print the list as JSON")
    jobs.set_defaults(handler=run_jobs)
    status = subparsers.add_parser("status", help="the latest job and the applied calibration version")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(handler=run_status)


def _row(manifest: dict[str, Any], store: JobStore | None = None) -> dict[str, Any]:
    """A job as every view shows it; its state is derived from the records (``JobStore.state``), the same
    function approve and rollback use, never read from the manifest's editable field."""
    keys = ("job_id", "state", "verdict", "exit_code", "created_at", "operator", "applied_version")
    row = {key: manifest.get(key) for key in keys}
    if store is not None:
        try:
            row["state"] = store.state(str(manifest.get("job_id")), manifest)
        except JobError:
            row["state"] = "unknown"
    return row


def _with_states(store: JobStore, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    store.decisions()  # a broken decisions log is one clear error, not a column of "unknown"
    return [{**m, "state": _row(m, store)["state"]} for m in manifests]


def run_jobs(args: argparse.Namespace) -> int:
    store = store_for(config_from(args))
    try:
        manifests, problems = _with_states(store, store.list()), store.problems()
    except JobError as error:
        print(json.dumps({"error": str(error)}) if args.json else f"calpolicy jobs: {error}")
        return EXIT_COULD_NOT_CHECK
    if args.json:
        print(json_text({"jobs_dir": str(store.jobs_dir), "jobs": [_row(m) for m in manifests],
                         "unreadable": problems}))  # fmt: skip
        return 0
    if not manifests and not problems:
        print(f"no jobs in {store.jobs_dir}")
        return 0
    print(f"{'JOB':<24} {'STATE':<12} {'VERDICT':<8} {'CREATED (UTC)':<26} OPERATOR")
    for m in manifests:  # manifests are files others may edit: their control characters are shown, not obeyed
        print(printable(f"{m['job_id']:<24} {m.get('state')!s:<12} {m.get('verdict')!s:<8} "
                        f"{m.get('created_at')!s:<26} {m.get('operator') or '-'}"))  # fmt: skip
    for job_id, problem in problems.items():
        print(printable(f"{job_id:<24} {'UNREADABLE':<12} {problem}"))
    return 0


def applied_version(calibration_file: Path) -> dict[str, Any]:
    """What the live calibration config says, and what the loader last acknowledged (once apply exists)."""
    out: dict[str, Any] = {"calibration_file": str(calibration_file), "version": None, "loaded": None}
    try:
        raw = parse_json(read_optional(calibration_file, "calibration") or b"null")
        version = raw.get("version") if isinstance(raw, dict) else None
        out["version"] = version if isinstance(version, str) else None
    except (OSError, ValueError) as error:
        out["problem"] = f"the live config cannot be read: {getattr(error, 'strerror', None) or error}"
    with contextlib.suppress(OSError, ValueError):
        loaded = parse_json(read_optional(calibration_file.parent / ".calpolicy_loaded", "marker") or b"null")
        out["loaded"] = loaded if isinstance(loaded, dict) else None
    return out


def run_status(args: argparse.Namespace) -> int:
    config = config_from(args)
    store = store_for(config)
    try:
        latest = store.latest()
    except JobError as error:
        print(json.dumps({"error": str(error)}) if args.json else f"calpolicy status: {error}")
        return EXIT_COULD_NOT_CHECK
    if latest is not None:
        try:
            latest = _with_states(store, [latest])[0]
        except JobError as error:  # what is live still matters most: say why the state is unknown, go on
            latest = {**latest, "state": f"unknown ({error})"}
    applied = applied_version(config.paths.calibration_file)
    if applied["version"]:
        from calpolicy.apply.confirmation import served_problem  # the engine's own evidence (issue 20)

        problem = served_problem(config, applied["version"])
        applied["live"] = None if problem is not None and problem[0] == "unknown" else problem is None
        applied["not_live_because"] = None if problem is None else problem[1]
    if args.json:
        job = None if latest is None else {**_row(latest), "job_dir": str(store.jobs_dir / latest["job_id"])}
        print(json_text({"latest_job": job, "applied": applied}))
        return 0
    if latest is None:
        print(f"latest job: none in {store.jobs_dir}")
    else:
        print(printable(f"latest job: {latest['job_id']} — {latest.get('state')}, verdict {latest.get('verdict')}, "
                        f"made {latest.get('created_at')} by {latest.get('operator') or '-'}"))  # fmt: skip
        print(f"  folder: {store.jobs_dir / latest['job_id']}")
    version = applied["version"] or "none (no calibration.json with a version)"
    print(f"applied calibration: {version} ({applied['calibration_file']})")
    if applied.get("problem"):
        print(printable(f"  {applied['problem']}"))
    if applied["version"]:
        if applied["live"]:
            print("  applied, live")
        elif applied["live"] is None:
            print(f"  written; live or not is UNKNOWN: {applied['not_live_because']}")
        else:
            print(f"  written, not live: {applied['not_live_because']}")
    return 0
