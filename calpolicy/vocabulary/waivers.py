"""The checklist's binding values, and the only way to loosen one: an explicit, dated, signed-off waiver.

A site may always be stricter than the checklist. A site that is looser (``min_symbols = 1``, an
allowlist that admits ``"retrain"``, an empty ``halt_keys``) must say so in its config file::

    [waivers."cadence.min_symbols"]
    by = "ana.berg"                      # who took the decision
    why = "single-symbol pilot, INC-4711" # why it is acceptable
    until = 2026-12-31T00:00:00Z          # when the waiver lapses (TOML datetime or ISO-8601 string)

Without a waiver a looser value is a usage error (exit 2); with one, every finding of the items that
value governs reads ``waived`` instead of ``pass``, so no verdict, report or JSON can present a loosened
check as a plain pass. A waiver that is expired, names an unknown key, or covers a value that is not
looser is refused too: a stale waiver is how a loosened value outlives its reason.

This module works on the config's plain values (``lookup(dotted_key)``) so it does not import the config
model; ``calpolicy.vocabulary.config`` calls ``loosened_without_waiver`` when it builds a ``Config``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# --------------------------------------------------------------------------------------------- looseness


def _below(binding: float) -> Callable[[Any], bool]:
    """A minimum: a smaller value is looser (fewer trades, a shorter journal window)."""
    return lambda value: value < binding


def _above(binding: float) -> Callable[[Any], bool]:
    """A maximum: a larger value is looser (more latency, a bigger confidence change)."""
    return lambda value: value > binding


def _range_wider(low: float, high: float) -> Callable[[Any], bool]:
    return lambda value: value[0] < low or value[1] > high


def _differs(binding: Any) -> Callable[[Any], bool]:
    return lambda value: value != binding


# "Redis latency < 50 ms" is a typical figure (docs/configuration.md, "Redis latency"): p95 is the binding
# reading; the maximum and p99 are stricter, p90 and the median looser.
_STATISTIC_STRICTNESS = {"max": 4, "p99": 3, "p95": 2, "p90": 1, "p50": 0}


def _halt_keys_looser(binding: Mapping[str, tuple[str, ...]]) -> Callable[[Any], bool]:
    """Looser when a checklist halt key is dropped or stops tripping on a value it tripped on before."""

    def looser(value: Mapping[str, Any]) -> bool:
        for key, patterns in binding.items():
            mine = tuple(value.get(key, ()))
            if "*" in mine:
                continue
            if "@bool" in patterns and "@bool" in mine:
                continue
            if not mine or any(p not in mine for p in patterns):
                return True
        return False

    return looser


@dataclass(frozen=True)
class Binding:
    """One checklist value: the key, the value, how to tell "looser", and the items it governs."""

    key: str
    value: Any
    looser: Callable[[Any], bool]
    controls: tuple[str, ...]


DEFAULT_HALT_KEYS: dict[str, tuple[str, ...]] = {
    "quantum:global:kill_switch": ("@bool",),
    "quantum:governor:halt": ("@bool",),
    "quantum:system:mode": ("FREEZE", "LOCKDOWN"),
    "quantum:learning:frozen": ("@bool",),
    "quantum:safety:safe_mode": ("@bool",),
}
DEFAULT_HALT_TRUE = ("true", "1", "yes", "on")
DEFAULT_HALT_FALSE = ("false", "0", "no", "off", "")
DEFAULT_ALLOWED_ACTIONS = ("calibration", "shadow")
DEFAULT_FORBIDDEN_ACTIONS = ("retrain", "weights_update", "promotion")
DEFAULT_FORBIDDEN_PATTERNS = ("retrain", "train", "weight", "promot", "deploy", "rollout")


def _folded(values: Iterable[str]) -> set[str]:
    return {v.strip().casefold() for v in values}


def _drops_any(binding: tuple[str, ...]) -> Callable[[Any], bool]:
    """A list whose every default must stay (halt values, forbidden actions): dropping one is looser."""
    return lambda value: not _folded(binding) <= _folded(value)


def _adds_any(binding: tuple[str, ...]) -> Callable[[Any], bool]:
    """A list that must not grow (values read as "not halted", allowed actions): adding one is looser."""
    return lambda value: not _folded(value) <= _folded(binding)


BINDINGS: dict[str, Binding] = {
    b.key: b
    for b in (
        Binding("cadence.min_trades", 50, _below(50), ("P0.2.b", "S.a")),
        Binding("cadence.min_symbols", 2, _below(2), ("P0.2.c", "S.a")),
        Binding("redis.max_latency_ms", 50.0, _above(50.0), ("P0.1.f",)),
        Binding(
            "redis.latency_statistic",
            "p95",
            lambda v: _STATISTIC_STRICTNESS.get(v, -1) < _STATISTIC_STRICTNESS["p95"],
            ("P0.1.f",),
        ),
        Binding("redis.max_backlog", 1000, _above(1000), ("P0.1.f",)),
        Binding("redis.halt_keys", DEFAULT_HALT_KEYS, _halt_keys_looser(DEFAULT_HALT_KEYS), ("S.e",)),
        Binding("redis.halt_true_values", DEFAULT_HALT_TRUE, _drops_any(DEFAULT_HALT_TRUE), ("S.e",)),
        Binding("redis.halt_false_values", DEFAULT_HALT_FALSE, _adds_any(DEFAULT_HALT_FALSE), ("S.e",)),
        Binding("systemd.journal_window_minutes", 30.0, _below(30.0), ("P0.1.e",)),
        Binding("systemd.execution_error_window_minutes", 60.0, _below(60.0), ("S.c",)),
        Binding("data.starvation_hours", 2.0, _above(2.0), ("S.f",)),
        Binding("readiness.allowed_actions", DEFAULT_ALLOWED_ACTIONS, _adds_any(DEFAULT_ALLOWED_ACTIONS), ("P0.3.c",)),
        Binding(
            "readiness.forbidden_actions", DEFAULT_FORBIDDEN_ACTIONS, _drops_any(DEFAULT_FORBIDDEN_ACTIONS), ("P0.3.c",)
        ),
        Binding(
            "readiness.forbidden_patterns",
            DEFAULT_FORBIDDEN_PATTERNS,
            _drops_any(DEFAULT_FORBIDDEN_PATTERNS),
            ("P0.3.c",),
        ),
        Binding("readiness.required_action", "calibration", _differs("calibration"), ("P0.3.b",)),
        Binding("market.max_volume_ratio", 3.0, _above(3.0), ("S.b",)),
        Binding("market.max_volatility_ratio", 3.0, _above(3.0), ("S.b",)),
        Binding("calibration.max_confidence_change", 0.15, _above(0.15), ("P2.2.a",)),
        Binding("calibration.min_improvement", 0.05, _below(0.05), ("P2.2.b",)),
        Binding("calibration.max_degradation", 0.0, _above(0.0), ("P2.2.c",)),
        # The 5 % must be shown with evidence: the point-estimate reading or a lower confidence is looser.
        Binding("calibration.improvement_rule", "lower_bound", _differs("lower_bound"), ("P2.2.b",)),
        Binding("calibration.improvement_confidence", 0.95, _below(0.95), ("P2.2.b",)),
        Binding("calibration.min_trades_for_decision", 200, _below(200), ("P2.2.b", "P2.2.c")),
        Binding("watch.pnl_drift_sd", 0.10, _above(0.10), ("P4.2.a",)),
        Binding("watch.win_rate_delta", 0.05, _above(0.05), ("P4.2.b",)),
        Binding("watch.hold_rate_increase", 0.50, _above(0.50), ("P4.2.c",)),
        Binding("watch.confidence_range", (0.50, 0.95), _range_wider(0.50, 0.95), ("P4.2.d",)),
        Binding("operator.min_on_call_hours", 24.0, _below(24.0), ("S.d", "P3.2.c")),
    )
}


# --------------------------------------------------------------------------------------------- waivers


class Waiver(BaseModel):
    """``[waivers."<section>.<key>"]``: who decided, why, and until when the looser value may stand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str = Field(min_length=1)
    why: str = Field(min_length=1)
    until: datetime

    @field_validator("by", "why")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def describe(self) -> str:
        return f"by {self.by} until {self.until.isoformat(timespec='minutes')}: {self.why}"


