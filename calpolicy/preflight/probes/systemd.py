"""Unit state from one ``systemctl show`` call for all units (testinfra-style typed results).

``systemctl show`` is used rather than ``status``/``is-active`` because it is meant for machines: it exits
0 for every unit it could ask about (a missing unit is ``LoadState=not-found``), so a non-zero exit can only
mean that systemd itself could not be asked — which is "could not check", never "inactive". Properties
are requested as ``Key=value`` (not ``--value``): with ``--value`` systemd prints values in its own
property order and an empty value (``UnitFileState`` of a missing unit) becomes an indistinguishable
blank line, so positional parsing would silently shift fields between units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from calpolicy.preflight.probes.command import ProbeError, run_command
from calpolicy.vocabulary.config import SystemdConfig
from calpolicy.vocabulary.verdict import Finding

PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState")
_NO_SYSTEMD = ("Failed to connect to bus", "has not been booted with systemd", "Host is down")


@dataclass(frozen=True)
class UnitState:
    """What systemd says about one unit."""

    unit: str
    load_state: str
    active_state: str
    sub_state: str
    unit_file_state: str

    @property
    def active(self) -> bool:
        return self.load_state == "loaded" and self.active_state == "active"

    @property
    def described(self) -> str:
        return f"LoadState={self.load_state}, ActiveState={self.active_state}, SubState={self.sub_state}"


def parse_show(output: str, units: Sequence[str]) -> dict[str, UnitState]:
    """Parse ``systemctl show -p Id,...`` output: one blank-line-separated block per unit, in order."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in output.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ProbeError(f"unexpected line in systemctl show output: {line!r}")
        current[key] = value
    if current:
        blocks.append(current)
    if len(blocks) != len(units):
        raise ProbeError(
            f"systemctl show answered {len(blocks)} unit block(s) for {len(units)} unit(s): {output[:300]!r}"
        )
    states: dict[str, UnitState] = {}
    for unit, block in zip(units, blocks, strict=True):
        missing = [p for p in PROPERTIES[1:4] if not block.get(p)]
        if missing:
            raise ProbeError(f"systemctl show gave no {', '.join(missing)} for {unit}: {block}")
        states[unit] = UnitState(
            unit=unit,
            load_state=block["LoadState"],
            active_state=block["ActiveState"],
            sub_state=block["SubState"],
            unit_file_state=block.get("UnitFileState", ""),
        )
    return states


def query_units(units: Sequence[str], config: SystemdConfig) -> dict[str, UnitState]:
    """Ask systemd (through ``config.command_prefix``) for every unit at once."""
    if not units:
        raise ProbeError("no units configured (systemd.units is empty)")
    argv = ["systemctl", "show", "--no-pager", "-p", ",".join(PROPERTIES), *units]
    try:
        result = run_command(argv, config.command_prefix, config.command_timeout_s)
    except ProbeError as error:
        text = str(error)
        if any(marker in text for marker in _NO_SYSTEMD):
            raise ProbeError(f"systemd is not reachable, unit states are unknown: {text}") from None
        raise
    if any(marker in result.stderr for marker in _NO_SYSTEMD):
        raise ProbeError(f"systemd is not reachable, unit states are unknown: {result.stderr}")
    return parse_show(result.stdout.decode("utf-8", "replace"), units)


def unit_finding(control_id: str, unit: str, state: UnitState) -> Finding:
    evidence = {
        "unit": unit,
        "load_state": state.load_state,
        "active_state": state.active_state,
        "sub_state": state.sub_state,
        "unit_file_state": state.unit_file_state,
    }
    if state.active:
        return Finding(control_id, "pass", f"{unit} is active ({state.sub_state})", evidence)
    if state.load_state == "not-found":
        why = "does not exist on this host (LoadState=not-found)"
    elif state.active_state == "activating":
        why = f"is still starting or restarting ({state.described})"
    else:
        why = f"is {state.active_state.upper()} ({state.described})"
    return Finding(control_id, "fail", f"{unit} is not ACTIVE: it {why}", evidence)
