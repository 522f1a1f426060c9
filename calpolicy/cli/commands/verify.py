"""``calpolicy verify JOB_ID``: is this job folder exactly what was signed, by a key we trust?

Exit 0 only when the signature, every artifact, the policy test files and the analysed CLM bytes all
verify; otherwise exit 1 and name each file that does not match (or the untrusted signer).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calpolicy.cli.commands.common import UsageError, config_from, printable
from calpolicy.cli.commands.job_lookup import JobError, JobStore, store_for
from calpolicy.files.strict_json import parse_json
from calpolicy.vocabulary.verdict import EXIT_GO, EXIT_STOP


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="check a job's signature and every digest")
    parser.add_argument("job_id", help="the job to verify (cal_YYYYMMDD_HHMMSS)")
    parser.add_argument("--clm", help="CLM log to check against the analysed bytes (default: the one signed)")
    parser.add_argument("--json", action="store_true", help="print the machine-readable verdict")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from calpolicy.jobs import read_job_files
    from calpolicy.review.signing import VerifyResult, verify_job  # cryptography: only once the command runs

    config = config_from(args)
    store = store_for(config)
    try:
        job_dir = store.path(args.job_id)
    except JobError as error:
        raise UsageError(str(error)) from None
    try:
        files = read_job_files(job_dir)  # once: the statement's CLM path and the digests come from these bytes
    except JobError as error:
        files = None
        result = VerifyResult(ok=False, problems=[str(error)])
    clm = Path(args.clm) if args.clm else _signed_clm_path(files.get("statement.json") if files else None)
    if files is not None:
        result = verify_job(job_dir, Path(config.signing.trusted_keys_dir), clm_path=clm, files=files)
    code = EXIT_GO if result.ok else EXIT_STOP
    if args.json:
        findings = [{"id": "statement", "status": "fail", "message": p, "evidence": {}} for p in result.problems]
        if result.ok:
            findings = [
                {"id": "statement", "status": "pass", "message": "verified", "evidence": {"keyid": result.keyid}}
            ]
        state = _state(store, args.job_id)
        print(json.dumps({"verdict": "GO" if result.ok else "STOP", "exit_code": code, "findings": findings,
                          "state": state}, indent=2))  # fmt: skip
        return code
    if result.ok:
        print(
            f"VERIFIED — job {args.job_id}: signed by trusted key {str(result.keyid)[:16]}; "
            f"{len(result.checked)} files, the policy tests and the CLM bytes ({clm}) all match"
        )
    else:
        print(f"NOT VERIFIED — job {args.job_id}: {len(result.problems)} problem(s); do not approve this job")
        for problem in result.problems:  # may name a file planted in the job folder: shown, never obeyed
            print(printable(f"  FAIL {problem}"))
    # the signature covers the bytes as signed, never the decision taken since (a cut decisions log and the
    # signed manifest put back verify): the state, as approve and `jobs` derive it, goes with the answer
    print(printable(f"state: {_state(store, args.job_id)}"))
    return code


def _state(store: JobStore, job_id: str) -> str:
    """The job's state as every view derives it (the apply history included), or why it cannot be told."""
    try:
        return store.state(job_id)
    except JobError as error:
        return f"unknown ({error})"


def _signed_clm_path(statement: bytes | None) -> Path | None:
    """Where the signed statement says the CLM log was (only to find it; its digest is then verified)."""
    try:
        path = parse_json(statement or b"")["predicate"]["clm"]["path"]
    except (ValueError, KeyError, TypeError):
        return None
    return Path(path) if isinstance(path, str) and path and "\x00" not in path else None
