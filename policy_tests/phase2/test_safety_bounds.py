"""Checklist 2.2 — the hard safety bounds, on the proposal under review (see ``calpolicy.calibrate.bounds``)."""

from __future__ import annotations

import pytest

from calpolicy.plugin import enforce
from calpolicy.vocabulary.verdict import Verdict

pytestmark = pytest.mark.proposal


@pytest.mark.control("P2.2.a")
def test_confidence_change_within_band(bounds_verdict: Verdict) -> None:
    """Every calibrated confidence stays within ±max_confidence_change (0.15) of raw, on all of [0, 1]; the
    ensemble's held-out confidences stay inside the watch's range (P4.2.d, checked before shipping)."""
    enforce(bounds_verdict, "P2.2.a")


@pytest.mark.control("P2.2.b")
def test_ensemble_improves_out_of_fold(bounds_verdict: Verdict) -> None:
    """The ensemble improves the held-out Brier by ≥ 5%, shown by the one-sided 95% lower bound (default rule)."""
    enforce(bounds_verdict, "P2.2.b")


@pytest.mark.control("P2.2.c")
def test_no_model_degrades(bounds_verdict: Verdict) -> None:
    """No model is shown worse (degradation allowed: 0%): every shipped map's one-sided lower bound of the
    held-out gain reaches 0 on the whole holdout, its newest block and each symbol with enough trades, with
    no significant decline over time; a model whose own gain is not shown keeps the identity, shown."""
    enforce(bounds_verdict, "P2.2.c")


@pytest.mark.control("P2.2.d")
def test_all_models_covered(bounds_verdict: Verdict) -> None:
    """One map for every model in the data and the ensemble: all or nothing, no hidden subset; a model that
    keeps the identity is named."""
    enforce(bounds_verdict, "P2.2.d")
