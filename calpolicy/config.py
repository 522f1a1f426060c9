"""One typed config object for every gate.

Every threshold of the checklist is a named setting whose default is the checklist's own value, so a
site that configures nothing enforces exactly the binding checklist. Values come, in rising priority,
from the defaults, a TOML file (``calpolicy.toml`` in the working directory, ``CALPOLICY_CONFIG`` or an
explicit path) and ``CALPOLICY_<SECTION>__<KEY>`` environment variables. Each value remembers where it
came from so ``calpolicy config show`` can answer "why is this threshold what it is?".
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CONFIG_FILE = "calpolicy.toml"
ENV_CONFIG_PATH = "CALPOLICY_CONFIG"
ENV_PREFIX = "CALPOLICY_"


class ConfigError(ValueError):
    """A config that cannot be trusted; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class PathsConfig(_Section):
    """Where the live system keeps what calpolicy reads and (only on approve/rollback) writes."""

    clm_file: Path = Path("data/clm_trades.jsonl")
    config_dir: Path = Path("config")
    calibration_file: Path = Path("config/calibration.json")
    archive_dir: Path = Path("config/calibration_archive")
    jobs_dir: Path = Path("calpolicy_jobs")
    protected_paths: tuple[Path, ...] = ()


class CadenceConfig(_Section):
    """The learning-cadence minimum (checklist P0.2.b/c, S.a) and the real gate's time span."""

    min_trades: int = Field(50, ge=1)
    min_symbols: int = Field(2, ge=1)
    min_span_days: float = Field(3.0, ge=0.0)


class DataConfig(_Section):
    """Integrity rules the schema alone cannot express (REAL_SYSTEM.md §1 defects)."""

    duplicate_window_ms: float = Field(1000.0, ge=0.0)
    future_tolerance_s: float = Field(300.0, ge=0.0)
    backwards_tolerance_s: float = Field(0.0, ge=0.0)
    starvation_hours: float = Field(2.0, gt=0.0)
    max_file_mb: float = Field(2048.0, gt=0.0)
    max_examples: int = Field(20, ge=1, le=10_000)


class SystemdConfig(_Section):
    """Units and journals of the live host (checklist 0.1, S.c)."""

    units: tuple[str, ...] = (
        "quantum-ai-engine",
        "quantum-execution",
        "quantum-learning-monitor",
        "quantum-learning-api",
    )
    ai_engine_unit: str = "quantum-ai-engine"
    execution_unit: str = "quantum-execution"
    command_prefix: tuple[str, ...] = ()
    journal_window_minutes: float = Field(30.0, gt=0.0)
    execution_error_window_minutes: float = Field(60.0, gt=0.0)
    execution_log_files: tuple[Path, ...] = (Path("/var/log/quantum/execution.log"),)
    command_timeout_s: float = Field(15.0, gt=0.0)


class RedisConfig(_Section):
    """The bus: latency bound, backlog bound and the halt/safety keys (P0.1.f, S.e)."""

    url: str = "redis://127.0.0.1:6379/0"
    max_latency_ms: float = Field(50.0, gt=0.0)
    # which statistic of the sampled PINGs must stay under the bound; "max" is what fails closed
    latency_statistic: Literal["max", "p99", "p50"] = "max"
    latency_samples: int = Field(100, ge=1, le=100_000)
    latency_duration_s: float = Field(1.0, gt=0.0, le=60.0)
    timeout_s: float = Field(2.0, gt=0.0)
    backlog_streams: tuple[str, ...] = ("quantum:stream:trade.closed",)
    max_backlog: int = Field(1000, ge=0)
    halt_keys: dict[str, tuple[str, ...]] = {
        "quantum:global:kill_switch": ("1",),
        "quantum:governor:halt": ("*",),
        "quantum:system:mode": ("FREEZE", "LOCKDOWN"),
        "quantum:learning:frozen": ("*",),
        "quantum:safety:safe_mode": ("*",),
    }


class ReadinessConfig(_Section):
    """The learning cadence API (P0.3). The default URL is the checklist's; the real route differs."""

    url: str = "http://localhost:8003/api/learning/readiness/simple"
    allowed_actions: tuple[str, ...] = ("calibration",)
    required_action: str = "calibration"
    connect_timeout_s: float = Field(2.0, gt=0.0)
    read_timeout_s: float = Field(5.0, gt=0.0)
    deadline_s: float = Field(10.0, gt=0.0)
    retries: int = Field(2, ge=0, le=10)


