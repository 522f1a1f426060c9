"""Checklist 2.2 — the hard safety bounds, on the proposal under review (see ``calpolicy.bounds``)."""

from __future__ import annotations

import pytest

from calpolicy.plugin import enforce
from calpolicy.verdict import Verdict

pytestmark = pytest.mark.proposal


@pytest.mark.control("P2.2.a")
def test_confidence_change_within_band(bounds_verdict: Verdict) -> None:
    """Every calibrated confidence stays within ±max_confidence_change (0.15) of raw, on all of [0, 1]."""
    enforce(bounds_verdict, "P2.2.a")


@pytest.mark.control("P2.2.b")
def test_ensemble_improves_out_of_fold(bounds_verdict: Verdict) -> None:
    """The ensemble improves the held-out Brier by ≥ 5%, shown by the one-sided 95% lower bound (default rule)."""
    enforce(bounds_verdict, "P2.2.b")


@pytest.mark.control("P2.2.c")
def test_no_model_degrades(bounds_verdict: Verdict) -> None:
    """No model's held-out Brier gets worse (degradation allowed: 0%)."""
    enforce(bounds_verdict, "P2.2.c")


@pytest.mark.control("P2.2.d")
def test_all_models_covered(bounds_verdict: Verdict) -> None:
    """One map for every model in the data and the ensemble: all or nothing, no hidden subset."""
    enforce(bounds_verdict, "P2.2.d")
