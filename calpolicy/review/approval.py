"""What must hold before ``calpolicy approve`` may touch the live config (checklist 3.2, 4.1; DESIGN.md flow).

``approval_preconditions`` collects every problem rather than stopping at the first, so the approver sees
the whole list at once. Each check fails closed: a missing file, an unreadable manifest or a module that
cannot be imported is a problem, never a pass.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calpolicy.files.atomic_io import sha256_prefix
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import MANIFEST, JobError, JobFiles, JobStore, read_job_files, unfinished_apply
from calpolicy.vocabulary.config import Config

Preflight = Callable[[], Any]


def signature_problems(job_dir: Path, config: Config, files: JobFiles | None = None) -> list[str]:
    """``calpolicy.review.signing.verify_job`` over the job (over ``files``, the bytes approve will apply, when
    given); refuses when signing is unavailable or unconfigured."""
    try:
        signing = importlib.import_module("calpolicy.review.signing")
        verify_job = signing.verify_job
    except (ImportError, AttributeError) as error:
        return [f"signature verification unavailable ({error}); approve refuses without a verified statement"]
    section = getattr(config, "signing", None)
    trusted = getattr(section, "trusted_keys_dir", None)
    if not trusted:
        return ["signature verification unavailable: no signing.trusted_keys_dir is configured"]
    try:
        result = verify_job(job_dir, Path(trusted), clm_path=None, files=files)
    except Exception as error:
        return [f"signature verification failed to run: {error}"]
    if getattr(result, "ok", False) is not True:
        problems = list(getattr(result, "problems", []) or ["the statement does not verify"])
        return [f"signature: {p}" for p in problems]
    return []


def state_problems(manifest: dict[str, Any], job_id: str, store: JobStore | None = None) -> list[str]:
    """Only a proposed job (or one an interrupted approve left approved) may be approved. The state comes
    from the append-only records (``JobStore.state``), never from the manifest's editable field alone."""
    try:
        state = store.state(job_id, manifest) if store is not None else manifest.get("state")
    except JobError as error:
        return [f"cannot tell job {job_id}'s state: {error}"]
    if state in ("proposed", "approved") or unfinished_apply(str(state), manifest):
        return []  # an approve that was interrupted; approve resumes it (and never applies twice)
    return [f"job {job_id} is {state!r}; only a proposed job can be approved", *_abort_evidence(job_id, state, store)]


def _abort_evidence(job_id: str, state: Any, store: JobStore | None) -> list[str]:
    """Why an aborted job is aborted when the apply history says so: who, when, and whether the jobs folder's
    own records still show it (a decisions log cut and a signed manifest put back no longer do)."""
    if state != "aborted" or store is None or store.history is None:
        return []
    from calpolicy.jobs import history as apply_history

    try:
        line = apply_history.aborted(apply_history.read(store.history), job_id)
        own = JobStore(store.jobs_dir).state(job_id)
    except (OSError, JobError):
        return []
    if line is None:
        return []
    said = f"the apply history {store.history} records that {line.get('by')} aborted it at {line.get('at')}"
    folder = line.get("jobs_dir")
    if isinstance(folder, str) and folder != str(store.jobs_dir):
        # job IDs name the versions of one live config: the ID is spent, whichever folder held the job
        return [f"{said}, as a job of the jobs folder {folder}; this live config never takes a job of that ID"]
    if own == "aborted":
        return [said]
    return [f"{said}; the jobs folder's own records say {own!r}: they were cut or rewritten after the abort"]


