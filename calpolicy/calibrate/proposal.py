"""``propose``: a validated trade log in, a ``Proposal`` (maps + out-of-fold evidence) out. Nothing applied.

The decision-relevant numbers are all out of fold: each trade's calibrated confidence comes from a map
fitted without that trade (K-fold) or without anything after it (walk-forward). In-sample isotonic
"improves" even a perfectly calibrated model by double-digit percentages at small n, so an in-sample
figure (``brier_in_sample``) is kept only for contrast and never decides anything. The map finally
proposed is fitted on all of a model's trades.

``proposal.json`` holds only calibration maps, metrics and the provenance needed to re-derive them —
no weights, no engine config, no record of anything being applied (checklist 2.1).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from calpolicy.calibrate import folds as folds_mod
from calpolicy.calibrate.isotonic import CalibrationMap, fit_sorted
from calpolicy.calibrate.metrics import brier, mean_interval, reliability_table, spiegelhalter_z
from calpolicy.calibrate.models import DISAGREEMENT_RULE, ENSEMBLE, ModelData, ProposalError, extract
from calpolicy.clm.reader import TradeLog
from calpolicy.config import Config

SCHEMA = "calpolicy.proposal/1"
METHOD = "isotonic"
BAND_METHOD = "pointwise clamp of the fitted isotonic curve to raw ± max_confidence_change"
OPERATIONS = ("isotonic_calibration", "out_of_fold_brier_comparison")
ENGINE_GRID_STEP = 0.05

Status = Literal["ok", "insufficient"]


@dataclass(frozen=True)
class ModelResult:
    """One model's proposed map and the out-of-fold evidence for it. ``None`` = could not be computed."""

    name: str
    n: int
    n_evaluated: int
    wins: int
    excluded: dict[str, int]
    status: Status
    reason: str | None
    brier_before: float | None
    brier_after: float | None
    brier_in_sample: float | None
    improvement: float | None
    mean_difference: float | None
    interval: tuple[float, float] | None
    interval_method: str
    spiegelhalter_z_before: float | None
    spiegelhalter_z: float | None
    reliability_before: list[dict[str, Any]]
    reliability: list[dict[str, Any]]
    x: tuple[float, ...]
    y: tuple[float, ...]
    max_change: float

    @property
    def map(self) -> CalibrationMap:
        return CalibrationMap(np.asarray(self.x, dtype=np.float64), np.asarray(self.y, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _RESULT_KEYS}
        out["x"] = list(self.x)
        out["y"] = list(self.y)
        out["interval"] = None if self.interval is None else list(self.interval)
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
            values["interval"] = (
                None if raw["interval"] is None else tuple(_number(v, float) for v in raw["interval"])
            )
            values["x"] = tuple(_number(v, float) for v in raw["x"])
            values["y"] = tuple(_number(v, float) for v in raw["y"])
        except (TypeError, ValueError) as error:
            raise ProposalError(f"proposal.json: models.{name}: {error}") from None
        if raw["status"] not in ("ok", "insufficient"):
            raise ProposalError(f"proposal.json: models.{name}.status is {raw['status']!r}")
        if values["interval"] is not None and len(values["interval"]) != 2:
            raise ProposalError(f"proposal.json: models.{name}.interval is not a (lo, hi) pair")
        if len(values["x"]) != len(values["y"]):
            raise ProposalError(f"proposal.json: models.{name} has x and y of different lengths")
        return cls(**values)


_RESULT_KEYS = tuple(ModelResult.__dataclass_fields__)
_INT_KEYS = ("n", "n_evaluated", "wins")
_FLOAT_KEYS = (
    "brier_before", "brier_after", "brier_in_sample", "improvement", "mean_difference",
    "spiegelhalter_z_before", "spiegelhalter_z", "max_change",
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
    """Per-model maps and evidence, the inputs' digest and the settings used. Deterministic per seed."""

    models: dict[str, ModelResult]
    data_models: tuple[str, ...]
    inputs: dict[str, Any]
    seed: int
    folds: int
    split: str
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
            "folds": self.folds,
            "split": self.split,
            "thresholds": dict(self.thresholds),
            "disagreement_rule": self.disagreement_rule,
            "models": {name: result.to_dict() for name, result in self.models.items()},
        }

    def to_json(self) -> str:
        """``proposal.json``: sorted keys, no NaN (missing numbers are null), byte-identical per seed."""
        return json.dumps(_finite(self.to_dict()), sort_keys=True, indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Proposal:
        """Parse and validate strictly: an unknown key or a wrong schema is refused, never ignored."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise ProposalError(f"proposal.json is not valid JSON: {error}") from None
        raw = _expect_keys(raw, set(_TOP_KEYS), "proposal")
        if raw["schema"] != SCHEMA:
            raise ProposalError(f"proposal.json: unsupported schema {raw['schema']!r} (expected {SCHEMA!r})")
        if raw["applied"] is not False:
            raise ProposalError("proposal.json: 'applied' must be false — a proposal is never applied")
        if not isinstance(raw["models"], dict):
            raise ProposalError("proposal.json: 'models' must be an object")
        return cls(
            models={name: ModelResult.from_dict(name, raw["models"][name]) for name in canonical(raw["models"])},
            data_models=tuple(raw["data_models"]),
            inputs=dict(raw["inputs"]),
            seed=int(raw["seed"]),
            folds=int(raw["folds"]),
            split=str(raw["split"]),
            thresholds=dict(raw["thresholds"]),
            disagreement_rule=str(raw["disagreement_rule"]),
            method=str(raw["method"]),
            band_method=str(raw["band_method"]),
            operations=tuple(raw["operations"]),
            applied=False,
            schema=SCHEMA,
        )

    def engine_mapping(self, model: str = ENSEMBLE, step: float = ENGINE_GRID_STEP) -> dict[str, float]:
        """The map as the engine's ``confidence_calibration.mapping``: clean keys "0.0" … "1.0", 4 decimals.

        Rounding to 4 decimals is monotone and the band edges at grid points are 4-decimal numbers, so the
        rounded values stay within the band; the engine's interpolation between them stays within it too.
        """
        steps = round(1.0 / step)
        if not np.isclose(steps * step, 1.0):
            raise ValueError(f"step {step} does not divide [0, 1] evenly")
        grid = np.array([round(i * step, 10) for i in range(steps + 1)])
        values = self.models[model].map(grid)
        return {repr(float(round(g, 6))): round(float(v), 4) for g, v in zip(grid, values, strict=True)}


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
    "folds",
    "split",
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
    """Fit, evaluate out of fold and package every model of ``log``; raises ``ProposalError`` on bad input."""
    settings = config.calibration
    data = extract(log)
    n = log.records
    if settings.split == "kfold":
        split = folds_mod.kfold(n, settings.folds, seed)
    else:
        split = folds_mod.walk_forward(_time_order(log), settings.folds)
    results = {name: _evaluate(data[name], split, config, seed) for name in canonical(data)}
    return Proposal(
        models=results,
        data_models=tuple(log.models),
        inputs={
            "path": str(log.path),
            "sha256": log.sha256,
            "line_count": int(log.line_count),
            "records": int(n),
        },
        seed=int(seed),
        folds=int(settings.folds),
        split=settings.split,
        thresholds=settings.model_dump(mode="json"),
    )


def _time_order(log: TradeLog) -> np.ndarray:
    stamps = log.frame["timestamp"]
    missing = stamps.isna().to_numpy()
    if missing.any():
        lines = log.lines_of(missing)[:10].tolist()
        raise ProposalError(f"walk-forward needs a timestamp on every trade; missing or bad on lines {lines}")
    naive_utc = stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz else stamps
    ns = naive_utc.to_numpy().astype("datetime64[ns]").astype(np.int64)
    return np.lexsort((log.frame["line"].to_numpy(), ns))


def _evaluate(sample: ModelData, split: folds_mod.Folds, config: Config, seed: int) -> ModelResult:
    settings = config.calibration
    band = settings.max_confidence_change
    conf = sample.confidence
    y = sample.outcome.astype(np.float64)
    n = sample.n
    wins = int(y.sum())
    if n == 0:
        return _insufficient(sample, "no trades where this model's action agrees with the trade", wins)
    order = np.argsort(conf, kind="stable")
    sorted_conf, sorted_y = conf[order], y[order]
    final = fit_sorted(sorted_conf, sorted_y, band)
    calibrated = np.full(n, np.nan)
    for train, test in split.splits(sample.rows):
        fold_map = fit_sorted(sorted_conf[train[order]], sorted_y[train[order]], band)
        calibrated[test] = fold_map(conf[test])
    evaluated = ~np.isnan(calibrated)
    n_eval = int(evaluated.sum())
    reason = None
    if n_eval < 2:
        return _insufficient(sample, f"only {n_eval} trade(s) could be evaluated out of fold", wins, final)
    if wins in (0, n):
        reason = f"every trade of this model is a {'WIN' if wins else 'LOSS'}: nothing to calibrate against"
    raw, cal, yy = conf[evaluated], calibrated[evaluated], y[evaluated]
    before, after = brier(raw, yy), brier(cal, yy)
    diff = (raw - yy) ** 2 - (cal - yy) ** 2
    rng = np.random.default_rng([seed, zlib.crc32(sample.name.encode())])
    lo, hi, how = mean_interval(diff, rng, settings.bootstrap_below, settings.bootstrap_resamples)
    bins = settings.reliability_bins
    return ModelResult(
        name=sample.name,
        n=n,
        n_evaluated=n_eval,
        wins=wins,
        excluded=dict(sample.excluded),
        status="insufficient" if reason else "ok",
        reason=reason,
        brier_before=before,
        brier_after=after,
        brier_in_sample=brier(final(conf), y),
        improvement=(before - after) / before if before > 0 else None,
        mean_difference=float(diff.mean()),
        interval=(lo, hi),
        interval_method=how,
        spiegelhalter_z_before=spiegelhalter_z(raw, yy),
        spiegelhalter_z=spiegelhalter_z(cal, yy),
        reliability_before=reliability_table(raw, yy, bins),
        reliability=reliability_table(cal, yy, bins),
        x=tuple(final.x.tolist()),
        y=tuple(final.y.tolist()),
        max_change=final.max_change,
    )


def _insufficient(
    sample: ModelData, reason: str, wins: int, fitted: CalibrationMap | None = None
) -> ModelResult:
    """A result that says plainly why no decision is possible; its map changes nothing unless fitted."""
    chosen = fitted or CalibrationMap.identity()
    return ModelResult(
        name=sample.name,
        n=sample.n,
        n_evaluated=0,
        wins=wins,
        excluded=dict(sample.excluded),
        status="insufficient",
        reason=reason,
        brier_before=None,
        brier_after=None,
        brier_in_sample=None,
        improvement=None,
        mean_difference=None,
        interval=None,
        interval_method="none",
        spiegelhalter_z_before=None,
        spiegelhalter_z=None,
        reliability_before=[],
        reliability=[],
        x=tuple(chosen.x.tolist()),
        y=tuple(chosen.y.tolist()),
        max_change=chosen.max_change,
    )
