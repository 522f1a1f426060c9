"""``calpolicy.loader``: the engine's loader, which lives in its own distribution ``calpolicy-loader``.

Why a re-export: the AI engine's venv pins numpy < 2 and cannot install calpolicy, so what it imports
ships as ``calpolicy_loader`` (numpy only, ``loader/`` in this repository). calpolicy itself keeps
importing it from here, so ``calpolicy.loader.CalibrationLoader`` and ``calpolicy.CalibrationLoader``
keep working and there is exactly one parser: what ``approve`` writes is what the engine will accept.
"""

from __future__ import annotations

from calpolicy_loader import (
    DEFAULT_CONFIG_PATH,
    FALLBACK_WEIGHTS,
    KEY_TOLERANCE,
    LOADED_MARKER,
    LOG,
    MAX_BYTES,
    NAN_CONFIDENCE,
    NO_CALIBRATION,
    TAG,
    CalibrationError,
    CalibrationLoader,
    Curve,
    Snapshot,
    get_calibration_loader,
    identity_snapshot,
    parse_calibration,
    read_marker,
    reload_calibration,
    wait_for_version,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "FALLBACK_WEIGHTS",
    "KEY_TOLERANCE",
    "LOADED_MARKER",
    "LOG",
    "MAX_BYTES",
    "NAN_CONFIDENCE",
    "NO_CALIBRATION",
    "TAG",
    "CalibrationError",
    "CalibrationLoader",
    "Curve",
    "Snapshot",
    "get_calibration_loader",
    "identity_snapshot",
    "parse_calibration",
    "read_marker",
    "reload_calibration",
    "wait_for_version",
]
