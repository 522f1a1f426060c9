"""One typed config object for every gate.

Every threshold of the checklist is a named setting whose default is the checklist's own value, so a
site that configures nothing enforces exactly the binding checklist. Values come, in rising priority,
from the defaults, a TOML file (``calpolicy.toml`` in the working directory, ``CALPOLICY_CONFIG`` or an
explicit path) and ``CALPOLICY_<SECTION>__<KEY>`` environment variables. Each value remembers where it
came from so ``calpolicy config show`` can answer "why is this threshold what it is?".

Fail closed on the config itself (docs/configuration.md): numbers must be finite numbers (``true`` is not
1, ``inf`` is not a size), a value looser than the checklist needs a ``[waivers]`` entry, the file must be
a small regular file that only its owner (the running user or root) can write, and the keys that decide
*what* is probed (``SECURITY_KEYS``: commands, URLs, protected paths, waivers) cannot come from the
environment.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from calpolicy.vocabulary.waivers import Waiver, waiver_problems

DEFAULT_CONFIG_FILE = "calpolicy.toml"
ENV_CONFIG_PATH = "CALPOLICY_CONFIG"
ENV_PREFIX = "CALPOLICY_"
MAX_CONFIG_BYTES = 1 << 20  # a config file is a few KB; anything larger is not one
# Keys (or whole sections, ending in ".") an environment variable may not set: they decide what runs
# (command_prefix), what is asked (URLs), what is read as evidence or protected (paths) and what is waived.
SECURITY_KEYS: tuple[str, ...] = (
    "systemd.command_prefix",
    "systemd.execution_log_files",
    "redis.url",
    "readiness.url",
    "paths.protected_paths",
    "paths.calibration_file",
    "paths.config_dir",
    "paths.archive_dir",
    "signing.",
    "waivers",
    "doctor.engine_python",
)


class ConfigError(ValueError):
    """A config that cannot be trusted; the message names the offending key."""


class _Section(BaseModel):
    """Every section: unknown keys refused, floats finite, and numbers that are really numbers."""

    # Each field's docstring is its description: docs/configuration-reference.md is generated from them
    # (``calpolicy.docs_gen``). Not ``use_attribute_docstrings``, which reads this file's source on every import.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: Any) -> Any:
        """``min_trades = true`` or ``"50"`` is a mistake, not 1 or 50: refuse bools and strings for numbers."""
        annotation = cls.model_fields[info.field_name].annotation
        numeric = annotation in (int, float)
        items: tuple[Any, ...] = (value,)
        if not numeric and getattr(annotation, "__origin__", None) is tuple:
            numeric = bool(get_args(annotation)) and all(a in (int, float, Ellipsis) for a in get_args(annotation))
            items = tuple(value) if isinstance(value, list | tuple) else (value,)
        if numeric:
            for item in items:
                if isinstance(item, bool) or not isinstance(item, int | float):
                    raise ValueError(f"must be a number, not {type(item).__name__} {item!r}")
        return value


class PathsConfig(_Section):
    """Where the live system keeps what calpolicy reads and (only on approve/rollback) writes."""

    clm_file: Path = Path("data/clm_trades.jsonl")
    """The CLM trade log (JSON lines) the data gate judges and the calibration learns from (P0.2.a, P1.2.a)."""
    config_dir: Path = Path("config")
    """The live system's config folder; always digested before and after a run (P1.1.c)."""
    calibration_file: Path = Path("config/calibration.json")
    """The live calibration.json that approve writes and rollback restores (P4.1.a)."""
    archive_dir: Path = Path("config/calibration_archive")
    """Where every replaced calibration version is kept intact (P4.1.b)."""
    jobs_dir: Path = Path("calpolicy_jobs")
    """Where `calpolicy run` creates its job folders (proposal, report, digests)."""
    # digested before and after every run (checklist 1.1); any change is a STOP. The calibration config,
    # its archive and config_dir are always protected; these name what else the live system must keep.
    model_weights: tuple[Path, ...] = ()  # P1.1.a: model weight files or folders
    """Model weight files or folders that must not change during a run (P1.1.a)."""
    ensemble_weights: tuple[Path, ...] = ()  # P1.1.b
    """Ensemble weight files that must not change during a run (P1.1.b)."""
    meta_agent_params: tuple[Path, ...] = ()  # P1.1.d: Meta-Agent / RL parameters
    """Meta-Agent / RL parameter files that must not change during a run (P1.1.d)."""
    protected_paths: tuple[Path, ...] = ()  # anything else that must not change
    """Anything else the live system must keep unchanged during a run (P1.1.c)."""


