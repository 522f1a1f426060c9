"""Live probes of the host: systemd units and journals, Redis, the readiness API, market state, operator.

Every probe reads and never writes, returns typed results, and raises ``ProbeError`` when it cannot
answer, so a dead bus or a missing ``systemctl`` is reported as "could not check" and never as green.
"""

from __future__ import annotations

from calpolicy.preflight.probes.command import ProbeError, run_command

__all__ = ["ProbeError", "run_command"]
