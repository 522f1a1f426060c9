"""The effective config: the sections as one object, and how layers of values merge with their origins.

Why a module of its own: this is where a value's origin ("default", the file, an environment variable) is
kept and where a merged tree is validated as a whole (waivers included) — the rules that change when a
new source of values is added, not when a setting is.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, ValidationError

from calpolicy.vocabulary.config.sections import (
    CadenceConfig,
    CalibrationConfig,
    DataConfig,
    DeployConfig,
    DoctorConfig,
    MarketConfig,
    OperatorConfig,
    PathsConfig,
    ReadinessConfig,
    RedisConfig,
    SigningConfig,
    SystemdConfig,
    WatchConfig,
    _Section,
)
from calpolicy.vocabulary.waivers import Waiver, waiver_problems


class ConfigError(ValueError):
    """A config that cannot be trusted; the message names the offending key."""


class Config(_Section):
    """The effective configuration; ``sources`` maps each dotted key to where its value came from."""

    paths: PathsConfig = PathsConfig()
    cadence: CadenceConfig = CadenceConfig()
    data: DataConfig = DataConfig()
    systemd: SystemdConfig = SystemdConfig()
    redis: RedisConfig = RedisConfig()
    readiness: ReadinessConfig = ReadinessConfig()
    market: MarketConfig = MarketConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    watch: WatchConfig = WatchConfig()
    operator: OperatorConfig = OperatorConfig()
    deploy: DeployConfig = DeployConfig()
    # looser-than-checklist values and who signed them off (calpolicy.vocabulary.waivers); empty on a strict site
    waivers: dict[str, Waiver] = Field(default_factory=dict)
    """Looser-than-checklist values and who signed them off (by, why, until); empty on a strict site."""
    signing: SigningConfig = SigningConfig()
    doctor: DoctorConfig = DoctorConfig()

    sources: dict[str, str] = Field(default_factory=dict, exclude=True)

    def with_overrides(self, overrides: dict[str, Any], source: str) -> Config:
        """A copy with dotted-key overrides applied (``{"paths.clm_file": "x.jsonl"}``), validated."""
        nested = _unflatten(overrides)
        return _build([(self.as_dict(), None), (nested, source)], dict(self.sources))

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"sources"})

    def show(self) -> str:
        """Every effective value with its origin, one ``key = value  # source`` line each."""
        lines = []
        for key, value in _flatten(self.as_dict()).items():
            waived = f" — WAIVED {self.waivers[key].describe()}" if key in self.waivers else ""
            lines.append(f"{key} = {json.dumps(value)}  # {self.sources.get(key, 'default')}{waived}")
        return "\n".join(lines)

    def lookup(self, dotted: str) -> Any:
        """The value at ``section.key`` (``redis.halt_keys``)."""
        node: Any = self
        for part in dotted.split("."):
            node = getattr(node, part)
        return node


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key != "halt_keys" and prefix != "waivers.":
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        parts = dotted.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key '{dotted}': '{part}' is not a section")
        node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in ("halt_keys", "waivers"):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, origin_of: dict[str, str]) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        section_key = ".".join(str(part) for part in item["loc"][:2])
        origin = origin_of.get(key) or origin_of.get(section_key) or "default"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown config key '{key}' (from {origin})")
        else:
            text = item["msg"].removeprefix("Value error, ")
            problems.append(f"config key '{key}' (from {origin}): {text}; got {item.get('input')!r}")
    return "invalid configuration: " + "; ".join(problems)


Origin = str | dict[str, str] | None  # one name for the whole layer, or one per dotted key


def _build(layers: list[tuple[dict[str, Any], Origin]], sources: dict[str, str]) -> Config:
    merged: dict[str, Any] = {}
    for layer, origin in layers:
        if isinstance(layer.get("waivers"), dict):
            layer = {**layer, "waivers": _dotted_waivers(layer["waivers"])}
        if isinstance(origin, dict):
            sources.update(origin)
        elif origin is not None:
            for key in _flatten(layer):
                sources[key] = origin
        merged = _merge(merged, layer)
    merged.pop("sources", None)
    try:
        config = Config.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_describe(error, sources)) from None
    problems = waiver_problems(config.lookup, config.waivers, origin=lambda k: sources.get(k, "default"))
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return config.model_copy(update={"sources": sources})


def _dotted_waivers(table: dict[str, Any]) -> dict[str, Any]:
    """``[waivers.cadence.min_symbols]`` (unquoted) means the same as ``[waivers."cadence.min_symbols"]``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        is_section = isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values())
        if is_section and not {"by", "why", "until"} & set(value):
            for inner, waiver in value.items():
                flat[f"{key}.{inner}"] = waiver
        else:
            flat[key] = value
    return flat
