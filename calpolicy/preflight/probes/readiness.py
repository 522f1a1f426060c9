"""The learning cadence gate (P0.3): one GET of the readiness API, validated strictly.

"Ready" must be the JSON boolean ``true`` — the string ``"true"``, ``1`` or a missing field are not
ready, because a gate that accepts a truthy anything is a gate that a serialisation bug can open. The
checklist's URL answers 404 on the real service (which serves ``/readiness/simple``); the message says so
instead of leaving the operator to guess.

The exchange is fail-closed against a hostile or broken server: one wall-clock deadline covers every
attempt, redirect and byte (a watchdog shuts the socket at the deadline, because socket timeouts are
per read and a server trickling one byte a second never trips them); bodies are capped before and
after decompression (a gzip bomb is refused at ``MAX_DECODED_BYTES``); a redirect is followed only to
the configured scheme, host and port; a body with a duplicated key is not interpreted at all. It uses
``http.client`` rather than ``requests`` because the watchdog needs the socket and the decoder needs a
bound, and ``requests`` hides the one and decodes without the other.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from calpolicy.files.strict_json import StrictJSONError, loads_strict
from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.urls import mask_url
from calpolicy.vocabulary.config import ReadinessConfig
from calpolicy.vocabulary.verdict import Finding

CHECKLIST_PATH = "/api/learning/readiness/simple"
REAL_PATH = "/readiness/simple"
REAL_ALIAS = "/cadence/ready"
MAX_RAW_BYTES = 1 << 20  # the real answer is ~100 bytes; a MiB is generous and still bounded
MAX_DECODED_BYTES = 1 << 20
MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class ReadinessResponse:
    url: str
    status_code: int
    body: Any
    elapsed_ms: float
    attempts: int
    note: str = ""  # how the answer was reached when it was not at the configured URL


class _Transient(Exception):
    """A failure worth another attempt inside the deadline (refused, reset, a read timeout, a 5xx)."""


class _DeadlineHit(Exception):
    """The overall deadline ran out mid-exchange."""


def _real_route_hint(url: str) -> str:
    parts = urlsplit(mask_url(url))
    if parts.path.rstrip("/") != REAL_PATH:
        suggestion = urlunsplit((parts.scheme, parts.netloc, REAL_PATH, "", ""))
        return (
            f"; the real quantum-learning-api serves GET {REAL_PATH} (alias {REAL_ALIAS}), not "
            f'{parts.path or "/"} — set readiness.url = "{suggestion}"'
        )
    return ""


def _real_route_for(url: str) -> str | None:
    """The real service's route on the same origin, when ``url`` is the checklist's path (which answers
    404 there); ``None`` for any other URL, which is the operator's own choice and is never second-guessed."""
    parts = urlsplit(url)
    if parts.path.rstrip("/") != CHECKLIST_PATH:
        return None
    return urlunsplit((parts.scheme, parts.netloc, REAL_PATH, parts.query, ""))


