"""Hostile peers on loopback for the adversarial probe tests: raw HTTP and RESP servers that misbehave.

They speak real bytes over real sockets: an HTTP server that answers whatever bytes it is given (a
redirect, a gzip bomb, a 50 MB body, a duplicated key), optionally one byte at a time, and a "Redis" that
answers ``+PONG`` to everything, optionally trickling each reply. ``requests`` counts connections so a
test can prove a redirect target was never contacted.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import time
from collections.abc import Callable
from typing import Any

from calpolicy.localenv.loopback import LoopbackServer


def http_response(body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{k}: {v}" for k, v in fields.items() if v != ""]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _send(sock: socket.socket, data: bytes, byte_delay_s: float) -> None:
    """All of ``data`` at once, or one byte per ``byte_delay_s`` (a peer that trickles its answer)."""
    if not byte_delay_s:
        sock.sendall(data)
        return
    for i in range(len(data)):
        sock.sendall(data[i : i + 1])
        time.sleep(byte_delay_s)


class _Server(LoopbackServer):
    """A threaded TCP server on 127.0.0.1 whose per-connection behaviour is ``self.serve(sock)``."""

    def __init__(self) -> None:
        self.connections = 0

    def serve(self, sock: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self) -> Any:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                with contextlib.suppress(OSError):  # the probe gave up and closed: what a deadline should do
                    owner.serve(self.request)

        return self._launch(socketserver.ThreadingTCPServer, Handler, type(self).__name__)


class RawHTTPServer(_Server):
    """Answers every request with ``payload`` (bytes, or a function of the request line).

    ``byte_delay_s`` sends the answer one byte at a time; ``stream`` may instead yield chunks forever.
    ``requests`` holds each request's line and headers as received, so a test can read what the probe asked.
    """

    def __init__(
        self,
        payload: bytes | Callable[[str], bytes] = b"",
        byte_delay_s: float = 0.0,
        stream: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__()
        self.payload = payload
        self.byte_delay_s = byte_delay_s
        self.stream = stream
        self.requests: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/readiness/simple"

    def serve(self, sock: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = sock.recv(4096)
            if not chunk:
                return
            request += chunk
        self.requests.append(request)
        line = request.split(b"\r\n", 1)[0].decode("latin-1")
        if self.stream is not None:
            for chunk in self.stream():
                sock.sendall(chunk)
            return
        _send(sock, self.payload(line) if callable(self.payload) else self.payload, self.byte_delay_s)


class FakeRedis(_Server):
    """Not Redis: answers ``reply`` to every RESP command, optionally one byte per ``byte_delay_s``."""

    def __init__(self, reply: bytes = b"+PONG\r\n", byte_delay_s: float = 0.0) -> None:
        super().__init__()
        self.reply = reply
        self.byte_delay_s = byte_delay_s
        self.commands: list[bytes] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def serve(self, sock: socket.socket) -> None:
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while True:
                command, buffer = _one_command(buffer)
                if command is None:
                    break
                self.commands.append(command)
                _send(sock, self.reply, self.byte_delay_s)


def _one_command(buffer: bytes) -> tuple[bytes | None, bytes]:
    """Split one complete RESP array (``*N`` then N bulk strings) off the front of ``buffer``."""
    if not buffer.startswith(b"*") or b"\r\n" not in buffer:
        return None, buffer
    header, rest = buffer.split(b"\r\n", 1)
    parts = []
    for _ in range(int(header[1:])):
        if b"\r\n" not in rest:
            return None, buffer
        length_line, rest = rest.split(b"\r\n", 1)
        length = int(length_line[1:])
        if len(rest) < length + 2:
            return None, buffer
        parts.append(rest[:length])
        rest = rest[length + 2 :]
    return b" ".join(parts), rest
