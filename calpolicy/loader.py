"""``CalibrationLoader``: what the AI engine imports to apply the approved calibration, with hot reload.

Why it exists: the engine's own loader needs a restart to see a new file, keeps serving a stale map when
the file is deleted, and cannot say which version it serves. This one

* validates a file completely before serving it; a file that does not parse or validate is never served
  (the last good config stays, and the error is logged);
* swaps configs atomically: each config is one immutable ``Snapshot`` published by a single attribute
  assignment, and ``apply`` reads that attribute once, so a concurrent caller sees the old map or the new
  one, never a mix;
* notices a new file by polling (inode, mtime, size, ctime) from a daemon thread, or on ``reload()`` /
  a reload signal;
* treats a deleted file as "no calibration" (identity) and says so;
* logs the lines the checklist greps and records the version it serves in ``.calpolicy_loaded`` beside
  ``calibration.json`` ({"version", "pid", "at", "sha256"}), which ``calpolicy approve`` waits for.

``apply`` on a scalar is pure Python (``bisect`` on precomputed lists: well under 1 µs a call) and gives
bit-for-bit what ``np.interp`` gives; on an array it is one ``np.interp`` call.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import signal
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from calpolicy.atomic_io import sha256_bytes, write_atomic

LOG = logging.getLogger("calpolicy.loader")
TAG = "[CalibrationLoader]"
LOADED_MARKER = ".calpolicy_loaded"
NO_CALIBRATION = "none"
KEY_TOLERANCE = 1e-6  # the existing tool writes keys like "1.0000000000000004"


class CalibrationError(ValueError):
    """A calibration file that must not be served; the message says what is wrong and where."""


@dataclass(frozen=True)
class Curve:
    """One piecewise-linear map, kept as Python lists for the scalar path and arrays for the vector path."""

    xs: list[float]
    ys: list[float]
    slopes: list[float]
    x_array: np.ndarray
    y_array: np.ndarray

    @classmethod
    def from_points(cls, xs: list[float], ys: list[float]) -> Curve:
        # the same float operations np.interp uses, so the scalar path is bit-identical to it
        slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
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
            return self.slopes[j] * (c - xs[j]) + self.ys[j]
        except IndexError:  # only NaN gets past every comparison; it stays NaN, as with np.interp
            return c

    def array(self, values: np.ndarray) -> np.ndarray:
        return np.interp(values, self.x_array, self.y_array)


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

    def apply(self, confidence: Any, model: str | None = None) -> Any:
        """The calibrated confidence: a float for a scalar, a new float64 array for an array."""
        curve = self.ensemble if model is None else self.models.get(model)
        if type(confidence) is float:
            return confidence if curve is None else curve.scalar(confidence)
        if isinstance(confidence, np.ndarray | list | tuple):
            values = np.asarray(confidence, dtype=np.float64)
            return values.copy() if curve is None else curve.array(values)
        value = float(confidence)  # ints, numpy scalars, Decimal
        return value if curve is None else curve.scalar(value)


def identity_snapshot(version: str = NO_CALIBRATION, source: str = "no file") -> Snapshot:
    return Snapshot(version, False, None, {}, 0, None, source)


# --------------------------------------------------------------------------------------------- parsing


def _finite_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CalibrationError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _curve_from_mapping(mapping: Any) -> Curve:
    if not isinstance(mapping, dict) or len(mapping) < 2:
        raise CalibrationError("confidence_calibration.mapping must be an object with at least 2 points")
    points: dict[float, float] = {}
    for key, value in mapping.items():
        try:
            x = float(key)
        except ValueError:
            raise CalibrationError(f"confidence_calibration.mapping key {key!r} is not a number") from None
        if not math.isfinite(x) or not -KEY_TOLERANCE <= x <= 1 + KEY_TOLERANCE:
            raise CalibrationError(f"confidence_calibration.mapping key {key!r} is outside [0, 1]")
        if x in points:
            raise CalibrationError(f"confidence_calibration.mapping key {key!r} repeats the point {x!r}")
        y = _finite_number(value, f"confidence_calibration.mapping[{key!r}]")
        if not 0.0 <= y <= 1.0:
            raise CalibrationError(f"confidence_calibration.mapping[{key!r}] = {y!r} is outside [0, 1]")
        points[x] = y
    xs = sorted(points)
    return Curve.from_points(xs, [points[x] for x in xs])


def _curve_from_knots(raw: Any, name: str) -> Curve:
    where = f"calpolicy.models.{name}"
    if not isinstance(raw, dict) or not isinstance(raw.get("x"), list) or not isinstance(raw.get("y"), list):
        raise CalibrationError(f"{where} must be an object with lists 'x' and 'y'")
    xs = [_finite_number(v, f"{where}.x") for v in raw["x"]]
    ys = [_finite_number(v, f"{where}.y") for v in raw["y"]]
    if len(xs) != len(ys) or len(xs) < 2:
        raise CalibrationError(f"{where}: x and y must have the same length, at least 2")
    if any(b <= a for a, b in itertools.pairwise(xs)):
        raise CalibrationError(f"{where}.x must be strictly increasing")
    if xs[0] < -KEY_TOLERANCE or xs[-1] > 1 + KEY_TOLERANCE or any(not 0.0 <= y <= 1.0 for y in ys):
        raise CalibrationError(f"{where}: knots must lie in [0, 1]")
    return Curve.from_points(xs, ys)


def parse_calibration(data: bytes, source: str = "calibration.json") -> Snapshot:
    """Validate ``calibration.json`` bytes (the engine's shape, REAL_SYSTEM.md §5, plus calpolicy's block)."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CalibrationError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise CalibrationError(f"{source} is not a JSON object")
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CalibrationError(f"{source}: 'version' must be a non-empty string")
    section = doc.get("confidence_calibration")
    if not isinstance(section, dict) or not isinstance(section.get("enabled"), bool):
        raise CalibrationError(f"{source}: 'confidence_calibration.enabled' must be true or false")
    weights = doc.get("ensemble_weights", {})
    if not isinstance(weights, dict) or not isinstance(weights.get("weights", {}), dict):
        raise CalibrationError(f"{source}: 'ensemble_weights.weights' must be an object")
    enabled = section["enabled"]
    ensemble = _curve_from_mapping(section.get("mapping")) if enabled else None
    models: dict[str, Curve] = {}
    block = doc.get("calpolicy")
    if block is not None:
        if not isinstance(block, dict) or not isinstance(block.get("models", {}), dict):
            raise CalibrationError(f"{source}: 'calpolicy.models' must be an object")
        parsed = {name: _curve_from_knots(raw, name) for name, raw in block.get("models", {}).items()}
        if enabled:
            models = parsed
    return Snapshot(
        version, enabled, ensemble, models, len(weights.get("weights", {})), sha256_bytes(data), "file", doc
    )