def fetch_readiness(config: ReadinessConfig) -> ReadinessResponse:
    """GET the readiness URL; retry transport failures and 5xx, all within ``config.deadline_s``.

    Raises ``ProbeError`` for anything that is not a 200 with a strict JSON body: the gate's content can
    only be judged once the service has actually answered, once, unambiguously. The checklist's URL
    (``/api/learning/readiness/simple``) answers 404 on the real service, so a 404 there is followed by
    one try of the real route (``/readiness/simple``) on the same scheme, host and port, inside the same
    deadline; the answer then says which URL spoke.
    """
    shown = mask_url(config.url)
    url, fallback, note = config.url, _real_route_for(config.url), ""
    deadline = time.monotonic() + config.deadline_s
    attempts = 0
    last_problem = "no attempt was made"
    while attempts <= config.retries:
        if deadline - time.monotonic() <= 0:
            break
        attempts += 1
        started = time.monotonic()
        try:
            status, body, final_url = _exchange(config, url, deadline)
        except _Transient as problem:
            last_problem = str(problem)
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            continue
        except _DeadlineHit:
            raise ProbeError(
                f"readiness API {mask_url(url)} gave no complete answer within the overall deadline of "
                f"{config.deadline_s:g} s (readiness.deadline_s): the server is too slow or trickles its bytes"
            ) from None
        elapsed = (time.monotonic() - started) * 1000.0
        text = body[:200].decode("utf-8", "replace")
        if status == 404 and fallback is not None and url != fallback:
            note = (
                f"the checklist's URL {shown} answered 404 Not Found, as it does on the real service; "
                f"read the real route {mask_url(fallback)} instead"
            )
            url, attempts = fallback, attempts - 1  # the 404 was an answer, not a failed attempt
            continue
        if status == 404:
            raise ProbeError(f"readiness API {mask_url(url)} answered 404 Not Found{_real_route_hint(url)}")
        if status >= 500:
            last_problem = f"HTTP {status}: {text}"
            continue
        if status != 200:
            raise ProbeError(f"readiness API {mask_url(url)} answered HTTP {status}: {text}")
        try:
            parsed = loads_strict(body)
        except StrictJSONError as error:
            raise ProbeError(
                f"readiness API {mask_url(url)} answered 200 but the body is not JSON a gate may read ({error}): "
                f"{text!r}"
            ) from None
        return ReadinessResponse(mask_url(final_url), status, parsed, elapsed, attempts, note)
    raise ProbeError(
        f"readiness API {mask_url(url)} could not be read after {attempts} attempt(s) within "
        f"{config.deadline_s:g} s: {last_problem}" + (f" ({note})" if note else "")
    )


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _exchange(config: ReadinessConfig, start_url: str, deadline: float) -> tuple[int, bytes, str]:
    """One attempt: the GET plus any redirects that stay on the configured scheme, host and port."""
    url = start_url
    for _ in range(MAX_REDIRECTS + 1):
        status, location, body = _one_request(config, url, deadline)
        if status not in _REDIRECTS:
            return status, body, url
        if not location:
            raise ProbeError(f"readiness API {mask_url(url)} answered HTTP {status} without a Location")
        target = urljoin(url, location)
        if _origin(target) != _origin(config.url):
            raise ProbeError(
                f"readiness API {mask_url(url)} redirected (HTTP {status}) to {mask_url(target)}, off the "
                "configured host: not followed; if the service moved, set readiness.url to its new address"
            )
        url = target
    raise ProbeError(f"readiness API {mask_url(start_url)} redirected more than {MAX_REDIRECTS} times")


class _Watchdog:
    """Shuts the connection's socket at the deadline, so a blocked read returns instead of waiting on."""

    def __init__(self, connection: http.client.HTTPConnection, deadline: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _one_request(config: ReadinessConfig, url: str, deadline: float) -> tuple[int, str | None, bytes]:
    parts = urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _DeadlineHit
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=min(config.connect_timeout_s, remaining))
    watchdog = _Watchdog(connection, deadline)
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "calpolicy"}
    if parts.username is not None:
        user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(user_pass).decode()
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(min(config.read_timeout_s, max(0.001, deadline - time.monotonic())))
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers)
        reply = connection.getresponse()
        raw = _read_capped(reply, deadline, url)
        body = _decode(raw, reply.getheader("Content-Encoding"), url)
        return reply.status, reply.getheader("Location"), body
    except ProbeError:
        raise
    except TimeoutError:
        if watchdog.fired or time.monotonic() >= deadline:  # the socket's timeout can beat the watchdog to it
            raise _DeadlineHit from None
        raise _Transient(
            f"no answer within the timeout (connect {config.connect_timeout_s:g} s, read {config.read_timeout_s:g} s)"
        ) from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        if watchdog.fired:
            raise _DeadlineHit from None
        raise _Transient(f"connection failed: {type(error).__name__}: {_short(error)}") from None
    finally:
        watchdog.cancel()
        connection.close()


def _read_capped(reply: http.client.HTTPResponse, deadline: float, url: str) -> bytes:
    declared = reply.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > MAX_RAW_BYTES:
        raise ProbeError(
            f"readiness API {mask_url(url)} announced a {int(declared)}-byte body, over the "
            f"{MAX_RAW_BYTES}-byte cap: not read"
        )
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise _DeadlineHit
        chunk = reply.read1(65536) if hasattr(reply, "read1") else reply.read(65536)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > MAX_RAW_BYTES:
            raise ProbeError(
                f"readiness API {mask_url(url)} sent a body over the {MAX_RAW_BYTES}-byte cap: not read further"
            )
        chunks.append(chunk)


