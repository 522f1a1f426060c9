"""Validating ``calibration.json`` into one immutable ``Snapshot``, and applying its maps.

Why so strict: whatever this parser accepts goes straight into the confidence of every live trade. A file
is served only when every part the engine uses is well formed: the JSON itself (no duplicate keys, no
``NaN``/``Infinity``, no integer longer than ``MAX_INT_DIGITS`` digits, nesting at most ``MAX_DEPTH``
deep, checked before the decoder runs), a printable ``version``, maps whose knots lie in [0, 1], rise
strictly in x, never fall in y and are far enough apart that every slope is a finite number, and
ensemble weights that are real numbers when their override is enabled. Anything else raises
``CalibrationError`` with one line that says what and where, and is never served.

The shape is the engine's (quantum_trader ``ai_engine/calibration_loader.py``, REAL_SYSTEM.md §5): a
missing ``confidence_calibration`` section or ``enabled`` flag means "disabled", as it does there; a
missing ``ensemble_weights`` means "no override". calpolicy's own block (``calpolicy.models``) adds
per-model maps.

``apply`` always returns a finite number in [0, 1]: the interpolated value, clamped as the engine's
``np.clip`` does, and ``NAN_CONFIDENCE`` (0.0, "no confidence") for a NaN input. On a scalar it is pure
Python (``bisect`` on precomputed lists) and bit-for-bit ``np.clip(np.interp(...), 0, 1)``; on an
array it is one ``np.interp`` call.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NO_CALIBRATION = "none"
KEY_TOLERANCE = 1e-6  # the existing tool writes keys like "1.0000000000000004"
MAX_DEPTH = 32  # the engine's shape is 4 deep; 100,000 deep would exhaust the decoder's stack
MAX_INT_DIGITS = 30  # a 5000-digit integer raises inside json; a 400-digit one overflows float()
MAX_VERSION_CHARS = 200
NAN_CONFIDENCE = 0.0  # a NaN confidence is no confidence: the value that trades least
WEIGHTED_MODELS = ("xgb", "lgbm", "nhits", "patchtst")  # the four the engine's override reads
WEIGHT_SUM_TOLERANCE = 0.01  # the engine warns beyond this; we refuse


class CalibrationError(ValueError):
    """A calibration file that must not be served; the message says what is wrong and where."""


# --------------------------------------------------------------------------------------------- maps


def clamp_unit(value: float) -> float:
    """``value`` in [0, 1]; NaN becomes ``NAN_CONFIDENCE``."""
    if 0.0 <= value <= 1.0:
        return value
    if value > 1.0:
        return 1.0
    return 0.0 if value < 0.0 else NAN_CONFIDENCE


@dataclass(frozen=True)
class Curve:
    """One piecewise-linear map, kept as Python lists for the scalar path and arrays for the vector path."""

    xs: list[float]
    ys: list[float]
    slopes: list[float]
    x_array: np.ndarray
    y_array: np.ndarray

    @classmethod
    def from_points(cls, xs: list[float], ys: list[float], where: str = "map") -> Curve:
        # the same float operations np.interp uses, so the scalar path is bit-identical to it
        slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
        for i, slope in enumerate(slopes):
            if not math.isfinite(slope):
                raise CalibrationError(
                    f"{where}: knots {xs[i]!r} and {xs[i + 1]!r} are too close together (the slope between "
                    "them is not a finite number)"
                )
        x_array = np.array(xs, dtype=np.float64)
        y_array = np.array(ys, dtype=np.float64)
        x_array.flags.writeable = False
        y_array.flags.writeable = False
        return cls(list(xs), list(ys), slopes, x_array, y_array)

    def scalar(self, c: float) -> float:
        xs = self.xs
        if c <= xs[0]:
            return self.ys[0]
        if c >= xs[-1]:
            return self.ys[-1]
        j = bisect_right(xs, c) - 1
        if c == xs[j]:
            return self.ys[j]
        try:
            value = self.slopes[j] * (c - xs[j]) + self.ys[j]
        except IndexError:  # only NaN gets past every comparison
            return NAN_CONFIDENCE
        if 0.0 <= value <= 1.0:
            return value
        return clamp_unit(value)  # a rounding step past a knot at 0 or 1

    def array(self, values: np.ndarray) -> np.ndarray:
        return unit_array(np.interp(values, self.x_array, self.y_array), fresh=True)


def unit_array(values: Any, fresh: bool = False) -> Any:
    """``values`` clamped to [0, 1] with NaN as ``NAN_CONFIDENCE`` (0.0): ``fmax`` drops a NaN for the 0.

    ``fresh`` says ``values`` is our own new array, so it is clamped in place (two passes, no copy).
    """
    if np.ndim(values) == 0:
        return np.float64(clamp_unit(float(values)))
    out = np.fmax(values, 0.0, out=values if fresh else None)
    return np.fmin(out, 1.0, out=out)


@dataclass(frozen=True)
class Snapshot:
    """One validated config, immutable once published. ``ensemble is None`` means identity (no calibration)."""

    version: str
    enabled: bool
    ensemble: Curve | None
    models: dict[str, Curve]
    weights_count: int
    sha256: str | None
    source: str = "file"
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    weights_override: dict[str, float] | None = None
    mapping: dict[float, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def from_file(self) -> bool:
        return self.source == "file"

    def apply(self, confidence: Any, model: str | None = None) -> Any:
        """The calibrated confidence in [0, 1]: a float for a scalar, a new float64 array for an array."""
        curve = self.ensemble if model is None else self.models.get(model)
        if type(confidence) is float:
            if curve is None:
                return confidence if 0.0 <= confidence <= 1.0 else clamp_unit(confidence)
            return curve.scalar(confidence)
        if isinstance(confidence, np.ndarray | list | tuple):
            values = np.asarray(confidence, dtype=np.float64)
            return unit_array(values) if curve is None else curve.array(values)
        value = float(confidence)  # ints, numpy scalars, Decimal
        return clamp_unit(value) if curve is None else curve.scalar(value)


def identity_snapshot(version: str = NO_CALIBRATION, source: str = "no file") -> Snapshot:
    return Snapshot(version, False, None, {}, 0, None, source)


# --------------------------------------------------------------------------------------------- JSON

_TOKENS = re.compile(rb'"(?:[^"\\]|\\(?:.|\Z))*(?:"|\Z)|[\[\]{}]', re.S)  # a string always matches: linear


def nesting_depth(data: bytes, limit: int = MAX_DEPTH) -> int:
    """The deepest ``[``/``{`` nesting outside strings, counting no further than ``limit`` + 1."""
    depth = deepest = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CalibrationError(f"the key {key[:60]!r} appears twice in one object")
        out[key] = value
    return out


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise CalibrationError(f"holds an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _no_constant(text: str) -> Any:
    raise CalibrationError(f"holds {text}, which is not a number in JSON")


def decode(raw: bytes, source: str) -> Any:
    """JSON from the file's bytes (``parse_calibration`` turns text into bytes first, as the file holds it)."""
    if nesting_depth(raw) > MAX_DEPTH:
        raise CalibrationError(f"{source} is nested more than {MAX_DEPTH} levels deep")
    # UTF-8 without a byte-order mark, as the engine's own loader reads it (open() text, json.load): given
    # bytes, json.loads would also take UTF-16/32 and a BOM, and serve a file the engine refuses
    if raw[:3] == b"\xef\xbb\xbf":
        raise CalibrationError(f"{source} is not valid JSON for the engine: it starts with a byte-order mark")
    try:
        text = raw.decode("utf-8", "surrogatepass")  # as json.loads decodes bytes: a lone surrogate is judged later
    except UnicodeDecodeError as error:
        why = f"not UTF-8 text (UTF-16? binary?) at byte {error.start}"
        raise CalibrationError(f"{source} is not valid JSON: {why}") from None
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_int=_bounded_int, parse_constant=_no_constant)
    except CalibrationError as error:
        raise CalibrationError(f"{source} {error}") from None
    except (ValueError, RecursionError, MemoryError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise CalibrationError(f"{source} is not valid JSON: {str(error)[:200]}") from None


# --------------------------------------------------------------------------------------------- fields


def _finite_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalibrationError(f"{where} must be a number, got {_show(value)}")
    number = float(value)  # ints are at most MAX_INT_DIGITS digits: no overflow
    if not math.isfinite(number):
        raise CalibrationError(f"{where} must be a finite number, got {_show(value)}")
    return number


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_knots(xs: list[float], ys: list[float], where: str) -> Curve:
    if len(xs) < 2:
        raise CalibrationError(f"{where} must have at least 2 points")
    for a, b in itertools.pairwise(xs):
        if not b > a:
            raise CalibrationError(f"{where}: x must be strictly increasing ({a!r} then {b!r})")
    if xs[0] < -KEY_TOLERANCE or xs[-1] > 1 + KEY_TOLERANCE:
        bad = xs[0] if xs[0] < -KEY_TOLERANCE else xs[-1]
        raise CalibrationError(f"{where}: knot {bad!r} is outside [0, 1]")
    for y in ys:
        if not 0.0 <= y <= 1.0:
            raise CalibrationError(f"{where}: value {y!r} is outside [0, 1]")
    for (xa, ya), (xb, yb) in itertools.pairwise(zip(xs, ys, strict=True)):
        if yb < ya:
            raise CalibrationError(f"{where} is not monotone: it falls from {ya!r} at {xa!r} to {yb!r} at {xb!r}")
    return Curve.from_points(xs, ys, where)


def _curve_from_mapping(mapping: Any) -> tuple[Curve, dict[float, float]]:
    where = "confidence_calibration.mapping"
    if not isinstance(mapping, dict):
        raise CalibrationError(f"{where} must be an object of confidence -> calibrated value")
    points: dict[float, float] = {}
    for key, value in mapping.items():
        try:
            x = float(key)
        except ValueError:
            raise CalibrationError(f"{where} key {_show(key)} is not a number") from None
        if not math.isfinite(x):
            raise CalibrationError(f"{where} key {_show(key)} is not a finite number")
        if x in points:
            raise CalibrationError(f"{where} key {_show(key)} repeats the point {x!r}")
        points[x] = _finite_number(value, f"{where}[{_show(key)}]")
    xs = sorted(points)
    return _check_knots(xs, [points[x] for x in xs], where), points


def _curve_from_knots(raw: Any, name: str) -> Curve:
    where = f"calpolicy.models.{name}"
    if not isinstance(raw, dict) or not isinstance(raw.get("x"), list) or not isinstance(raw.get("y"), list):
        raise CalibrationError(f"{where} must be an object with lists 'x' and 'y'")
    xs = [_finite_number(v, f"{where}.x") for v in raw["x"]]
    ys = [_finite_number(v, f"{where}.y") for v in raw["y"]]
    if len(xs) != len(ys):
        raise CalibrationError(f"{where}: x and y must have the same length ({len(xs)} and {len(ys)})")
    return _check_knots(xs, ys, where)


def _flag(section: dict[str, Any], where: str) -> bool:
    value = section.get("enabled", False)
    if not isinstance(value, bool):
        raise CalibrationError(f"{where}.enabled must be true or false, got {_show(value)}")
    return value


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    section = doc.get(name, {})
    if not isinstance(section, dict):
        raise CalibrationError(f"'{name}' must be an object, got {_show(section)}")
    return section


def _weights(doc: dict[str, Any]) -> tuple[int, dict[str, float] | None]:
    section = _section(doc, "ensemble_weights")
    weights = section.get("weights", {})
    if not isinstance(weights, dict):
        raise CalibrationError(f"ensemble_weights.weights must be an object, got {_show(weights)}")
    if not _flag(section, "ensemble_weights"):
        return len(weights), None
    override: dict[str, float] = {}
    for name in WEIGHTED_MODELS:
        if name not in weights:
            raise CalibrationError(f"ensemble_weights is enabled but has no weight for {name!r}")
        weight = _finite_number(weights[name], f"ensemble_weights.weights.{name}")
        if not 0.0 <= weight <= 1.0:
            raise CalibrationError(f"ensemble_weights.weights.{name} = {weight!r} is outside [0, 1]")
        override[name] = weight
    total = math.fsum(override.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise CalibrationError(f"ensemble_weights is enabled and its weights sum to {total:.4f}, not 1")
    return len(weights), override


def _version(doc: dict[str, Any]) -> str:
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CalibrationError(f"'version' must be a non-empty string, got {_show(version)}")
    if len(version) > MAX_VERSION_CHARS or not version.isprintable():
        raise CalibrationError(
            f"'version' must be printable text of at most {MAX_VERSION_CHARS} characters, got {_show(version)}"
        )
    return version


def parse_calibration(data: bytes | str, source: str = "calibration.json") -> Snapshot:
    """Validate ``calibration.json`` bytes (the engine's shape plus calpolicy's block); raise ``CalibrationError``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    doc = decode(raw, source)
    if not isinstance(doc, dict):
        raise CalibrationError(f"{source} is not a JSON object")
    try:
        version = _version(doc)
        section = _section(doc, "confidence_calibration")
        enabled = _flag(section, "confidence_calibration")
        if enabled and "mapping" not in section:
            raise CalibrationError("confidence_calibration is enabled but has no mapping")
        ensemble, points = _curve_from_mapping(section["mapping"]) if "mapping" in section else (None, {})
        weights_count, override = _weights(doc)
        block = doc.get("calpolicy")
        parsed: dict[str, Curve] = {}
        if block is not None:
            models = block.get("models", {}) if isinstance(block, dict) else None
            if not isinstance(models, dict):
                raise CalibrationError("'calpolicy.models' must be an object")
            parsed = {str(name): _curve_from_knots(raw_map, str(name)) for name, raw_map in models.items()}
    except CalibrationError as error:
        raise CalibrationError(f"{source}: {error}") from None
    return Snapshot(
        version,
        enabled,
        ensemble if enabled else None,
        parsed if enabled else {},
        weights_count,
        hashlib.sha256(raw).hexdigest(),
        "file",
        doc,
        override,
        points,
    )
