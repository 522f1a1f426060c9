"""Checklist 0.2 and the data stop signals, one test per item, on the configured CLM file.

Each test fails with the gate's own message and the offending line numbers, so the pytest report tells
the operator exactly which lines to look at. The extra CLM.* checks are the defects production has shown
(REAL_SYSTEM.md §1); any of them means the data would have to be cleaned by hand, which is a STOP.

The items come from the registry (``calpolicy.vocabulary.controls``, producer ``clm.check_data``), not from a list
here: "P0.2.a", "P0.2.b", "P0.2.c", "P0.2.d", "P0.2.e", "S.a", "S.f" and every "CLM.*" check, each one
parametrized test.
"""

from __future__ import annotations

import pytest

from calpolicy.plugin import enforce
from calpolicy.vocabulary.controls import DATA, registered
from calpolicy.vocabulary.verdict import Verdict

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize(
    "control_id",
    [pytest.param(cid, marks=pytest.mark.control(cid), id=cid) for cid in registered(producer=DATA)],
)
def test_data_item(data_verdict: Verdict, control_id: str) -> None:
    """One test per item the registry assigns to the data gate (checklist 0.2, S.a, S.f and the CLM.* checks).

    The list comes from ``calpolicy.vocabulary.controls``, never from a copy here: an item dropped from a hand-kept
    tuple would stop being enforced without anyone noticing. For the CLM.* items, checklist 0.2 says "if
    the data must be cleaned by hand → STOP"; each production defect is reported on its own.
    """
    enforce(data_verdict, control_id)