def results_problems(job_dir: Path, files: JobFiles | None = None) -> list[str]:
    """Every line of ``policy_results.jsonl`` is a passed test, and there is at least one: a test that
    errored, was skipped or could not check blocks as a failure does."""
    path = job_dir / "policy_results.jsonl"
    if files is None:
        try:
            files = read_job_files(job_dir)
        except JobError as error:
            return [str(error)]
    data = files.get(path.name)
    if data is None:
        return [f"cannot read the job's policy results {path}: it {files.odd.get(path.name, 'is missing')}"]
    lines = [ln for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    if not lines:
        return [f"{path} records no policy test: nothing proves the proposal passed"]
    problems = []
    for number, line in enumerate(lines, 1):
        try:
            row = parse_json(line)
        except ValueError:
            problems.append(f"{path.name} line {number} is not JSON")
            continue
        outcome = row.get("outcome", row.get("status")) if isinstance(row, dict) else None
        if outcome != "pass":
            name = row.get("nodeid", f"line {number}") if isinstance(row, dict) else f"line {number}"
            message = (row.get("message") or "") if isinstance(row, dict) else ""
            problems.append(f"policy test {name} did not pass ({outcome}){': ' + message if message else ''}")
    return problems


def clm_problems(manifest: dict[str, Any]) -> list[str]:
    """The CLM log must still start with exactly the bytes that were analysed (append-only extension)."""
    clm = manifest.get("clm")
    if not isinstance(clm, dict) or not all(k in clm for k in ("path", "bytes", "sha256")):
        return ["the job's manifest does not record the analysed CLM bytes (clm.path, clm.bytes, clm.sha256)"]
    path = Path(str(clm["path"]))
    if isinstance(clm["bytes"], bool) or not isinstance(clm["bytes"], int) or clm["bytes"] < 0:
        return [f"the job's manifest records a CLM byte count that is not a whole number: {clm['bytes']!r}"]
    try:
        digest, read = sha256_prefix(path, int(clm["bytes"]))
    except OSError as error:
        return [f"cannot read the CLM log {path}: {error.strerror}"]
    if read < int(clm["bytes"]):
        return [
            f"the CLM log {path} is now {read} bytes, shorter than the {clm['bytes']} analysed: it was "
            "truncated or replaced, so the proposal no longer describes it"
        ]
    if digest != clm["sha256"]:
        return [
            f"the first {clm['bytes']} bytes of the CLM log {path} changed since the analysis (sha256 "
            f"{digest[:12]}… ≠ {str(clm['sha256'])[:12]}…): it is not an append-only extension"
        ]
    return []


def map_problems(proposal: Any) -> list[str]:
    """The invariants every ``CalibrationMap`` holds, re-checked on the bytes about to be applied: finite
    knots, x strictly increasing from 0 to 1, y non-decreasing and inside [0, 1]."""
    problems = []
    for name, result in proposal.models.items():
        xs, ys = list(result.x), list(result.y)
        where = f"the proposal's {name} map"
        if len(xs) < 2 or len(xs) != len(ys):
            problems.append(f"{where} needs at least two knots with as many x as y")
            continue
        if not all(math.isfinite(v) for v in (*xs, *ys)):
            problems.append(f"{where} has a knot that is not a finite number")
            continue
        if any(b <= a for a, b in itertools.pairwise(xs)):
            problems.append(f"{where}: x is not strictly increasing")
        if xs[0] != 0.0 or xs[-1] != 1.0:
            problems.append(f"{where}: its knots do not span [0, 1] (from {xs[0]} to {xs[-1]})")
        if any(not 0.0 <= y <= 1.0 for y in ys):
            problems.append(f"{where}: a value lies outside [0, 1]")
        if any(b < a for a, b in itertools.pairwise(ys)):
            problems.append(f"{where} is not monotone: a higher confidence would map lower")
    return problems


def proposal_problems(proposal_bytes: bytes | None, config: Config) -> list[str]:
    """P2.2 on exactly the proposal bytes approve will apply: the map invariants and ``check_bounds``."""
    from calpolicy.calibrate import Proposal, ProposalError
    from calpolicy.calibrate.bounds import check_bounds

    if proposal_bytes is None:
        return ["the job has no readable proposal.json"]
    try:
        proposal = Proposal.from_json(proposal_bytes)
    except (ProposalError, ValueError, RecursionError) as error:
        return [f"cannot read the job's proposal: {error}"]
    problems = map_problems(proposal)
    if problems:
        return problems
    try:
        verdict = check_bounds(proposal, config)
    except (ValueError, KeyError, ProposalError) as error:
        return [f"the P2.2 bounds could not be re-checked on the proposal: {error}"]
    return [
        f"P2.2 re-checked on the proposal is not GO: {f.id} {f.status}: "
        f"{f.message.splitlines()[0] if f.message else ''}"  # the first line, as text (was a list's repr)
        for f in verdict.findings
        if f.status not in ("pass", "waived")
    ] or ([] if verdict.go else ["P2.2 re-checked on the proposal is not GO (no finding)"])


def preflight_problems(run: Preflight) -> list[str]:
    """The fresh preflight's STOP, one line per failed item; a verdict that judged nothing is a STOP too
    (it is not GO, and "no failure listed" must never read as a pass)."""
    outcome = run()
    verdict = outcome.verdict
    if verdict.go:
        return []
    return [
        f"fresh preflight is STOP: {f.id} {f.status}: {f.message.splitlines()[0] if f.message else ''}"
        for f in verdict.failures
    ] or ["fresh preflight is STOP: its verdict holds no finding"]


def approval_preconditions(
    job_dir: Path,
    config: Config,
    *,
    preflight: Preflight | None = None,
    operator: str | None = None,
    on_call_until: str | None = None,
    config_path: str | None = None,
    files: JobFiles | None = None,
) -> list[str]:
    """Every reason the job must not be applied now; an empty list means approve may go ahead.

    ``preflight`` runs the fresh preflight (default: the real ``pytest -m preflight`` child run with this
    operator's on-call period); it runs only when the job's own checks pass, as it takes seconds.
    ``files`` is the job as read once by approve: everything here is judged on those bytes, and approve
    applies the same bytes, so replacing a file during the preflight changes nothing.
    """
    job_dir = Path(job_dir)
    problems: list[str] = []
    if files is None:
        try:
            files = read_job_files(job_dir)
        except JobError as error:
            return [str(error)]
    try:
        manifest = parse_json(files.get(MANIFEST) or b"")
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:
        return [f"cannot read the job's manifest in {job_dir}: {error}"]
    from calpolicy.jobs.history import HISTORY_NAME

    store = JobStore(job_dir.parent, Path(config.paths.archive_dir) / HISTORY_NAME)
    problems += signature_problems(job_dir, config, files)
    problems += state_problems(manifest, job_dir.name, store)
    problems += results_problems(job_dir, files)
    problems += clm_problems(manifest)
    problems += proposal_problems(files.get("proposal.json"), config)
    if problems:
        return problems
    if preflight is None:
        from calpolicy.preflight import run_preflight

        def preflight() -> Any:
            return run_preflight(
                config_path=Path(config_path) if config_path else None,
                operator=operator,
                on_call_until=on_call_until,
                timeout_s=config.deploy.preflight_timeout_s,
            )

    return preflight_problems(preflight)
