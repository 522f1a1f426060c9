"""A self-contained local environment on loopback: the live targets the preflight probes, made real.

Tests and ``calpolicy demo`` use the same pieces (a real ``redis-server``, a readiness HTTP server, a
systemd booted in a private namespace, a sample CLM log and a ``calpolicy.toml`` pointing at all of it),
so what the demo shows is exactly what the tests exercised.

Owns no checklist item: real services on loopback for tests and ``calpolicy demo``. Only the command
line (and tests) import it (contract ``localenv`` in pyproject.toml).
"""

from __future__ import annotations
