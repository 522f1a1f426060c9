"""What must hold before ``calpolicy approve`` may touch the live config (checklist 3.2, 4.1; DESIGN.md flow).

``approval_preconditions`` collects every problem rather than stopping at the first, so the approver sees
the whole list at once. Each check fails closed: a missing file, an unreadable manifest or a module that
cannot be imported is a problem, never a pass.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calpolicy.atomic_io import sha256_prefix
from calpolicy.config import Config

Preflight = Callable[[], Any]


def signature_problems(job_dir: Path, config: Config) -> list[str]:
    """``calpolicy.signing.verify_job`` over the job; refuses when signing is unavailable or unconfigured."""
    try:
        signing = importlib.import_module("calpolicy.signing")
        verify_job = signing.verify_job
    except (ImportError, AttributeError) as error:
        return [f"signature verification unavailable ({error}); approve refuses without a verified statement"]
    section = getattr(config, "signing", None)
    trusted = getattr(section, "trusted_keys_dir", None)
    if not trusted:
        return ["signature verification unavailable: no signing.trusted_keys_dir is configured"]
    try:
        result = verify_job(job_dir, Path(trusted), clm_path=None)
    except Exception as error:
        return [f"signature verification failed to run: {error}"]
    if getattr(result, "ok", False) is not True:
        problems = list(getattr(result, "problems", []) or ["the statement does not verify"])
        return [f"signature: {p}" for p in problems]
    return []


def state_problems(manifest: dict[str, Any], job_id: str) -> list[str]:
    state = manifest.get("state")
    if state == "proposed":
        return []
    if state == "approved" and manifest.get("applied_version") is None:
        return []  # an approve that was interrupted; approve resumes it
    return [f"job {job_id} is {state!r}; only a proposed job can be approved"]


def results_problems(job_dir: Path) -> list[str]:
    """Every line of ``policy_results.jsonl`` is a passed test, and there is at least one."""
    path = job_dir / "policy_results.jsonl"
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as error:
        return [f"cannot read the job's policy results {path}: {error.strerror}"]
    if not lines:
        return [f"{path} records no policy test: nothing proves the proposal passed"]
    problems = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
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


def preflight_problems(run: Preflight) -> list[str]:
    outcome = run()
    verdict = outcome.verdict
    if verdict.go:
        return []
    return [
        f"fresh preflight is STOP: {f.id} {f.status}: {f.message.splitlines()[0] if f.message else ''}"
        for f in verdict.failures
    ]


def approval_preconditions(
    job_dir: Path,
    config: Config,
    *,
    preflight: Preflight | None = None,
    operator: str | None = None,
    on_call_until: str | None = None,
    config_path: str | None = None,
) -> list[str]:
    """Every reason the job must not be applied now; an empty list means approve may go ahead.

    ``preflight`` runs the fresh preflight (default: the real ``pytest -m preflight`` child run with this
    operator's on-call period); it runs only when the job's own checks pass, as it takes seconds.
    """
    job_dir = Path(job_dir)
    problems: list[str] = []
    try:
        manifest = json.loads((job_dir / "manifest.json").read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        return [f"cannot read the job's manifest in {job_dir}: {error}"]
    problems += signature_problems(job_dir, config)
    problems += state_problems(manifest, job_dir.name)
    problems += results_problems(job_dir)
    problems += clm_problems(manifest)
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
