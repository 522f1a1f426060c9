"""Checklist 0.2 and the data stop signals, one test per item, on the configured CLM file.

Each test fails with the gate's own message and the offending line numbers, so the pytest report tells
the operator exactly which lines to look at. The extra CLM.* checks are the defects production has shown
(REAL_SYSTEM.md §1); any of them means the data would have to be cleaned by hand, which is a STOP.
"""

from __future__ import annotations

import pytest

from calpolicy.plugin import enforce
from calpolicy.verdict import Verdict

pytestmark = pytest.mark.preflight


@pytest.mark.control("P0.2.a")
def test_clm_file_exists(data_verdict: Verdict) -> None:
    enforce(data_verdict, "P0.2.a")


@pytest.mark.control("P0.2.b")
def test_enough_trades(data_verdict: Verdict) -> None:
    enforce(data_verdict, "P0.2.b")


@pytest.mark.control("P0.2.c")
def test_at_least_two_symbols(data_verdict: Verdict) -> None:
    enforce(data_verdict, "P0.2.c")


@pytest.mark.control("P0.2.d")
def test_wins_and_losses_present(data_verdict: Verdict) -> None:
    enforce(data_verdict, "P0.2.d")


@pytest.mark.control("P0.2.e")
def test_no_nan_null_or_zero_in_prices_and_pnl(data_verdict: Verdict) -> None:
    enforce(data_verdict, "P0.2.e")


@pytest.mark.control("S.a")
def test_data_meets_cadence_minimum(data_verdict: Verdict) -> None:
    enforce(data_verdict, "S.a")


@pytest.mark.control("S.f")
def test_no_starvation_in_log(data_verdict: Verdict) -> None:
    enforce(data_verdict, "S.f")


_EXTRA_CHECKS = (
    "CLM.parse",
    "CLM.schema",
    "CLM.confidence",
    "CLM.duplicates",
    "CLM.constant_confidence",
    "CLM.pnl_sign",
    "CLM.flat_price",
    "CLM.timestamps",
    "CLM.placeholders",
    "CLM.models",
)


@pytest.mark.parametrize(
    "check", [pytest.param(check, marks=pytest.mark.control(check), id=check) for check in _EXTRA_CHECKS]
)
def test_no_data_that_needs_cleaning_by_hand(data_verdict: Verdict, check: str) -> None:
    """Checklist 0.2: "if the data must be cleaned by hand → STOP"; each production defect on its own."""
    enforce(data_verdict, check)