class CadenceConfig(_Section):
    """The learning-cadence minimum (checklist P0.2.b/c, S.a) and the real gate's time span."""

    min_trades: int = Field(50, ge=1)
    """Fewest CLM trades the log must hold before calibrating (P0.2.b, S.a)."""
    min_symbols: int = Field(2, ge=1)
    """Fewest distinct symbols in the log (P0.2.c)."""
    min_span_days: float = Field(3.0, ge=0.0)
    """Shortest time span the log must cover, as the real cadence gate's min_days (S.a)."""


class DataConfig(_Section):
    """Integrity rules the schema alone cannot express (REAL_SYSTEM.md §1 defects)."""

    duplicate_window_ms: float = Field(1000.0, ge=0.0)
    """Two records of the same trade closer than this are one record delivered twice (CLM.duplicates)."""
    future_tolerance_s: float = Field(300.0, ge=0.0)
    """How far in the future a timestamp may be before it is refused (CLM.timestamps)."""
    backwards_tolerance_s: float = Field(0.0, ge=0.0)
    """How far timestamps may step backwards before the log is refused (CLM.timestamps)."""
    starvation_hours: float = Field(2.0, gt=0.0)
    """Hours without a new trade that count as STARVATION (S.f)."""
    max_file_mb: float = Field(2048.0, gt=0.0)
    """Largest CLM file read at all; a bigger one is refused, not read into memory (P0.2.a)."""
    max_examples: int = Field(20, ge=1, le=10_000)
    """How many offending lines a finding quotes as evidence."""


class SystemdConfig(_Section):
    """Units and journals of the live host (checklist 0.1, S.c)."""

    units: tuple[str, ...] = (
        "quantum-ai-engine",
        "quantum-execution",
        "quantum-learning-monitor",
        "quantum-learning-api",
    )
    """The units that must be ACTIVE before anything runs (P0.1.a, P0.1.b, P0.1.c, P0.1.d)."""
    ai_engine_unit: str = "quantum-ai-engine"
    """The AI engine's unit: its journal is searched for errors and it reloads the calibration (P0.1.e, P4.1.c)."""
    execution_unit: str = "quantum-execution"
    """The execution service's unit, whose errors stop a calibration (S.c)."""
    command_prefix: tuple[str, ...] = ()
    """Prefix for every systemctl/journalctl call (e.g. a namespace or ssh wrapper)."""
    journal_window_minutes: float = Field(30.0, gt=0.0)
    """How far back the AI engine's journal must be free of ERROR/TRACEBACK (P0.1.e)."""
    execution_error_window_minutes: float = Field(60.0, gt=0.0)
    """How far back execution errors stop a calibration (S.c)."""
    execution_log_files: tuple[Path, ...] = (Path("/var/log/quantum/execution.log"),)
    """Execution log files searched for errors besides the journal (S.c)."""
    command_timeout_s: float = Field(15.0, gt=0.0)
    """Longest wait for one systemctl/journalctl call."""


