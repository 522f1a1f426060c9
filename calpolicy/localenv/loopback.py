"""A socket server on 127.0.0.1, served from a daemon thread: the shell of every stand-in peer.

The readiness stand-in and the tests' hostile peers differ only in what they answer; starting, stopping
and ``with`` are the same, so they live here once.
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType
from typing import Any

from calpolicy.localenv.ports import free_port


class Managed:
    """``start()``/``stop()``, or ``with``: the life cycle every local stand-in (server, process) shares."""

    def start(self) -> Any:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()


class LoopbackServer(Managed):
    """Subclasses define ``start()`` as ``return self._launch(ServerClass, Handler, name)``."""

    port: int = 0
    _server: socketserver.BaseServer | None = None

    def _launch(self, server_class: type[socketserver.BaseServer], handler: type, name: str) -> Any:
        # A subclass, not a class attribute set on socketserver's own classes for the whole process.
        threaded = type(f"{name}-server", (server_class,), {"allow_reuse_address": True, "daemon_threads": True})
        self.port = free_port()
        self._server = threaded(("127.0.0.1", self.port), handler)
        # a short poll: stop() waits one poll interval, and the default 0.5 s adds up over the tests
        serve = self._server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, name=name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
