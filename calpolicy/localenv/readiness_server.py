"""A stand-in for ``quantum-learning-api``'s readiness route, on loopback, with a settable answer.

It serves the real route (``/readiness/simple``) and its alias (``/cadence/ready``) and answers 404
elsewhere, exactly like the real service does for the checklist's URL. The default answer is the real
host's healthy one: ``microservices/learning/cadence_policy.py`` offers ``shadow`` beside ``calibration``
as soon as >= 100 trades span >= 3 days, so a host with enough data to calibrate answers both. Tests and
the demo change ``reply`` between runs to play a ready gate, a closed one, a malformed body, a server
error or a slow answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from calpolicy.localenv.loopback import LoopbackServer

READY_BODY: dict[str, Any] = {
    "ready": True,
    "reason": "✅ All gates passed: 300 trades, Time span: 6.0/3 days, Diversity: WIN=50.0% (min 20%), "
    "LOSS=50.0% (min 20%)",
    "actions": ["calibration", "shadow"],
}
REAL_ALIAS = "/cadence/ready"


@dataclass
class Reply:
    """What the server answers: a JSON-able ``body`` or raw bytes, a status and an optional delay."""

    body: Any = None
    status: int = 200
    raw: bytes | None = None
    content_type: str = "application/json"
    delay_s: float = 0.0

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(READY_BODY if self.body is None else self.body).encode()


class ReadinessServer(LoopbackServer):
    """``start()``/``stop()`` or ``with``; ``url`` is the real route, ``alias_url`` its alias, ``checklist_url``
    the checklist's (which answers 404, as on the real service)."""

    def __init__(self, path: str = "/readiness/simple") -> None:
        self.path = path
        self.reply = Reply()
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def alias_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{REAL_ALIAS}"

    @property
    def checklist_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/learning/readiness/simple"

    def start(self) -> ReadinessServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                reply = owner.reply
                if self.path.split("?")[0] not in (owner.path, REAL_ALIAS):
                    reply = Reply(body={"detail": "Not Found"}, status=404)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = reply.payload()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer to

            def log_message(self, format: str, *args: Any) -> None:
                return

        return self._launch(ThreadingHTTPServer, Handler, "readiness")