# --------------------------------------------------------------------------------------------- loader


def _stat_key(path: Path) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


class CalibrationLoader:
    """Load, validate, apply and hot-reload ``calibration.json``.

    ``poll_interval_s`` (default 0.2 s) is how often a daemon thread looks for a new file; ``0`` disables
    the thread (call ``reload()`` yourself). ``record=False`` skips writing ``.calpolicy_loaded``.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        *,
        poll_interval_s: float = 0.2,
        record: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.path = Path(config_path)
        self.marker = self.path.parent / LOADED_MARKER
        self.record = record
        self.log = logger or LOG
        self.last_error: str | None = None
        self._reload_lock = threading.Lock()
        self._seen: tuple[int, int, int, int, int] | str | None = "unseen"
        self._snapshot: Snapshot = identity_snapshot(source="not loaded yet")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Snapshot], None]] = []
        self.reload(force=True)
        if poll_interval_s > 0:
            self._thread = threading.Thread(
                target=self._poll, args=(poll_interval_s,), name="calpolicy-loader", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------------ serving

    def apply(self, confidence: Any, model: str | None = None) -> Any:
        """Calibrate ``confidence`` (scalar or array) with the ensemble map, or with ``model``'s map.

        A model without a map of its own, and any call while no calibration is active, gets its input back.
        """
        snap = self._snapshot
        curve = snap.ensemble if model is None else snap.models.get(model)
        if type(confidence) is float:
            return confidence if curve is None else curve.scalar(confidence)
        return snap.apply(confidence, model)

    def snapshot(self) -> Snapshot:
        """The config served right now, as one immutable object (for several consistent calls)."""
        return self._snapshot

    @property
    def version(self) -> str:
        return self._snapshot.version

    @property
    def enabled(self) -> bool:
        return self._snapshot.enabled

    # ------------------------------------------------------------------ reloading

    def reload(self, force: bool = False) -> bool:
        """Look at the file now; swap in a new valid config. True when what is served changed."""
        with self._reload_lock:
            key = _stat_key(self.path)
            if not force and key == self._seen:
                return False
            self._seen = key
            if key is None:
                if self._snapshot.source == "no file":
                    return False
                self.log.warning(
                    "%s ⚠️ %s is missing: serving NO calibration (identity) until a valid file appears",
                    TAG,
                    self.path,
                )
                self._publish(identity_snapshot())
                return True
            try:
                data = self.path.read_bytes()
                snap = parse_calibration(data, str(self.path))
            except FileNotFoundError:
                self._seen = "unseen"  # replaced between stat and read: look again on the next tick
                return False
            except (OSError, CalibrationError) as error:
                message = error.strerror if isinstance(error, OSError) else str(error)
                self.last_error = message
                self.log.error(
                    "%s ❌ refusing to load %s: %s — still serving version %s",
                    TAG,
                    self.path,
                    message,
                    self._snapshot.version,
                )
                return False
            if snap.sha256 == self._snapshot.sha256:
                return False
            self.last_error = None
            self._publish(snap)
            return True

    def _publish(self, snap: Snapshot) -> None:
        self._snapshot = snap  # the one atomic swap
        if snap.source == "file":
            self.log.info("%s ✅ Loaded config version: %s", TAG, snap.version)
            self.log.info("%s Confidence calibration: %s", TAG, "enabled" if snap.enabled else "disabled")
            self.log.info("%s Ensemble weights: %d models", TAG, snap.weights_count)
            if snap.models:
                self.log.info("%s Per-model maps: %s", TAG, ", ".join(sorted(snap.models)))
        self._record(snap)
        for listener in list(self._listeners):
            listener(snap)

    def _record(self, snap: Snapshot) -> None:
        if not self.record:
            return
        body = {"version": snap.version, "pid": os.getpid(), "at": datetime.now(UTC).isoformat(), "sha256": snap.sha256}
        try:
            write_atomic(self.marker, (json.dumps(body) + "\n").encode())
        except OSError as error:
            self.log.error("%s ❌ cannot record the served version in %s: %s", TAG, self.marker, error.strerror)

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        """Call ``listener(snapshot)`` after every swap (from the thread that swapped)."""
        self._listeners.append(listener)

    def install_reload_signal(self, signum: int = signal.SIGHUP) -> None:
        """Reload on ``signum`` as well as by polling. Must be called from the main thread."""
        signal.signal(signum, lambda *_: threading.Thread(target=self.reload, daemon=True).start())

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.reload()
            except Exception as error:  # the engine must keep running on the last good config
                self.log.error("%s ❌ reload failed unexpectedly: %r", TAG, error)

    def close(self) -> None:
        """Stop the polling thread (the last config stays served)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CalibrationLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for_version(marker: Path, version: str, timeout_s: float, since: float = 0.0) -> dict[str, Any] | None:
    """Poll ``.calpolicy_loaded`` until it names ``version`` (recorded at or after ``since``, epoch s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = read_marker(marker)
        if seen and seen.get("version") == version and _epoch(seen.get("at")) >= since:
            return seen
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def read_marker(marker: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        raw = json.loads(marker.read_text(encoding="utf-8"))
        if isinstance(raw, dict):
            return raw
    return None


def _epoch(raw: Any) -> float:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
