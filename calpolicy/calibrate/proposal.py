"""``propose``: a validated trade log in, a ``Proposal`` (maps + held-out evidence) out. Nothing applied.

What decides and what ships (docs/calibration.md says why):

- The log is split in time (``split.py``): the map is fitted on the training window and scored on the
  most recent ``holdout_fraction`` of the trades, which it never saw. **The map that ships is the map that
  was scored**, rounded to its final knots *before* scoring and applied exactly as the engine's loader
  applies ``mapping`` (float keys, ``np.interp`` over the sorted keys, clip to [0, 1]). No refit.
- The evidence per model: Brier before/after on the holdout, the relative improvement, its one-sided lower
  confidence bound and two-sided intervals (BCa bootstrap, or the delta method for large holdouts), the
  mean shift the map applies, Spiegelhalter's Z, reliability tables, and a drift check between the
  earliest and the latest block. ``brier_in_sample`` (the map on its own training window) is contrast only.
- Randomness (the bootstrap) is seeded from the log's sha256 and the model's name, so the same log gives
  the same proposal, byte for byte, whatever ``seed`` a caller passes.
- Engine v3 (issue 24): per fitted map, the time and per-symbol evidence of its held-out gain
  (``stability``); the ensemble's map is kept inside the watch's confidence range (``watch_range``).
- **What ships per model** (``decision``): a model's fitted map only when its own gain is shown (lower
  bound ≥ ``min_improvement``) and holds now and on every judged symbol; otherwise the identity, with the
  reason (``decision_reason``) and the fitted map's figures (``fitted``) — a visible decision.
- ``propose`` refuses what it cannot honestly calibrate (status "insufficient", identity map, a reason):
  fewer than two distinct confidences, one outcome class, too few trades per isotonic block, an empty
  window. For the ensemble, or calls that cannot be judged, that is ``decision: "refused"`` and
  ``check_bounds`` says STOP; any other model keeps the identity and the rest is decided.

``proposal.json`` holds only calibration maps, metrics and the provenance needed to re-derive them —
no weights, no engine config, no record of anything being applied (checklist 2.1).

This module stays whole although long (~570 lines): it is one pipeline (fit, score on the holdout, decide
what ships) over the same held-out data; the parts with a reason of their own (``split``, ``isotonic``,
``metrics``, ``stability``, ``models``) are already modules of their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from calpolicy.calibrate.isotonic import CalibrationMap, fit_sorted, shippable, within_range
from calpolicy.calibrate.metrics import (
    brier,
    calibration_drift,
    improvement_evidence,
    reliability_table,
    spiegelhalter_z,
)
from calpolicy.calibrate.models import DISAGREEMENT_RULE, ENSEMBLE, ModelData, ProposalError, extract
from calpolicy.calibrate.split import SPLIT, TimeSplit, forward_split, window
from calpolicy.calibrate.stability import model_identity_reasons, time_evidence, watch_range
from calpolicy.clm.reader import TradeLog
from calpolicy.files.strict_json import parse_json
from calpolicy.vocabulary.config import Config

SCHEMA = "calpolicy.proposal/3"
METHOD = "isotonic"
BAND_METHOD = (
    "isotonic fit with a minimum number of trades per step, pointwise clamp to raw ± max_confidence_change, "
    "identity outside the fitted range, knots rounded to 6 decimals before scoring"
)
OPERATIONS = ("isotonic_calibration", "held_out_brier_comparison")

Status = Literal["ok", "insufficient"]
Decision = Literal["fitted", "identity", "refused"]
DECISIONS = ("fitted", "identity", "refused")


def apply_engine_mapping(mapping: dict[str, float], confidence: np.ndarray | float) -> np.ndarray:
    """What the engine's loader does with ``confidence_calibration.mapping`` (REAL_SYSTEM.md §5)."""
    keys = sorted(mapping, key=float)
    x = np.array([float(k) for k in keys])
    y = np.array([float(mapping[k]) for k in keys])
    return np.clip(np.interp(confidence, x, y), 0.0, 1.0)


