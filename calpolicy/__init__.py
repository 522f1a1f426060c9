"""calpolicy: the operators' calibration checklist as a library and a pytest policy suite.

The public names are resolved lazily so that ``calpolicy preflight`` (which only needs the data gate and
the probes) never pays for importing scikit-learn or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "calpolicy.vocabulary.config",
    "ConfigError": "calpolicy.vocabulary.config",
    "load_config": "calpolicy.vocabulary.config",
    "TradeLog": "calpolicy.clm",
    "read_clm": "calpolicy.clm",
    "check_data": "calpolicy.clm",
    "Finding": "calpolicy.vocabulary.verdict",
    "Verdict": "calpolicy.vocabulary.verdict",
    "Proposal": "calpolicy.calibrate",
    "propose": "calpolicy.calibrate",
    "check_bounds": "calpolicy.calibrate.bounds",
    "CalibrationLoader": "calpolicy.loader",
    "run_job": "calpolicy.run",
    "JobStore": "calpolicy.jobs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'calpolicy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