class RedisConfig(_Section):
    """The bus: latency bound, backlog bound and the halt/safety keys (P0.1.f, S.e)."""

    url: str = "redis://127.0.0.1:6379/0"
    """The Redis bus whose latency, backlog and halt keys are probed (P0.1.f, S.e)."""

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"must be a redis://, rediss:// or unix:// URL, not {scheme or 'a bare'}://")
        return value

    max_latency_ms: float = Field(50.0, gt=0.0)
    """Largest Redis round-trip latency allowed (P0.1.f)."""
    # which statistic of the sampled PINGs must stay under the bound. "Redis latency < 50 ms" as
    # `redis-cli --latency(-history)` reports it is a typical figure over many samples, not the worst
    # single one: p95 (nearest rank) over latency_samples PINGs; the maximum is always shown as evidence.
    latency_statistic: Literal["max", "p99", "p95", "p90", "p50"] = "p95"
    """Statistic of the sampled PINGs that must stay under the bound: nearest-rank `p95`; `max` is stricter (P0.1.f)."""
    latency_samples: int = Field(100, ge=1, le=100_000)
    """How many PINGs the latency check samples (P0.1.f)."""
    latency_duration_s: float = Field(1.0, gt=0.0, le=60.0)
    """How long the latency check samples for (P0.1.f)."""
    timeout_s: float = Field(2.0, gt=0.0)
    """Socket timeout of one Redis command."""
    # one wall-clock bound on a whole probe (connect + every command); per-read timeouts alone let a
    # server that answers one byte at a time hold a probe for minutes. Latency sampling gets it on top
    # of latency_duration_s.
    deadline_s: float = Field(10.0, gt=0.0, le=600.0)
    """Wall-clock bound on a whole Redis probe, so a slow server cannot hold it for minutes."""
    backlog_streams: tuple[str, ...] = ("quantum:stream:trade.closed",)
    """Streams whose consumer groups' unread entries count as backlog (P0.1.f)."""
    max_backlog: int = Field(1000, ge=0)
    """Largest backlog allowed on those streams (P0.1.f)."""
    halt_keys: dict[str, tuple[str, ...]] = {
        "quantum:global:kill_switch": ("@bool",),
        "quantum:governor:halt": ("@bool",),
        "quantum:system:mode": ("FREEZE", "LOCKDOWN"),
        "quantum:learning:frozen": ("@bool",),
        "quantum:safety:safe_mode": ("@bool",),
    }
    """Redis keys and the values that mean HALT: `@bool` = a boolean value (`halt_true_values`), `*` = any (S.e)."""
    # the host's own boolean vocabulary (REAL_SYSTEM.md §4): its ops scripts SET ... true/false, its lockdown
    # guard writes 1, its apply layer halts on true/1/yes. A value in neither list cannot be judged.
    halt_true_values: tuple[str, ...] = ("true", "1", "yes", "on")
    """Values of an `@bool` halt key that mean HALT, compared case-insensitively (S.e)."""
    halt_false_values: tuple[str, ...] = ("false", "0", "no", "off", "")
    """Values of an `@bool` halt key that mean not halted; any other value is could-not-check (S.e)."""

    @model_validator(mode="after")
    def _vocabularies_disjoint(self) -> RedisConfig:
        both = {v.strip().casefold() for v in self.halt_true_values} & {
            v.strip().casefold() for v in self.halt_false_values
        }
        if both:
            raise ValueError(f"halt_true_values and halt_false_values share {sorted(both)}: a value cannot mean both")
        return self


class ReadinessConfig(_Section):
    """The learning cadence API (P0.3). The default URL is the checklist's; on a 404 there, the probe reads
    the real service's route (/readiness/simple) on the same host and says so."""

    url: str = "http://localhost:8003/api/learning/readiness/simple"
    """The learning cadence readiness API (P0.3.a). The checklist's path answers 404 on the real service; the
    probe then reads /readiness/simple on the same scheme, host and port, and its findings say so."""

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    # P0.3.c: each offered action is classified, case-insensitively. The real cadence policy offers
    # `shadow` (a candidate model trained beside live, no live effect) as soon as >= 100 trades span >= 3
    # days, so a healthy host answers ["calibration", "shadow"]. Forbidden: actions that change what trades
    # live (the checklist's retrain, weights_update "or anything like them"; the host's promotion).
    # Anything neither allowed nor forbidden is unknown: a STOP that names it.
    allowed_actions: tuple[str, ...] = ("calibration", "shadow")
    """Actions the readiness API may offer (no live effect); matched exactly, case-insensitively (P0.3.c)."""
    forbidden_actions: tuple[str, ...] = ("retrain", "weights_update", "promotion")
    """Actions that change what trades live: a STOP naming them (P0.3.c)."""
    forbidden_patterns: tuple[str, ...] = ("retrain", "train", "weight", "promot", "deploy", "rollout")
    """Parts of an action name that make it forbidden ("anything like them"); allowed matches first (P0.3.c)."""

    @model_validator(mode="after")
    def _patterns_not_empty(self) -> ReadinessConfig:
        if any(not p.strip() for p in self.forbidden_patterns):
            raise ValueError("forbidden_patterns must not contain an empty pattern")
        return self

    required_action: str = "calibration"
    """The action the readiness API must offer (P0.3.b)."""
    connect_timeout_s: float = Field(2.0, gt=0.0)
    """Connect timeout of the readiness request."""
    read_timeout_s: float = Field(5.0, gt=0.0)
    """Read timeout of the readiness request."""
    deadline_s: float = Field(10.0, gt=0.0)
    """Wall-clock bound on the whole readiness probe, retries included."""
    retries: int = Field(2, ge=0, le=10)
    """Retries of a readiness request that failed."""


