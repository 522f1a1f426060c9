"""S.d — a named operator is available for review and the 24 h watch."""

from __future__ import annotations

from datetime import datetime

import pytest

from calpolicy.plugin import enforce
from calpolicy.preflight.probes.operator import operator_finding
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Verdict

pytestmark = pytest.mark.preflight


@pytest.mark.control("S.d")
def test_operator_is_on_call(pytestconfig: pytest.Config, calpolicy_config: Config, wall_now: datetime) -> None:
    """S.d: ``--operator NAME --on-call-until ISO-8601`` at least ``operator.min_on_call_hours`` ahead."""
    finding = operator_finding(
        pytestconfig.getoption("--operator"),
        pytestconfig.getoption("--on-call-until"),
        wall_now,
        calpolicy_config.operator.min_on_call_hours,
    )
    enforce(Verdict((finding,)), "S.d")