def _decode(raw: bytes, encoding: str | None, url: str) -> bytes:
    """Undo gzip/deflate with a bound on the output: a 2 MB bomb must not become 2 GB in memory."""
    kind = (encoding or "identity").strip().lower()
    if kind in ("identity", ""):
        return raw
    if kind not in ("gzip", "x-gzip", "deflate"):
        raise ProbeError(f"readiness API {mask_url(url)} used Content-Encoding {kind!r}, which is not supported")
    wbits = 16 + zlib.MAX_WBITS if kind != "deflate" else zlib.MAX_WBITS
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(raw, MAX_DECODED_BYTES + 1)
        if len(out) <= MAX_DECODED_BYTES and not inflater.unconsumed_tail:
            out += inflater.flush(MAX_DECODED_BYTES + 1 - len(out))
    except zlib.error as error:
        raise ProbeError(f"readiness API {mask_url(url)} sent a corrupt {kind} body: {error}") from None
    if len(out) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
        raise ProbeError(
            f"readiness API {mask_url(url)} sent a {kind} body that decodes to more than "
            f"{MAX_DECODED_BYTES} bytes (the decoded-body cap; a compression bomb?): not read"
        )
    return out


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) < 240 else text[:240] + "…"


def readiness_findings(response: ReadinessResponse, config: ReadinessConfig) -> list[Finding]:
    """P0.3.a (ready is JSON true), P0.3.b (the required action is offered), P0.3.c (nothing else)."""
    body = response.body
    evidence = {"url": response.url, "body": body, **({"note": response.note} if response.note else {})}
    if not isinstance(body, dict):
        message = f"the readiness API answered {type(body).__name__} JSON, not an object: {body!r:.200}"
        return [Finding(i, "fail", message, evidence) for i in ("P0.3.a", "P0.3.b", "P0.3.c")]
    ready = _ready_finding(body, evidence)
    if response.note:  # the operator sees which URL answered, not only the evidence
        ready = dataclasses.replace(ready, message=f"{ready.message} ({response.note})")
    findings = [ready]
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
        findings.append(Finding("P0.3.b", "pass", f"'{config.required_action}' is offered: {actions}", evidence))
    else:
        findings.append(Finding("P0.3.b", "fail", f"'{config.required_action}' is not in actions {actions}", evidence))
    findings.append(action_finding(actions, config, evidence))
    return findings


def classify_action(action: str, config: ReadinessConfig) -> str:
    """``allowed``, ``forbidden`` or ``unknown``, case-insensitively.

    The allowed list is matched first and exactly (``shadow`` has no live effect); then the forbidden list
    exactly, then its patterns as parts of the name, so ``retrain_full`` or ``weights_rebalance`` is
    forbidden as "anything like" the checklist's ``retrain`` and ``weights_update``. What none of them
    names is unknown: fail closed on the unknown, not on the known.
    """
    word = action.strip().casefold()
    if word in {a.strip().casefold() for a in config.allowed_actions}:
        return "allowed"
    if word in {a.strip().casefold() for a in config.forbidden_actions}:
        return "forbidden"
    if any(p.strip().casefold() in word for p in config.forbidden_patterns):
        return "forbidden"
    return "unknown"


def action_finding(actions: list[str], config: ReadinessConfig, evidence: dict[str, Any]) -> Finding:
    """P0.3.c: every action named with its class; a forbidden or an unknown one is a STOP."""
    classes = {a: classify_action(a, config) for a in actions}
    shown = ", ".join(f"{a}: {c}" for a, c in classes.items()) or "no action"
    detail = {**evidence, "classes": [{"action": a, "class": c} for a, c in classes.items()]}
    forbidden = [a for a, c in classes.items() if c == "forbidden"]
    unknown = [a for a, c in classes.items() if c == "unknown"]
    detail.update({k: v for k, v in (("forbidden", forbidden), ("unknown", unknown)) if v})
    problems = []
    if forbidden:
        problems.append(
            f"forbidden action(s) {forbidden}: they change what trades live "
            "(readiness.forbidden_actions / readiness.forbidden_patterns)"
        )
    if unknown:
        problems.append(
            f"unknown action(s) {unknown}: nobody has classified them, so they may change what trades live "
            "(add each to readiness.allowed_actions, with a waiver, or to readiness.forbidden_actions)"
        )
    if problems:
        return Finding("P0.3.c", "fail", f"{'; '.join(problems)} — offered: {shown}", detail)
    return Finding("P0.3.c", "pass", f"every action is allowed (no live effect): {shown}", detail)


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
