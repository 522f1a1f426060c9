"""The calibration as it runs inside the sandbox: exactly the CLM bytes the preflight judged → proposal.json.

The preflight judged the log as it was at one moment (its length and sha256). The live engine keeps
appending, so by now the file may be longer: the task reads exactly the judged number of bytes and checks
their digest, so what is analysed is what was judged. A file that is now shorter (rotated, truncated) or
whose first bytes differ (rewritten) is not the file that was judged: that is a STOP, never a best guess.

In the sandbox the path names a private, read-only copy of the log that bubblewrap made when the child
started (``calpolicy.lockdown.sandbox``): the task never holds a handle on the live file, and the bytes it checks
cannot change under it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from calpolicy.calibrate import ProposalError, propose
from calpolicy.clm import parse_clm_bytes
from calpolicy.vocabulary.config import Config

PROPOSAL_FILE = "proposal.json"
CONSISTENCY_ID = "CLM.consistency"


class ClmChanged(Exception):
    """The CLM file no longer holds the bytes the preflight judged."""


def read_judged_prefix(path: Path, judged_bytes: int, judged_sha256: str) -> tuple[bytes, int]:
    """The first ``judged_bytes`` of ``path`` if they are the judged ones, and how much the file grew since."""
    with open(path, "rb") as handle:
        size_now = os.fstat(handle.fileno()).st_size
        if size_now < judged_bytes:
            raise ClmChanged(
                f"{path} shrank from {judged_bytes} to {size_now} bytes since the preflight judged it "
                "(rotated or truncated?); what was judged can no longer be analysed"
            )
        data = handle.read(judged_bytes)
    if len(data) < judged_bytes:
        raise ClmChanged(f"{path} shrank below {judged_bytes} bytes while it was being read")
    digest = hashlib.sha256(data).hexdigest()
    if digest != judged_sha256:
        raise ClmChanged(
            f"the first {judged_bytes} bytes of {path} changed since the preflight judged them "
            f"(sha256 {judged_sha256[:12]}… then, {digest[:12]}… now): the log was rewritten, not appended to"
        )
    return data, size_now - judged_bytes


def calibrate(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Sandbox task: judged prefix → ``propose`` → ``workdir/proposal.json``; returns what was analysed."""
    clm = Path(args["clm_path"])
    try:
        data, grown = read_judged_prefix(clm, int(args["clm_bytes"]), str(args["clm_sha256"]))
    except ClmChanged as error:
        return {"stop": {"id": CONSISTENCY_ID, "message": str(error)}}
    config = Config.model_validate(args["config"])
    log = parse_clm_bytes(data, clm)
    started = time.perf_counter()
    try:
        proposal = propose(log, config, seed=int(args.get("seed", 0)))
    except ProposalError as error:
        return {"error": {"id": "P2.1.a", "message": f"no proposal could be made: {error}"}}
    propose_s = time.perf_counter() - started
    text = proposal.to_json()
    with open(workdir / PROPOSAL_FILE, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return {
        "clm": {"path": str(clm), "bytes": len(data), "lines": int(log.line_count), "sha256": log.sha256},
        "grown_bytes": grown,
        "propose_s": round(propose_s, 4),
        "proposal_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
