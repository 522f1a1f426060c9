"""The learning cadence gate (P0.3): one GET of the readiness API, validated strictly.

"Ready" must be the JSON boolean ``true`` — the string ``"true"``, ``1`` or a missing field are not
ready, because a gate that accepts a truthy anything is a gate that a serialisation bug can open. The
checklist's URL answers 404 on the real service (which serves ``/readiness/simple``); the message says so
instead of leaving the operator to guess.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from calpolicy.config import ReadinessConfig
from calpolicy.probes.command import ProbeError
from calpolicy.verdict import Finding

CHECKLIST_PATH = "/api/learning/readiness/simple"
REAL_PATH = "/readiness/simple"
REAL_ALIAS = "/cadence/ready"


@dataclass(frozen=True)
class ReadinessResponse:
    url: str
    status_code: int
    body: Any
    elapsed_ms: float
    attempts: int


def _real_route_hint(url: str) -> str:
    parts = urlsplit(url)
    if parts.path.rstrip("/") != REAL_PATH:
        suggestion = urlunsplit((parts.scheme, parts.netloc, REAL_PATH, "", ""))
        return (
            f"; the real quantum-learning-api serves GET {REAL_PATH} (alias {REAL_ALIAS}), not "
            f'{parts.path or "/"} — set readiness.url = "{suggestion}"'
        )
    return ""


def fetch_readiness(config: ReadinessConfig, session: requests.Session | None = None) -> ReadinessResponse:
    """GET the readiness URL; retry transport failures and 5xx within a total deadline.

    Raises ``ProbeError`` for anything that is not a 200 with a JSON body: the gate's content can only
    be judged once the service has actually answered.
    """
    http = session or requests.Session()
    deadline = time.monotonic() + config.deadline_s
    attempts = 0
    last_problem = "no attempt was made"
    while attempts <= config.retries:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
        timeout = (min(config.connect_timeout_s, remaining), min(config.read_timeout_s, remaining))
        started = time.monotonic()
        try:
            reply = http.get(config.url, timeout=timeout, headers={"Accept": "application/json"})
        except requests.Timeout:
            last_problem = f"no answer within the timeout (connect {timeout[0]:g} s, read {timeout[1]:g} s)"
            continue
        except requests.ConnectionError as error:
            last_problem = f"connection failed: {_short(error)}"
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            continue
        except requests.RequestException as error:
            raise ProbeError(f"readiness API {config.url}: request failed: {_short(error)}") from None
        elapsed = (time.monotonic() - started) * 1000.0
        if reply.status_code == 404:
            raise ProbeError(
                f"readiness API {config.url} answered 404 Not Found{_real_route_hint(config.url)}"
            )
        if reply.status_code >= 500:
            last_problem = f"HTTP {reply.status_code}: {reply.text[:200]}"
            continue
        if reply.status_code != 200:
            raise ProbeError(
                f"readiness API {config.url} answered HTTP {reply.status_code}: {reply.text[:200]}"
            )
        try:
            body = reply.json()
        except ValueError:
            raise ProbeError(
                f"readiness API {config.url} answered 200 but the body is not JSON: {reply.text[:200]!r}"
            ) from None
        return ReadinessResponse(config.url, reply.status_code, body, elapsed, attempts)
    raise ProbeError(
        f"readiness API {config.url} could not be read after {attempts} attempt(s) within "
        f"{config.deadline_s:g} s: {last_problem}"
    )


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) < 240 else text[:240] + "…"


def readiness_findings(response: ReadinessResponse, config: ReadinessConfig) -> list[Finding]:
    """P0.3.a (ready is JSON true), P0.3.b (the required action is offered), P0.3.c (nothing else)."""
    body = response.body
    evidence = {"url": response.url, "body": body}
    if not isinstance(body, dict):
        message = f"the readiness API answered {type(body).__name__} JSON, not an object: {body!r:.200}"
        return [Finding(i, "fail", message, evidence) for i in ("P0.3.a", "P0.3.b", "P0.3.c")]
    findings = [_ready_finding(body, evidence)]
    actions = body.get("actions", _MISSING)
    if actions is _MISSING:
        message = "the readiness answer has no 'actions' field"
        return [
            *findings,
            Finding("P0.3.b", "fail", message, evidence),
            Finding("P0.3.c", "fail", message, evidence),
        ]
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        message = f"'actions' must be a list of strings, got {actions!r:.200}"
        return [
            *findings,
            Finding("P0.3.b", "fail", message, evidence),
            Finding("P0.3.c", "fail", message, evidence),
        ]
    if config.required_action in actions:
        findings.append(
            Finding("P0.3.b", "pass", f"'{config.required_action}' is offered: {actions}", evidence)
        )
    else:
        findings.append(
            Finding("P0.3.b", "fail", f"'{config.required_action}' is not in actions {actions}", evidence)
        )
    outside = [a for a in actions if a not in config.allowed_actions]
    if outside:
        findings.append(
            Finding(
                "P0.3.c",
                "fail",
                f"actions {outside} are outside the allowlist {list(config.allowed_actions)} "
                "(readiness.allowed_actions): the cadence wants more than calibration",
                {**evidence, "forbidden": outside},
            )
        )
    else:
        findings.append(Finding("P0.3.c", "pass", f"every action is allowed: {actions}", evidence))
    return findings


_MISSING = object()


def _ready_finding(body: dict[str, Any], evidence: dict[str, Any]) -> Finding:
    ready = body.get("ready", _MISSING)
    reason = body.get("reason")
    because = f" (reason: {reason})" if reason else ""
    if ready is True:
        return Finding("P0.3.a", "pass", "the learning cadence is READY", evidence)
    if ready is _MISSING:
        return Finding("P0.3.a", "fail", "the readiness answer has no 'ready' field", evidence)
    if ready is False:
        return Finding("P0.3.a", "fail", f"the learning cadence is NOT READY{because}", evidence)
    return Finding(
        "P0.3.a",
        "fail",
        f"'ready' must be the JSON boolean true, got {type(ready).__name__} {ready!r}{because}",
        evidence,
    )