def mapping_of(x: tuple[float, ...] | np.ndarray, y: tuple[float, ...] | np.ndarray) -> dict[str, float]:
    """Knots as mapping entries: the key is ``repr`` of the knot, so ``float(key)`` is the knot exactly."""
    out = {}
    for knot, value in zip(x, y, strict=True):
        key = repr(float(knot))
        if float(key) != float(knot):  # pragma: no cover - repr round-trips every float
            raise ProposalError(f"knot {knot!r} does not survive as a mapping key")
        out[key] = float(value)
    return out


@dataclass(frozen=True)
class ModelResult:
    """One model's proposed map and the held-out evidence for it. ``None`` = could not be computed."""

    name: str
    n: int
    n_train: int
    n_evaluated: int
    wins: int
    excluded: dict[str, int]
    target: str
    status: Status
    reason: str | None
    brier_before: float | None
    brier_after: float | None
    brier_in_sample: float | None
    improvement: float | None
    improvement_lower: float | None
    improvement_interval: tuple[float, float] | None
    mean_difference: float | None
    interval: tuple[float, float] | None
    interval_method: str
    mean_shift: float | None
    spiegelhalter_z_before: float | None
    spiegelhalter_z: float | None
    reliability_before: list[dict[str, Any]]
    reliability: list[dict[str, Any]]
    drift: dict[str, Any] | None
    x: tuple[float, ...]
    y: tuple[float, ...]
    max_change: float
    # engine v3 (issue 24): what ships for this model and why; the fitted map's evidence when it does not
    decision: Decision = "fitted"
    decision_reason: str | None = None
    fitted: dict[str, Any] | None = None
    stability: dict[str, Any] | None = None
    watch_range: dict[str, Any] | None = None

    @property
    def map(self) -> CalibrationMap:
        return CalibrationMap(np.asarray(self.x, dtype=np.float64), np.asarray(self.y, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _RESULT_KEYS}
        out["x"] = list(self.x)
        out["y"] = list(self.y)
        for key in _PAIR_KEYS:
            out[key] = None if out[key] is None else list(out[key])
        return out

    @classmethod
    def from_dict(cls, name: str, raw: Any) -> ModelResult:
        raw = _expect_keys(raw, set(_RESULT_KEYS), f"models.{name}")
        if raw["name"] != name:
            raise ProposalError(f"proposal.json: models.{name}.name is {raw['name']!r}")
        values = dict(raw)
        try:
            for key in _INT_KEYS:
                values[key] = _number(raw[key], int)
            for key in _FLOAT_KEYS:
                values[key] = None if raw[key] is None else _number(raw[key], float)
            for key in _PAIR_KEYS:
                values[key] = None if raw[key] is None else tuple(_number(v, float) for v in raw[key])
                if values[key] is not None and len(values[key]) != 2:
                    raise ValueError(f"{key} is not a (lo, hi) pair")
            values["x"] = tuple(_number(v, float) for v in raw["x"])
            values["y"] = tuple(_number(v, float) for v in raw["y"])
        except (TypeError, ValueError) as error:
            raise ProposalError(f"proposal.json: models.{name}: {error}") from None
        if raw["status"] not in ("ok", "insufficient"):
            raise ProposalError(f"proposal.json: models.{name}.status is {raw['status']!r}")
        for key in ("drift", "fitted", "stability", "watch_range"):
            if raw[key] is not None and not isinstance(raw[key], dict):
                raise ProposalError(f"proposal.json: models.{name}.{key} must be an object or null")
        if raw["decision"] not in DECISIONS:
            raise ProposalError(f"proposal.json: models.{name}.decision is {raw['decision']!r}")
        if raw["decision_reason"] is not None and not isinstance(raw["decision_reason"], str):
            raise ProposalError(f"proposal.json: models.{name}.decision_reason must be a string or null")
        if not isinstance(raw["target"], str):
            raise ProposalError(f"proposal.json: models.{name}.target must be a string")
        if len(values["x"]) != len(values["y"]):
            raise ProposalError(f"proposal.json: models.{name} has x and y of different lengths")
        return cls(**values)


_RESULT_KEYS = tuple(ModelResult.__dataclass_fields__)
_INT_KEYS = ("n", "n_train", "n_evaluated", "wins")
_PAIR_KEYS = ("interval", "improvement_interval")
_FLOAT_KEYS = (
    "brier_before", "brier_after", "brier_in_sample", "improvement", "improvement_lower", "mean_difference",
    "mean_shift", "spiegelhalter_z_before", "spiegelhalter_z", "max_change",
)  # fmt: skip


def _number(value: Any, kind: type) -> Any:
    """A JSON number of the expected kind; booleans and strings are refused rather than coerced."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return kind(value)


@dataclass(frozen=True)
class Proposal:
    """Per-model maps and evidence, the inputs' digest, the time windows and the settings used."""

    models: dict[str, ModelResult]
    data_models: tuple[str, ...]
    inputs: dict[str, Any]
    seed: int
    split: str
    windows: dict[str, Any]
    thresholds: dict[str, Any]
    disagreement_rule: str = DISAGREEMENT_RULE
    method: str = METHOD
    band_method: str = BAND_METHOD
    operations: tuple[str, ...] = OPERATIONS
    applied: bool = False
    schema: str = SCHEMA

    @property
    def ensemble(self) -> ModelResult:
        return self.models[ENSEMBLE]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "method": self.method,
            "band_method": self.band_method,
            "operations": list(self.operations),
            "applied": self.applied,
            "inputs": dict(self.inputs),
            "data_models": list(self.data_models),
            "seed": self.seed,
            "split": self.split,
            "windows": dict(self.windows),
            "thresholds": dict(self.thresholds),
            "disagreement_rule": self.disagreement_rule,
            "models": {name: result.to_dict() for name, result in self.models.items()},
        }

    def to_json(self) -> str:
        """``proposal.json``: sorted keys, no NaN (missing numbers are null), byte-identical per log."""
        return json.dumps(_finite(self.to_dict()), sort_keys=True, indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Proposal:
        """Parse and validate strictly: an unknown key or a wrong schema is refused, never ignored."""
        try:
            raw = parse_json(text)
        except json.JSONDecodeError as error:
            raise ProposalError(f"proposal.json is not valid JSON: {error}") from None
        except ValueError as error:  # nested past parsing, or an integer of 5000 digits
            raise ProposalError(f"proposal.json cannot be parsed: {str(error)[:200]}") from None
        raw = _expect_keys(raw, set(_TOP_KEYS), "proposal")
        if raw["schema"] != SCHEMA:
            raise ProposalError(f"proposal.json: unsupported schema {raw['schema']!r} (expected {SCHEMA!r})")
        if raw["applied"] is not False:
            raise ProposalError("proposal.json: 'applied' must be false — a proposal is never applied")
        for key in ("models", "windows", "thresholds", "inputs"):
            if not isinstance(raw[key], dict):
                raise ProposalError(f"proposal.json: '{key}' must be an object")
        try:
            return cls._build(raw)
        except OverflowError:  # a 400-digit integer where a float belongs, or an infinite seed
            raise ProposalError("proposal.json holds a number too large for a float") from None

    @classmethod
    def _build(cls, raw: dict[str, Any]) -> Proposal:
        return cls(
            models={name: ModelResult.from_dict(name, raw["models"][name]) for name in canonical(raw["models"])},
            data_models=tuple(raw["data_models"]),
            inputs=dict(raw["inputs"]),
            seed=int(raw["seed"]),
            split=str(raw["split"]),
            windows=dict(raw["windows"]),
            thresholds=dict(raw["thresholds"]),
            disagreement_rule=str(raw["disagreement_rule"]),
            method=str(raw["method"]),
            band_method=str(raw["band_method"]),
            operations=tuple(raw["operations"]),
            applied=False,
            schema=SCHEMA,
        )

    def engine_mapping(self, model: str = ENSEMBLE) -> dict[str, float]:
        """The map as the engine's ``confidence_calibration.mapping``: its exact knots, no grid.

        Keys are clean decimals (knots are rounded to 6 decimals when fitted; ``float(key)`` is the knot),
        "0.0" and "1.0" are present, values are floats in [0, 1]. Applied by the loader's rule
        (``apply_engine_mapping``) this is exactly the map whose held-out Brier is ``brier_after``.
        """
        result = self.models[model]
        return mapping_of(result.x, result.y)


def canonical(names: Any) -> list[str]:
    """The ensemble first, then the models alphabetically: the order of findings and of reports."""
    return sorted(names, key=lambda name: (name != ENSEMBLE, name))


_TOP_KEYS = (
    "schema",
    "method",
    "band_method",
    "operations",
    "applied",
    "inputs",
    "data_models",
    "seed",
    "split",
    "windows",
    "thresholds",
    "disagreement_rule",
    "models",
)


def _expect_keys(raw: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ProposalError(f"proposal.json: {where} must be an object")
    unknown = sorted(set(raw) - keys)
    missing = sorted(keys - set(raw))
    if unknown or missing:
        raise ProposalError(f"proposal.json: {where} has unknown keys {unknown} / lacks keys {missing}")
    return raw


def _finite(value: Any) -> Any:
    """Replace NaN/inf with None all the way down so the JSON never carries a non-standard token."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------- propose


def propose(log: TradeLog, config: Config, seed: int = 0) -> Proposal:
    """Fit on the past, score on the most recent trades, package every model; ``ProposalError`` on bad input.

    Ungated: a pure function for research and tests. It runs no preflight, no lockdown and writes no job;
    an operator's calibration goes through ``calpolicy.run_job`` (``calpolicy run``), which is gated.

    ``seed`` is accepted for compatibility and ignored: the bootstrap is seeded from the log's digest so
    the verdict cannot depend on a caller's choice.
    """
    del seed
    settings = config.calibration
    data = extract(log)
    split = forward_split(log, settings.holdout_fraction)
    root_seed = log_seed(log)
    symbols = _symbols(log)
    results = {name: _evaluate(data[name], split, config, root_seed, symbols) for name in canonical(data)}
    return Proposal(
        models=results,
        data_models=tuple(log.models),
        inputs={
            "path": str(log.path),
            "sha256": log.sha256,
            "line_count": int(log.line_count),
            "records": int(log.records),
        },
        seed=root_seed,
        split=SPLIT,
        windows={
            "train": window(log, split.train),
            "holdout": window(log, split.holdout),
            "earliest": window(log, split.earliest),
        },
        thresholds=settings.model_dump(mode="json"),
    )


def log_seed(log: TradeLog) -> int:
    """A 63-bit seed from the log's sha256 (or, for a log built in memory, from its content)."""
    digest = log.sha256
    if not digest:
        digest = hashlib.sha256(pd.util.hash_pandas_object(log.frame, index=False).to_numpy().tobytes()).hexdigest()
    return int(hashlib.sha256(digest.encode()).hexdigest()[:16], 16) >> 1


def _refusal(conf: np.ndarray, y: np.ndarray, holdout_y: np.ndarray, min_block: int) -> str | None:
    """Why this training window cannot honestly be calibrated on, or None."""
    n = len(conf)
    if n == 0:
        return "no trades in the training window"
    if len(holdout_y) == 0:
        return "no trades in the held-out (most recent) window"
    distinct = np.unique(conf)
    if len(distinct) < 2:
        return f"the confidence is {distinct[0]:g} on every training trade: nothing to calibrate"
    wins = int(y.sum())
    if wins in (0, n):
        return f"every training trade is a {'WIN' if wins else 'LOSS'}: nothing to calibrate against"
    if n < 2 * min_block or conf[min_block - 1] >= conf[n - min_block]:
        return (
            f"too few trades per isotonic block: {n} training trades cannot form two steps of at least "
            f"{min_block} trades at different confidences"
        )
    held_wins = int(holdout_y.sum())
    if held_wins in (0, len(holdout_y)):
        return f"every held-out trade is a {'WIN' if held_wins else 'LOSS'}: the score would mean nothing"
    return None


def _symbols(log: TradeLog) -> np.ndarray | None:
    """Each row's symbol as a string (per-symbol evidence), or None when the log has no symbol column."""
    if "symbol" not in log.frame:
        return None
    return log.frame["symbol"].astype(str).to_numpy(dtype=object)


def _evaluate(
    sample: ModelData, split: TimeSplit, config: Config, root_seed: int, symbols: np.ndarray | None = None
) -> ModelResult:
    settings = config.calibration
    band = settings.max_confidence_change
    conf = sample.confidence
    y = sample.outcome.astype(np.float64)
    in_train = split.train[sample.rows]
    in_hold = split.holdout[sample.rows]
    in_early = split.earliest[sample.rows]
    drift = calibration_drift(conf[in_early], y[in_early], conf[in_hold], y[in_hold], settings.drift_alpha)
    order = np.argsort(conf[in_train], kind="stable")
    train_conf, train_y = conf[in_train][order], y[in_train][order]
    in_time = np.argsort(split.rank[sample.rows][in_hold], kind="stable")  # the holdout in time order
    hold_conf, hold_y = conf[in_hold][in_time], y[in_hold][in_time]
    hold_symbols = None if symbols is None else symbols[sample.rows][in_hold][in_time]
    refusal = sample.problem or _refusal(train_conf, train_y, hold_y, settings.min_block_trades)
    if refusal:
        # a data defect (calls that cannot be judged) or the ensemble itself: STOP; a model that is merely
        # short of data keeps the identity, shown, so it does not block the others forever (issue 24)
        refused = sample.problem is not None or sample.name == ENSEMBLE
        return _insufficient(sample, refusal, int(in_train.sum()), int(in_hold.sum()), drift, refused)
    fitted = fit_sorted(train_conf, train_y, band, min_block=settings.min_block_trades, outside="identity")
    final = shippable(fitted, band)
    if sample.name == ENSEMBLE:  # the watch holds the acted-on (ensemble) confidences to its range (P4.2.d)
        low, high = config.watch.confidence_range
        final = within_range(shippable(within_range(fitted, low, high), band), low, high)
    shipped = apply_engine_mapping(mapping_of(final.x, final.y), hold_conf)
    before, after = brier(hold_conf, hold_y), brier(shipped, hold_y)
    rng = np.random.default_rng([root_seed, zlib.crc32(sample.name.encode())])
    evidence = improvement_evidence(
        (hold_conf - hold_y) ** 2,
        (shipped - hold_y) ** 2,
        rng,
        settings.improvement_confidence,
        settings.bootstrap_below,
        settings.bootstrap_resamples,
    )
    bins = settings.reliability_bins
    result = ModelResult(
        name=sample.name,
        n=sample.n,
        n_train=len(train_conf),
        n_evaluated=len(hold_conf),
        wins=int(y.sum()),
        excluded=dict(sample.excluded),
        target=sample.target,
        status="ok",
        reason=None,
        brier_before=before,
        brier_after=after,
        brier_in_sample=brier(apply_engine_mapping(mapping_of(final.x, final.y), train_conf), train_y),
        improvement=(before - after) / before if before > 0 else None,
        improvement_lower=evidence.lower_bound,
        improvement_interval=evidence.relative_interval,
        mean_difference=evidence.mean_difference,
        interval=evidence.interval,
        interval_method=evidence.method,
        mean_shift=float(np.mean(shipped - hold_conf)),
        spiegelhalter_z_before=spiegelhalter_z(hold_conf, hold_y),
        spiegelhalter_z=spiegelhalter_z(shipped, hold_y),
        reliability_before=reliability_table(hold_conf, hold_y, bins),
        reliability=reliability_table(shipped, hold_y, bins),
        drift=drift,
        x=tuple(final.x.tolist()),
        y=tuple(final.y.tolist()),
        max_change=final.max_change,
        decision="fitted",
        stability=time_evidence(hold_conf, shipped, hold_y, hold_symbols, settings.improvement_confidence),
        watch_range=watch_range(hold_conf, shipped),
    )
    if sample.name == ENSEMBLE:
        return result
    reasons = model_identity_reasons(
        result.n_evaluated,
        result.improvement,
        result.improvement_lower,
        result.stability,
        min_trades=settings.min_trades_for_decision,
        min_improvement=settings.min_improvement,
        max_degradation=settings.max_degradation,
        alpha=1.0 - settings.improvement_confidence,
        holdout_fraction=settings.holdout_fraction,
    )
    return _keep_identity(result, "; ".join(reasons)) if reasons else result


_FITTED_KEYS = (
    "x", "y", "brier_after", "brier_in_sample", "improvement", "improvement_lower", "improvement_interval",
    "mean_difference", "interval", "interval_method", "mean_shift", "spiegelhalter_z", "reliability", "max_change",
)  # fmt: skip


def _keep_identity(result: ModelResult, reason: str) -> ModelResult:
    """The model ships the identity: every 'after' figure is the raw one; the fitted map's kept in ``fitted``.

    A visible decision, not a hidden one (P2.2.d): the report shows the identity, the reason and what
    the fitted map would have done.
    """
    fitted = {key: getattr(result, key) for key in _FITTED_KEYS}
    for key in ("x", "y", "improvement_interval", "interval"):
        fitted[key] = None if fitted[key] is None else list(fitted[key])
    identity = CalibrationMap.identity()
    return dataclasses.replace(
        result,
        brier_after=result.brier_before,
        brier_in_sample=None,
        improvement=0.0,
        improvement_lower=0.0,
        improvement_interval=(0.0, 0.0),
        mean_difference=0.0,
        interval=(0.0, 0.0),
        interval_method="identity",
        mean_shift=0.0,
        spiegelhalter_z=result.spiegelhalter_z_before,
        reliability=result.reliability_before,
        x=tuple(identity.x.tolist()),
        y=tuple(identity.y.tolist()),
        max_change=identity.max_change,
        decision="identity",
        decision_reason=reason,
        fitted=fitted,
    )


def _insufficient(
    sample: ModelData,
    reason: str,
    n_train: int,
    n_holdout: int,
    drift: dict[str, Any] | None,
    refused: bool = True,
) -> ModelResult:
    """A result that says plainly why no map could be fitted; its map is the identity (changes nothing).

    ``refused`` (the ensemble, or calls that cannot be judged): ``check_bounds`` says STOP. Otherwise the
    model keeps the identity, shown with the reason, and the others can still be decided.
    """
    identity = CalibrationMap.identity()
    return ModelResult(
        name=sample.name,
        n=sample.n,
        n_train=n_train,
        n_evaluated=n_holdout,
        wins=int(sample.outcome.sum()),
        excluded=dict(sample.excluded),
        target=sample.target,
        status="insufficient",
        reason=reason,
        brier_before=None,
        brier_after=None,
        brier_in_sample=None,
        improvement=None,
        improvement_lower=None,
        improvement_interval=None,
        mean_difference=None,
        interval=None,
        interval_method="none",
        mean_shift=None,
        spiegelhalter_z_before=None,
        spiegelhalter_z=None,
        reliability_before=[],
        reliability=[],
        drift=drift,
        x=tuple(identity.x.tolist()),
        y=tuple(identity.y.tolist()),
        max_change=identity.max_change,
        decision="refused" if refused else "identity",
        decision_reason=reason,
    )
