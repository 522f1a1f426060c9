"""calpolicy-loader: the calibration loader the AI engine imports (numpy and the standard library only).

A drop-in for the engine's ``ai_engine/calibration_loader.py`` with hot reload, full validation and the
``.calpolicy_loaded`` acknowledgement; it imports nothing of calpolicy, so it installs into the engine's
own venv (numpy 1.22 through 2.x, Python 3.10+) without touching its pins.
"""

from __future__ import annotations

from calpolicy_loader.files import MAX_BYTES, Unreadable, read_bounded
from calpolicy_loader.loader import (
    DEFAULT_CONFIG_PATH,
    FALLBACK_WEIGHTS,
    LOADED_MARKER,
    LOG,
    TAG,
    CalibrationLoader,
    get_calibration_loader,
    read_marker,
    reload_calibration,
    wait_for_version,
)
from calpolicy_loader.parse import (
    KEY_TOLERANCE,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    NAN_CONFIDENCE,
    NO_CALIBRATION,
    CalibrationError,
    Curve,
    Snapshot,
    identity_snapshot,
    parse_calibration,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "FALLBACK_WEIGHTS",
    "KEY_TOLERANCE",
    "LOADED_MARKER",
    "LOG",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "NAN_CONFIDENCE",
    "NO_CALIBRATION",
    "TAG",
    "CalibrationError",
    "CalibrationLoader",
    "Curve",
    "Snapshot",
    "Unreadable",
    "get_calibration_loader",
    "identity_snapshot",
    "parse_calibration",
    "read_bounded",
    "read_marker",
    "reload_calibration",
    "wait_for_version",
]
