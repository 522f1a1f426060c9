"""The ensemble weights the real AI engine will use with a given ``calibration.json`` (checklist P1.1.b, P2.1).

Why judging the file's bytes is not enough: the engine's loader (quantum_trader's
``ai_engine/calibration_loader.py``) returns, from ``get_ensemble_weights()``, the file's weights when its
override is enabled, and otherwise — once ANY file is loaded — a fixed four-model fallback (xgb 0.30,
lgbm 0.30, nhits 0.20, patchtst 0.20), which its ensemble manager then uses. With no file (or a file the
loader fails to read) the engine keeps its own baseline: its ModelSupervisor's dynamic weights, or its
defaults. So the first calibration on a host without a file changes the weights, though the file says
``"enabled": false``.

This module says which weights each state gives and whether a change of file changes them. approve
STOPs on a change (docs/apply.md says why: the baseline may be dynamic, so no file can reproduce it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FALLBACK = {"xgb": 0.30, "lgbm": 0.30, "nhits": 0.20, "patchtst": 0.20}
MODELS = ("xgb", "lgbm", "nhits", "patchtst")
BASELINE = "the engine's own baseline weights (its ModelSupervisor's dynamic weights, or its defaults)"


@dataclass(frozen=True)
class Effective:
    """What the engine's ensemble uses: ``weights`` None means its own baseline (not known to calpolicy)."""

    weights: dict[str, Any] | None
    source: str

    def shown(self) -> str:
        if self.weights is None:
            return self.source
        numbers = ", ".join(f"{k} {self.weights.get(k)}" for k in MODELS)
        return f"{numbers} ({self.source})"


def effective(data: bytes | None) -> Effective:
    """The weights the real loader gives the engine for a ``calibration.json`` with these bytes (None: no file)."""
    if data is None:
        return Effective(None, BASELINE + ": no calibration.json")
    try:
        doc = json.loads(data.decode("utf-8"))  # it opens the file as text: a BOM or UTF-16 fails there
        _loads_the_rest(doc)
        section = doc.get("ensemble_weights", {})
        enabled = section.get("enabled", False)
        weights = section.get("weights", {}) if enabled else None
        override = {k: weights.get(k) for k in MODELS} if weights is not None else None
        if override is not None:
            sum(w for w in override.values() if w is not None)  # its check that they sum to 1: text raises
    except Exception:  # the real loader fails on it and serves nothing: the engine keeps its baseline
        return Effective(None, BASELINE + ": the loader cannot read the file")
    if override:
        return Effective(override, "the file's enabled override")
    return Effective(dict(FALLBACK), "the loader's fixed fallback, used once any file is loaded without an override")


def _loads_the_rest(doc: Any) -> None:
    """Raise where the real loader's ``reload()`` raises on the file's other parts, as it reads them.

    Why: any exception there (a ``created_at`` it cannot parse, a confidence mapping with a key that is not a
    number, a ``confidence_calibration`` that is not an object) makes it serve nothing, so the engine keeps its
    baseline, not the fallback: judging only the weights section would call such a file "the fallback".
    """
    created = doc.get("created_at")
    if created:
        datetime.fromisoformat(created.replace("Z", "+00:00"))
    section = doc.get("confidence_calibration", {})  # not an object: .get below raises, as it does there
    for key, value in section.get("mapping", {}).items():
        float(key), float(value)


def change(before: bytes | None, after: bytes | None) -> str | None:
    """None when the engine's weights stay the same; else the sentence naming them before and after."""
    old, new = effective(before), effective(after)
    if old.weights is None and new.weights is None:
        return None
    if old.weights == new.weights:
        return None
    return f"the AI engine's ensemble weights would change: now {old.shown()}; with the new file {new.shown()}"


# what approve writes as far as the engine's weights go: calpolicy never enables the override
_CALIBRATION_ONLY = b'{"ensemble_weights": {"enabled": false}}'


def apply_would_change(live: bytes | None) -> str | None:
    """Would applying any calpolicy calibration over ``live`` (None: no file) change the engine's weights?

    ``run`` says so next to its GO (rehearsal, docs/real-host-rehearsal.md): on a host without a file the job
    is valid, yet ``approve`` must STOP on it, and the reviewer should know before reading the report.
    """
    return change(live, _CALIBRATION_ONLY)