class MarketConfig(_Section):
    """Where the market-extreme stop signal (S.b) reads from; no volume source exists upstream yet."""

    symbols: tuple[str, ...] = ()
    hash_key_pattern: str = "quantum:marketstate:{symbol}"
    volume_ratio_field: str = "volume_ratio"
    max_volume_ratio: float = Field(3.0, gt=0.0)
    halt_field: str = "halt"


class CalibrationConfig(_Section):
    """Statistics and the hard safety bounds (checklist 2.2)."""

    max_confidence_change: float = Field(0.15, gt=0.0, le=1.0)
    min_improvement: float = Field(0.05, ge=0.0, le=1.0)
    max_degradation: float = Field(0.0, ge=0.0, le=1.0)
    folds: int = Field(5, ge=2, le=50)
    split: Literal["kfold", "walk_forward"] = "kfold"
    min_trades_for_decision: int = Field(200, ge=1)
    bootstrap_below: int = Field(5000, ge=0)
    bootstrap_resamples: int = Field(2000, ge=100, le=100_000)
    reliability_bins: int = Field(10, ge=2, le=100)


class WatchConfig(_Section):
    """Post-apply watch thresholds (checklist 4.2)."""

    pnl_drift_sd: float = Field(0.10, gt=0.0)
    win_rate_delta: float = Field(0.05, gt=0.0, le=1.0)
    hold_rate_increase: float = Field(0.50, gt=0.0)
    confidence_range: tuple[float, float] = (0.50, 0.95)
    recent_trades: int = Field(20, ge=1)
    hours: float = Field(24.0, gt=0.0)
    baseline_hours: float = Field(24.0, gt=0.0)
    baseline_min_trades: int = Field(50, ge=2)
    min_post_trades: int = Field(20, ge=2)
    min_decisions: int = Field(20, ge=1)
    min_post_hours: float = Field(1.0, gt=0.0)
    decision_dedupe_s: float = Field(2.0, ge=0.0)

    @model_validator(mode="after")
    def _range_ordered(self) -> WatchConfig:
        low, high = self.confidence_range
        if not 0.0 <= low < high <= 1.0:
            raise ValueError("confidence_range must be [low, high] with 0 <= low < high <= 1")
        return self


class OperatorConfig(_Section):
    """Human availability (P3.2.c, S.d)."""

    min_on_call_hours: float = Field(24.0, gt=0.0)


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
            lines.append(f"{key} = {json.dumps(value)}  # {self.sources.get(key, 'default')}")
        return "\n".join(lines)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key != "halt_keys":
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
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "halt_keys":
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
            problems.append(f"config key '{key}' (from {origin}): {item['msg']}; got {item.get('input')!r}")
    return "invalid configuration: " + "; ".join(problems)


Origin = str | dict[str, str] | None  # one name for the whole layer, or one per dotted key


def _build(layers: list[tuple[dict[str, Any], Origin]], sources: dict[str, str]) -> Config:
    merged: dict[str, Any] = {}
    for layer, origin in layers:
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
    return config.model_copy(update={"sources": sources})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None


def _env_layer(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``CALPOLICY_REDIS__URL=...`` → ``{"redis": {"url": ...}}``; values parse as JSON where they can.

    Each key's origin names its variable, so a bad value points at the exact thing to unset.
    """
    flat: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_PATH or "__" not in name:
            continue
        dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        flat[dotted] = value
        origins[dotted] = f"environment {name}"
    return _unflatten(flat), origins


def load_config(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Config:
    """The effective config: defaults, then the TOML file, then ``CALPOLICY_*`` variables.

    An explicit ``path`` (or ``CALPOLICY_CONFIG``) must exist; ``calpolicy.toml`` in the working directory
    is read only when present, so an unconfigured host runs on the checklist's values.
    """
    env = dict(os.environ if environ is None else environ)
    layers: list[tuple[dict[str, Any], Origin]] = []
    chosen = path if path is not None else env.get(ENV_CONFIG_PATH)
    if chosen is not None:
        file_path = Path(chosen)
        layers.append((_read_toml(file_path), str(file_path)))
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        layers.append((_read_toml(Path(DEFAULT_CONFIG_FILE)), DEFAULT_CONFIG_FILE))
    env_layer, env_origins = _env_layer(env)
    if env_layer:
        layers.append((env_layer, env_origins))
    return _build(layers, {})