def waiver_problems(
    lookup: Callable[[str], Any],
    waivers: Mapping[str, Waiver],
    now: datetime | None = None,
    origin: Callable[[str], str] = lambda key: "config",
) -> list[str]:
    """Every reason the config's looseness is not covered: an unwaived looser value, a bad waiver."""
    moment = now or datetime.now(UTC)
    problems = []
    for key, binding in BINDINGS.items():
        value = lookup(key)
        if binding.looser(value) and key not in waivers:
            problems.append(
                f"config key '{key}' = {_shown(value)} (from {origin(key)}) is looser than the checklist's "
                f"binding value {_shown(binding.value)} (items {', '.join(binding.controls)}); loosening needs a "
                f'[waivers."{key}"] table with by, why and until (see docs/configuration.md)'
            )
    for key, waiver in waivers.items():
        binding = BINDINGS.get(key)
        if binding is None:
            problems.append(f'waivers."{key}": not a binding checklist value; waivable keys: {", ".join(BINDINGS)}')
        elif not binding.looser(lookup(key)):
            problems.append(
                f'waivers."{key}": the value {_shown(lookup(key))} is not looser than the checklist\'s '
                f"{_shown(binding.value)}, so there is nothing to waive; remove the waiver"
            )
        elif waiver.until <= moment:
            problems.append(
                f'waivers."{key}" expired at {waiver.until.isoformat(timespec="minutes")} '
                f"(by {waiver.by}): restore the checklist value {_shown(binding.value)} or renew the waiver"
            )
    return problems


def waived_controls(waivers: Mapping[str, Waiver]) -> dict[str, list[str]]:
    """Control ID → the waivers that loosen it, as ``key (by …, until …: why)`` texts."""
    found: dict[str, list[str]] = {}
    for key, waiver in waivers.items():
        binding = BINDINGS.get(key)
        for control in binding.controls if binding else ():
            found.setdefault(control, []).append(f"{key} ({waiver.describe()})")
    return found


def waive_findings(findings: Iterable[Any], waivers: Mapping[str, Waiver]) -> tuple[Any, ...]:
    """Passing findings of a waived item become ``waived``, with the waiver in message and evidence."""
    loosened = waived_controls(waivers)
    out = []
    for finding in findings:
        reasons = loosened.get(finding.id)
        if reasons and finding.status == "pass":
            finding = replace(
                finding,
                status="waived",
                message=f"{finding.message} — passed only under a waiver: {'; '.join(reasons)}",
                evidence={**finding.evidence, "waivers": reasons},
            )
        out.append(finding)
    return tuple(out)


def apply_waivers(verdict: Any, waivers: Mapping[str, Waiver]) -> Any:
    """The verdict with every passing finding of a waived item shown as ``waived`` (see ``waive_findings``)."""
    return type(verdict)(waive_findings(verdict.findings, waivers))


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, dict):
        value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
    return repr(value)
