"""The settings, section by section: every checklist threshold as a typed field whose default is the checklist's value.

Why a module of its own: a setting is added or changed here and nowhere else (each field's docstring is its
description in docs/configuration-reference.md); how the values are read and merged is ``load``/``model``.
Kept whole although long: the sections are one flat list of fields, read top to bottom, and splitting them
by section would scatter the validators they share through ``_Section``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calpolicy.vocabulary.waivers import (
    DEFAULT_ALLOWED_ACTIONS,
    DEFAULT_FORBIDDEN_ACTIONS,
    DEFAULT_FORBIDDEN_PATTERNS,
    DEFAULT_HALT_FALSE,
    DEFAULT_HALT_KEYS,
    DEFAULT_HALT_TRUE,
)

# Keys that are a length of time, by the unit their name ends in, and a year in that unit: the bound.
TIME_UNITS = (("_s", 366 * 86_400.0, "seconds"), ("_minutes", 366 * 1_440.0, "minutes"),
              ("_hours", 366 * 24.0, "hours"), ("_days", 366.0, "days"))  # fmt: skip


def _time_limit(name: str) -> tuple[float, str] | None:
    """The largest value a key that is a length of time may have, and its unit (None: not a time)."""
    if name == "hours":
        return 366 * 24.0, "hours"
    return next(((limit, unit) for suffix, limit, unit in TIME_UNITS if name.endswith(suffix)), None)


class _Section(BaseModel):
    """Every section: unknown keys refused, floats finite, and numbers that are really numbers."""

    # Each field's docstring is its description: docs/configuration-reference.md is generated from them
    # (``calpolicy.cli.docs_gen``). Not ``use_attribute_docstrings``, which reads this file's source on every import.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: Any) -> Any:
        """``min_trades = true`` or ``"50"`` is a mistake, not 1 or 50: refuse bools and strings for numbers."""
        texts = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            # no path, URL or name holds a NUL byte; the OS would refuse it later, as a crash in some command
            raise ValueError("must not contain a NUL byte (\\u0000)")
        limit = _time_limit(info.field_name)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if limit is not None and is_number and math.isfinite(value) and value > limit[0]:  # inf: 'finite' below
            # a length of time beyond a year is a typo; 1e308 s or h crashed status, rollback and approve
            # (no timer or datetime goes that far) instead of being named here
            raise ValueError(f"must be at most {limit[0]:g} {limit[1]} (a year)")
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
    halt_keys: dict[str, tuple[str, ...]] = DEFAULT_HALT_KEYS  # the checklist's binding set (waivers.py)
    """Redis keys and the values that mean HALT: `@bool` = a boolean value (`halt_true_values`), `*` = any (S.e)."""
    # the host's own boolean vocabulary (REAL_SYSTEM.md §4): its ops scripts SET ... true/false, its lockdown
    # guard writes 1, its apply layer halts on true/1/yes. A value in neither list cannot be judged.
    halt_true_values: tuple[str, ...] = DEFAULT_HALT_TRUE
    """Values of an `@bool` halt key that mean HALT, compared case-insensitively (S.e)."""
    halt_false_values: tuple[str, ...] = DEFAULT_HALT_FALSE
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
    allowed_actions: tuple[str, ...] = DEFAULT_ALLOWED_ACTIONS
    """Actions the readiness API may offer (no live effect); matched exactly, case-insensitively (P0.3.c)."""
    forbidden_actions: tuple[str, ...] = DEFAULT_FORBIDDEN_ACTIONS
    """Actions that change what trades live: a STOP naming them (P0.3.c)."""
    forbidden_patterns: tuple[str, ...] = DEFAULT_FORBIDDEN_PATTERNS
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
    looks: int = Field(96, ge=1, le=10_000)
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
