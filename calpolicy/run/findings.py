"""What the sandbox's answer means in the checklist's words: a refused operation is a P1.x item."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from calpolicy.lockdown.sandbox import SandboxResult
from calpolicy.run.outcome import SANDBOX_ID
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Finding


def violation_id(operation: str, target: str, config: Config) -> str:
    """The checklist item a refused operation would have broken."""
    if operation.startswith("socket."):
        from urllib.parse import urlparse

        redis = urlparse(config.redis.url)
        redis_address = f"{redis.hostname}:{redis.port or 6379}"
        return "P1.2.c" if target == redis_address or target.startswith("/") else "P1.2.b"
    if operation in ("open for reading", "os.listdir", "os.scandir", "glob.glob"):
        return "P1.2.a"
    if operation.startswith(("subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                             "os.kill", "os.killpg", "signal.", "pty.", "os.startfile", "os.pidfd")):  # fmt: skip
        return "P1.1.e"
    from calpolicy.lockdown.protected import protected_roots

    real = Path(os.path.realpath(target)) if target.startswith("/") else None
    for control_id, root in protected_roots(config):
        root_real = Path(os.path.realpath(root))
        if real is not None and (real == root_real or root_real in real.parents) and control_id.startswith("P1.1"):
            return control_id
    return "P1.1.c"


def _sandbox_findings(box: SandboxResult, config: Config) -> list[Finding]:
    evidence = {"os_guard": box.os_guard, "returncode": box.returncode}
    if box.violation is not None:
        operation, target = box.violation["operation"], box.violation["target"]
        control_id = violation_id(operation, target, config)
        message = f"lockdown: the calibration attempted {operation} {target}; it was refused and the run stopped"
        return [Finding(control_id, "fail", message, {**evidence, **box.violation})]
    if box.error is not None:
        return [Finding(SANDBOX_ID, "error", f"the sandboxed calibration failed: {box.error}", evidence)]
    return [Finding(SANDBOX_ID, "pass", f"calibration ran in the sandbox ({box.os_guard})", evidence)]


def _task_findings(task: dict[str, Any]) -> list[Finding]:
    if "stop" in task:
        return [Finding(task["stop"]["id"], "fail", task["stop"]["message"], {})]
    if "error" in task:
        return [Finding(task["error"]["id"], "error", task["error"]["message"], {})]
    return []
