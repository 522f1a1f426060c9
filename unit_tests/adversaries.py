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
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from calpolicy.localenv.ports import free_port


def http_response(body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{k}: {v}" for k, v in fields.items() if v != ""]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Server:
    """A threaded TCP server on 127.0.0.1 whose per-connection behaviour is ``self.serve(sock)``."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self._server: socketserver.ThreadingTCPServer | None = None

    def serve(self, sock: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self) -> Any:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                with contextlib.suppress(OSError):  # the probe gave up and closed: what a deadline should do
                    owner.serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.port = free_port()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        # a short poll: stop() waits one poll interval, and the default 0.5 s adds up over the tests
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()


class RawHTTPServer(_Server):
    """Answers every request with ``payload`` (bytes, or a function of the request line).

    ``byte_delay_s`` sends the answer one byte at a time; ``stream`` may instead yield chunks forever.
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
        line = request.split(b"\r\n", 1)[0].decode("latin-1")
        if self.stream is not None:
            for chunk in self.stream():
                sock.sendall(chunk)
            return
        data = self.payload(line) if callable(self.payload) else self.payload
        if not self.byte_delay_s:
            sock.sendall(data)
            return
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            time.sleep(self.byte_delay_s)


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
                if not self.byte_delay_s:
                    sock.sendall(self.reply)
                    continue
                for i in range(len(self.reply)):
                    sock.sendall(self.reply[i : i + 1])
                    time.sleep(self.byte_delay_s)


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
