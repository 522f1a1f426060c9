"""S.b — no calibration in an extreme market (flash crash, halt, volume > 300 % of normal).

Judged on what the host publishes (``calpolicy.preflight.probes.market``): a volume field when there is one, else
volatility against its own recent normal and the recent price-move ratio, each against the 300 %; a
missing or stale market state is could-not-check.
"""

from __future__ import annotations

import pytest

from calpolicy.plugin import enforce
from calpolicy.preflight.probes.market import market_finding
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Verdict
from policy_tests.live import with_redis

pytestmark = pytest.mark.preflight


@pytest.mark.control("S.b")
def test_market_is_not_extreme(calpolicy_config: Config) -> None:
    """S.b: every symbol's volume (or, without one, volatility) within 300 % of normal, no halt; no source = STOP."""
    finding = with_redis(
        calpolicy_config, "the market state (S.b)", lambda c: market_finding(c, calpolicy_config.market)
    )
    enforce(Verdict((finding,)), "S.b")