class MarketConfig(_Section):
    """Where the market-extreme stop signal (S.b) reads from (docs/configuration.md, "Market extreme").

    The real host publishes, per symbol, the hash ``quantum:marketstate:{SYMBOL}`` (sigma, mu, ts = trend
    strength, dp, vr = variance ratio, spike_proxy, ts_timestamp = publish time, ...) and the history stream
    ``quantum:stream:marketstate``; it has no volume and no halt field. A volume field is used when a host
    has one; otherwise volatility against its own recent normal stands in for it.
    """

    symbols: tuple[str, ...] = ()
    """Symbols whose market state is checked (S.b); empty = every `hash_key_pattern` hash found by SCAN."""
    hash_key_pattern: str = "quantum:marketstate:{symbol}"
    """Redis hash holding a symbol's market state (S.b)."""
    volume_ratio_field: str = "volume_ratio"
    """Field with volume relative to normal, used when the hash has it (S.b)."""
    max_volume_ratio: float = Field(3.0, gt=0.0)
    """Volume ratio above which the market is extreme: the checklist's 300 % (S.b)."""
    halt_field: str = "halt"
    """Field that flags a trading halt or flash crash, used when the hash has it (S.b)."""
    sigma_field: str = "sigma"
    """Field with the symbol's current volatility (S.b)."""
    spike_field: str = "spike_proxy"
    """Field with robust / recent volatility (the host's spike_proxy = sigma_MAD / sigma_EWMA) (S.b)."""
    timestamp_field: str = "ts_timestamp"
    """Field with the publish time in epoch seconds (the host's `ts` is trend strength, not a time) (S.b)."""
    stream: str = "quantum:stream:marketstate"
    """History stream of every symbol's sigma: its recent median is the symbol's normal volatility (S.b)."""
    max_volatility_ratio: float = Field(3.0, gt=0.0)
    """Sigma over its recent median, or recent over robust volatility, that is extreme: the 300 % (S.b)."""
    max_age_s: float = Field(300.0, gt=0.0)
    """Oldest market state accepted; older (the publisher stopped) is could-not-check (S.b)."""
    baseline_hours: float = Field(24.0, gt=0.0)
    """How far back the stream is read for a symbol's normal volatility (S.b)."""
    min_baseline_points: int = Field(5, ge=3)
    """Fewest stream entries a symbol's normal sigma may rest on; with fewer, S.b judges on spike_proxy alone (S.b)."""
    max_stream_entries: int = Field(10_000, ge=10, le=1_000_000)
    """Most stream entries read for the baseline (the host's stream maxlen) (S.b)."""


