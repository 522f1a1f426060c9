"""A stand-in for the AI engine, for tests and the demo, that behaves like the real one by default.

The real engine (quantum_trader's ``ai_engine/calibration_loader.py``, used by its ensemble manager) loads
``calibration.json`` ONCE, at start, and never again; it logs, through ``logging``::

    [CalibrationLoader] ✅ Loaded calibration: <version>
    [CalibrationLoader]    Based on <n> trades
    [CalibrationLoader]    Confidence calibration: ✅ ENABLED | ⏸ DISABLED
    [CalibrationLoader]    Ensemble weights: ✅ OVERRIDE | ⏸ BASELINE

or ``No config at <path>`` / ``Using baseline ensemble weights`` without a file, ``❌ Failed to load
config: <error>`` on a file it cannot read. It writes no acknowledgement, and SIGHUP ends it (it runs
under uvicorn, which installs no SIGHUP handler): run it with ``Restart=always`` and a SIGHUP is a restart.

This module is written from that behaviour, independently, with the standard library only: it must not
import calpolicy, or the demo would hide what calpolicy sees on the real host. ``--hot-reload`` shows the
upgrade path instead: the engine's one-line import change to calpolicy's loader (``calpolicy_loader``
when installed, else ``calpolicy.loader``), which hot-reloads and acknowledges in ``.calpolicy_loaded``.

Run it as a unit by its file path (``engine_argv``; ``python -m`` would import the calpolicy package):
``python -u .../ai_engine.py CALIBRATION_JSON [--tick S] [--decisions] [--hot-reload] [--log-format F]``.
``--log-format`` is how the real engine's logging may be set up (``microservices/ai_engine/main.py``):
``plain`` (``%(message)s``), ``fallback`` (main.py's basicConfig ``[asctime] [name] [LEVEL] message``),
``envelope`` (``{"ts", "level", "service": "ai_engine", "event": "LOG", "msg", "extra"}``), ``jsonlogger``
(backend/infra/observability's python-json-logger: ``{"asctime", "name", "levelname", "message", ...}``),
``prefixed`` (the envelope after a ``LEVEL:     `` prefix). Both JSON forms escape non-ASCII, as
``json.dumps`` does by default: in the raw journal line ``✅`` is ``\\u2705``. Once a tick it
logs a calibrated confidence and, with ``--decisions``, one decision in the engine's wording.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger("ai_engine.calibration_loader")
FALLBACK_WEIGHTS = {"xgb": 0.30, "lgbm": 0.30, "nhits": 0.20, "patchtst": 0.20}
UNIT_PROPERTIES = ("Restart=always", "RestartSec=0.5")  # as the real units: a SIGHUP comes back as a restart


class _Envelope(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        body = {"ts": ts, "level": record.levelname, "service": "ai_engine", "event": "LOG",
                "msg": record.getMessage(), "extra": {"logger": record.name}}  # fmt: skip
        return json.dumps(body)


class _JsonLogger(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {"asctime": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "name": record.name,
                "levelname": record.levelname, "message": record.getMessage(), "service_name": "ai-engine"}  # fmt: skip
        return json.dumps(body)


class _Prefixed(_Envelope):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname}:     {super().format(record)}"


LOG_FORMATS: dict[str, logging.Formatter] = {
    "plain": logging.Formatter("%(message)s"),
    "fallback": logging.Formatter("[%(asctime)s] [%(name)s] [%(levelname)s] %(message)s"),
    "envelope": _Envelope(),
    "jsonlogger": _JsonLogger(),
    "prefixed": _Prefixed(),
}


def engine_argv(python: str, calibration: str | Path, *extra: str) -> list[str]:
    """The unit's command line: this file run as a script, so no calpolicy module is imported."""
    return [python, "-u", str(Path(__file__).resolve()), str(calibration), *extra]


