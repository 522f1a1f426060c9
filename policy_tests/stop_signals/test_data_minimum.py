"""S.a — calibration must not run on less data than the cadence minimum."""

from __future__ import annotations

import pytest

from calpolicy.plugin import enforce
from calpolicy.vocabulary.verdict import Verdict

pytestmark = pytest.mark.preflight


@pytest.mark.control("S.a")
def test_data_meets_cadence_minimum(data_verdict: Verdict) -> None:
    """S.a: the data gate's own finding (trades, symbols and span against ``cadence.*``)."""
    enforce(data_verdict, "S.a")