class CalibrationConfig(_Section):
    """Statistics and the hard safety bounds (checklist 2.2); docs/calibration.md says why each default."""

    max_confidence_change: float = Field(0.15, gt=0.0, le=1.0)
    """Largest change of any confidence the proposal may make (P2.2.a)."""
    min_improvement: float = Field(0.05, ge=0.0, le=1.0)
    """Smallest relative MSE/Brier improvement that justifies a change (P2.2.b)."""
    max_degradation: float = Field(0.0, ge=0.0, le=1.0)
    """Largest error increase any one model may show (P2.2.c)."""
    # the most recent share of the time-ordered log, held out from the fit; the decision rests on it alone
    holdout_fraction: float = Field(0.3, ge=0.05, le=0.5)
    """Most recent share of the log held out from the fit; the decision rests on it alone (P2.1.b)."""
    min_trades_for_decision: int = Field(200, ge=1)
    """Fewest held-out trades a GO may rest on (P2.2.b, P2.2.c)."""
    # fewest trades an isotonic step may rest on: no jump to 0 or 1 on a handful of wins
    min_block_trades: int = Field(50, ge=1)
    """Fewest trades an isotonic step may rest on (P2.1.a)."""
    # "lower_bound": GO when the one-sided lower confidence bound of the relative improvement reaches
    # min_improvement; "point_estimate_and_positive_interval" is the engine v1 reading, kept on request
    improvement_rule: Literal["lower_bound", "point_estimate_and_positive_interval"] = "lower_bound"
    """How the improvement is shown: the lower confidence bound, or the engine v1 point estimate (P2.2.b)."""
    improvement_confidence: float = Field(0.95, ge=0.5, lt=1.0)
    """Confidence level of that lower bound (P2.2.b)."""
    bootstrap_below: int = Field(10_000, ge=0)
    """Below this many held-out trades the interval is bootstrapped (P2.2.b)."""
    bootstrap_resamples: int = Field(2000, ge=200, le=100_000)
    """Bootstrap resamples for the interval (P2.2.b)."""
    drift_alpha: float = Field(0.05, gt=0.0, lt=0.5)
    """Significance level of the test for drift between the earliest and the held-out trades."""
    reliability_bins: int = Field(10, ge=2, le=100)
    """Bins of the reliability plot and table (P3.1.c)."""


class WatchConfig(_Section):
    """Post-apply watch thresholds (checklist 4.2)."""

    pnl_drift_sd: float = Field(0.10, gt=0.0)
    """A drop of the mean PnL by this many baseline standard deviations is harm (P4.2.a, sequential test)."""
    win_rate_delta: float = Field(0.05, gt=0.0, le=1.0)
    """A drop of the post-apply win rate by this much against the baseline's is harm (P4.2.b, sequential test)."""
    hold_rate_increase: float = Field(0.50, gt=0.0)
    """A relative rise of the HOLD rate (per hour or share) above this is harm (P4.2.c, sequential test)."""
    confidence_range: tuple[float, float] = (0.50, 0.95)
    """At most 5 % of acted-on confidences may lie beyond each end of this range (P4.2.d, sequential test)."""
    recent_trades: int = Field(20, ge=1)
    """The win rate of this many latest trades is shown beside the judged cumulative one (P4.2.b)."""
    hours: float = Field(24.0, gt=0.0)
    """How long the watch lasts after an apply."""
    baseline_hours: float = Field(24.0, gt=0.0)
    """The window before approval that is the baseline."""
    baseline_min_trades: int = Field(50, ge=2)
    """Fewest baseline trades; with fewer, the baseline reaches further back."""
    min_post_trades: int = Field(20, ge=2)
    """Fewest post-apply trades before the trade signals say anything but INCONCLUSIVE (P4.2.a, P4.2.b, cal)."""
    min_decisions: int = Field(20, ge=1)
    """Fewest post-apply decisions before the decision signals say anything but INCONCLUSIVE (P4.2.c, P4.2.d)."""
    min_post_hours: float = Field(1.0, gt=0.0)
    """Shortest post-apply time before the HOLD rate says anything but INCONCLUSIVE (P4.2.c)."""
    decision_dedupe_s: float = Field(2.0, ge=0.0)
    """Journal lines of one decision within this many seconds are counted once (P4.2.c)."""
    looks: int = Field(96, ge=1)
    """How many looks the watch window is judged at (every hours/looks: 15 min for 24 h), for the boundary."""
    alpha: float = Field(0.05, ge=0.01, le=0.20)
    """Chance that a no-harm day says ROLLBACK at any look of any signal (split across them); 0.01 to 0.20."""
    calibration_bias: float = Field(0.05, gt=0.0, le=1.0)
    """Smallest gap between the post-apply win rate and the applied map's prediction that counts as harm."""

    @model_validator(mode="after")
    def _range_ordered(self) -> WatchConfig:
        low, high = self.confidence_range
        if not 0.0 <= low < high <= 1.0:
            raise ValueError("confidence_range must be [low, high] with 0 <= low < high <= 1")
        return self