class LoadOnceLoader:
    """The real engine's loader, as it behaves: one load at construction, ``apply`` by linear interpolation."""

    def __init__(self, path: str) -> None:
        self.config_path = Path(path)
        self.calibration_loaded = False
        self.confidence_calibration_enabled = False
        self.ensemble_weights: dict[str, Any] | None = None
        self.version: str | None = None
        self._xs: list[float] = []
        self._ys: list[float] = []
        self.reload()

    def reload(self) -> bool:
        if not self.config_path.exists():
            LOG.info("[CalibrationLoader] No config at %s", self.config_path)
            LOG.info("[CalibrationLoader] Using baseline ensemble weights")
            self.calibration_loaded = False
            return False
        try:
            config = json.loads(self.config_path.read_text())
            self.version = config.get("version")
            section = config.get("confidence_calibration", {})
            self.confidence_calibration_enabled = section.get("enabled", False)
            points = sorted((float(k), float(v)) for k, v in section.get("mapping", {}).items())
            self._xs, self._ys = [p[0] for p in points], [p[1] for p in points]
            weights = config.get("ensemble_weights", {})
            chosen = weights.get("weights", {})
            models = ("xgb", "lgbm", "nhits", "patchtst")
            self.ensemble_weights = {m: chosen.get(m) for m in models} if weights.get("enabled", False) else None
            self.calibration_loaded = True
            LOG.info("[CalibrationLoader] ✅ Loaded calibration: %s", self.version)
            LOG.info("[CalibrationLoader]    Based on %s trades", config.get("based_on_trades"))
            enabled = "✅ ENABLED" if self.confidence_calibration_enabled else "⏸ DISABLED"
            LOG.info("[CalibrationLoader]    Confidence calibration: %s", enabled)
            weights_shown = "✅ OVERRIDE" if self.ensemble_weights else "⏸ BASELINE"
            LOG.info("[CalibrationLoader]    Ensemble weights: %s", weights_shown)
            return True
        except Exception as error:  # the real loader catches everything and serves nothing
            LOG.error("[CalibrationLoader] ❌ Failed to load config: %s", error)
            self.calibration_loaded = False
            return False

    def apply(self, raw: float) -> float:
        if not (self.calibration_loaded and self.confidence_calibration_enabled and self._xs):
            return raw
        xs, ys = self._xs, self._ys
        if raw <= xs[0]:
            return min(max(ys[0], 0.0), 1.0)
        if raw >= xs[-1]:
            return min(max(ys[-1], 0.0), 1.0)
        j = bisect.bisect_right(xs, raw) - 1
        value = ys[j] + (ys[j + 1] - ys[j]) * (raw - xs[j]) / (xs[j + 1] - xs[j])
        return min(max(value, 0.0), 1.0)

    def get_ensemble_weights(self, baseline: dict[str, float] | None = None) -> dict[str, float]:
        """As the real one: the file's override, else ``baseline``, else the fixed four-model fallback."""
        if self.calibration_loaded and self.ensemble_weights:
            return dict(self.ensemble_weights)
        return dict(baseline) if baseline else dict(FALLBACK_WEIGHTS)


class HotReloadAdapter:
    """The upgrade path: calpolicy's loader (hot reload, acknowledgement) behind the same two calls."""

    def __init__(self, path: str) -> None:
        try:
            from calpolicy_loader import CalibrationLoader  # type: ignore[import-not-found]
        except ImportError:
            from calpolicy.loader import CalibrationLoader
        self.loader = CalibrationLoader(path, poll_interval_s=0.2)

    @property
    def version(self) -> str | None:
        return self.loader.version

    def apply(self, raw: float) -> float:
        return float(self.loader.apply(raw))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ai_engine")
    parser.add_argument("calibration", help="path of calibration.json")
    parser.add_argument("--hot-reload", action="store_true", help="the upgrade path: calpolicy's hot-reloading loader")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between decision lines")
    parser.add_argument("--decisions", action="store_true", help="also log a BUY/SELL/HOLD decision each tick")
    parser.add_argument("--log-format", choices=sorted(LOG_FORMATS), default="plain", help="the engine's log setup")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LOG_FORMATS[args.log_format])
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    loader: Any = HotReloadAdapter(args.calibration) if args.hot_reload else LoadOnceLoader(args.calibration)
    raw = 0.72
    for tick in itertools.count():
        calibrated = loader.apply(raw)
        print(
            f"[PHASE 3C] 📊 Confidence calibrated for BTCUSDT: {raw * 100:.2f}% → {calibrated * 100:.2f}% "
            f"(version {loader.version})",
            flush=True,
        )
        if args.decisions:
            print(decision_line(tick, calibrated), flush=True)
        time.sleep(args.tick)
    return 0


def decision_line(tick: int, confidence: float) -> str:
    """The engine's decision line: a HOLD every fifth tick, else an alternating BUY/SELL it acted on."""
    if tick % 5 == 0:
        return f"[AI-ENGINE] ⚠️ No actionable signal for {'BTCUSDT' if tick % 2 else 'ETHUSDT'}"
    return f"[AI-ENGINE] ✅ Action confirmed: {'BUY' if tick % 2 else 'SELL'} (confidence={confidence:.2f})"


if __name__ == "__main__":
    sys.exit(main())
