"""S.e: the Risk-Safety halt keys, read with Redis's own types and the configured true/false words."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import redis

from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.redis.connection import checked_type

# ------------------------------------------------------------------------------------------ halt keys


BOOLEAN_PATTERN = "@bool"
"""A halt-key pattern meaning "read the value as the host means a boolean" (``redis.halt_true_values``)."""


@dataclass(frozen=True)
class HaltState:
    """Which configured halt keys are set, to what, and which held a value that cannot be judged."""

    tripped: dict[str, str] = field(default_factory=dict)
    checked: tuple[str, ...] = ()
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def halted(self) -> bool:
        return bool(self.tripped)


def _vocabulary(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values)


def boolean_halt(value: str, true_values: tuple[str, ...], false_values: tuple[str, ...]) -> bool | None:
    """The host's boolean reading of a halt value: True halted, False clear, None neither (cannot judge).

    The host's ops scripts write ``true``/``false``, its lockdown guard ``1``, its apply layer halts on
    ``true``/``1``/``yes`` (REAL_SYSTEM.md §4): case and surrounding blanks do not change the meaning.
    """
    word = value.strip().casefold()
    if word in _vocabulary(true_values):
        return True
    if word in _vocabulary(false_values):
        return False
    return None


def halt_state(
    client: redis.Redis,
    halt_keys: dict[str, tuple[str, ...]],
    true_values: tuple[str, ...] = ("true", "1", "yes", "on"),
    false_values: tuple[str, ...] = ("false", "0", "no", "off", ""),
) -> HaltState:
    """A key trips when it exists and its value matches one of its patterns.

    Patterns: ``*`` = any value (and any type: existence is the signal); ``@bool`` = the value read as a
    boolean (``true_values`` halt, ``false_values`` do not, anything else is unreadable); anything else is
    a glob matched case-insensitively (``FREEZE`` matches ``freeze``). A key with specific values must be
    a string; another type is an error rather than a guess. When no key trips but one holds a value that
    cannot be judged, that is a ``ProbeError`` naming the key and what it held: an unknown is not calm.
    """
    if not halt_keys:
        raise ProbeError("redis.halt_keys is empty, so HALT cannot be ruled out (an empty source is not calm)")
    tripped: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for key, patterns in halt_keys.items():
        kind = checked_type(client, key)
        if kind == "none":
            continue
        if patterns == ("*",) or ("*" in patterns and kind != "string"):
            tripped[key] = f"<{kind}>" if kind != "string" else str(client.get(key))
            continue
        if kind != "string":
            raise ProbeError(f"halt key {key} is a Redis {kind}, expected a string value")
        value = str(client.get(key))
        globs = [p for p in patterns if p != BOOLEAN_PATTERN]
        if any(fnmatch.fnmatchcase(value.casefold(), p.casefold()) for p in globs):
            tripped[key] = value
            continue
        if BOOLEAN_PATTERN in patterns:
            reading = boolean_halt(value, true_values, false_values)
            if reading:
                tripped[key] = value
            elif reading is None:
                unreadable[key] = value
    if unreadable and not tripped:
        shown = "; ".join(f"{k} = {v[:80]!r}" for k, v in unreadable.items())
        raise ProbeError(
            f"halt key value(s) that are neither a halt ({', '.join(true_values)}) nor clear "
            f"({', '.join(v if v else repr(v) for v in false_values)}), case-insensitive: {shown}; "
            "cannot tell whether the system is halted (redis.halt_true_values / redis.halt_false_values)"
        )
    return HaltState(tripped=tripped, checked=tuple(halt_keys), unreadable=unreadable)