class DeployConfig(_Section):
    """Apply and rollback (checklist 4.1): how long to wait for the loader, and how to nudge it."""

    ack_timeout_s: float = Field(10.0, gt=0.0, le=3600.0)
    """How long to wait for the AI engine to acknowledge the new version (P4.1.c, P4.1.d)."""
    # "none": the loader notices the new file by itself (inode/mtime poll); "SIGHUP": also send it
    # through `systemctl kill -s HUP <ai_engine_unit>` (only for an engine that installed the handler)
    reload_signal: Literal["none", "SIGHUP"] = "none"
    """`none`: the loader notices the new file itself; `SIGHUP`: also signal the engine (P4.1.c)."""
    # after the one allowed restart: how long the engine may take to come back and acknowledge
    restart_wait_s: float = Field(60.0, gt=0.0, le=3600.0)
    """After the one allowed restart, how long the engine may take to acknowledge (P4.1.c)."""
    preflight_timeout_s: float = Field(120.0, gt=0.0)
    """Longest the preflight re-run before an apply may take."""


class OperatorConfig(_Section):
    """Human availability (P3.2.c, S.d)."""

    min_on_call_hours: float = Field(24.0, gt=0.0)
    """How long the operator must be on call after the apply (S.d, P3.2.c)."""


class SigningConfig(_Section):
    """The job statement's Ed25519 key (``calpolicy keygen``) and the folder of public keys trusted by verify."""

    private_key: Path = Path("calpolicy_keys/signing.key")
    """The Ed25519 key that signs job statements (`calpolicy keygen`)."""
    trusted_keys_dir: Path = Path("calpolicy_keys/trusted")
    """Folder of public keys `calpolicy verify` trusts."""


class DoctorConfig(_Section):
    """``calpolicy doctor``: what it needs beyond the other sections to check a host's set-up."""

    engine_python: str = ""
    """The AI engine's Python, asked whether it imports `calpolicy_loader`; empty = the engine unit's ExecStart."""


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


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse a config file that is a small regular file only its owner (us or root) can change.

    Opened non-blocking so a FIFO cannot hang the open, checked on the open descriptor (no swap between
    check and read), and read to at most ``MAX_CONFIG_BYTES`` + 1 so ``/dev/zero`` cannot fill memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        _refuse_unsafe_file(path, info)
        data = b""
        while len(data) <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {error.start}: {data[error.start:error.start + 1]!r}); "
            "TOML files must be UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _refuse_unsafe_file(path: Path, info: os.stat_result) -> None:
    """Like ssh with its keys: a config that someone else could have written is not evidence of intent."""
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {path} is not a regular file (a FIFO, device or directory is refused)")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"config file {path} is writable by its group or by everyone (mode {stat.S_IMODE(info.st_mode):o}): "
            f"refused; run `chmod go-w {path}`"
        )
    if info.st_uid not in (os.geteuid(), 0):
        raise ConfigError(
            f"config file {path} is owned by uid {info.st_uid}, not by the running user "
            f"(uid {os.geteuid()}) or root: refused"
        )


def _env_layer(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``CALPOLICY_REDIS__TIMEOUT_S=3`` → ``{"redis": {"timeout_s": 3}}``; values parse as JSON where they can.

    Each key's origin names its variable, so a bad value points at the exact thing to unset.
    """
    flat: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_PATH or "__" not in name:
            continue
        dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        if any(dotted == k or dotted.startswith(k if k.endswith(".") else k + ".") for k in SECURITY_KEYS):
            raise ConfigError(
                f"environment variable {name} sets '{dotted}', a security-relevant key that only a config "
                "file may set (see docs/configuration.md); unset it"
            )
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
    elif Path(DEFAULT_CONFIG_FILE).exists():
        layers.append((_read_toml(Path(DEFAULT_CONFIG_FILE)), DEFAULT_CONFIG_FILE))
    env_layer, env_origins = _env_layer(env)
    if env_layer:
        layers.append((env_layer, env_origins))
    return _build(layers, {})
