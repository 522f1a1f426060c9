"""S.b — no calibration in an extreme market (flash crash, halt, volume > 300 % of normal)."""

from __future__ import annotations

import pytest

from calpolicy.config import Config
from calpolicy.plugin import enforce
from calpolicy.probes.market import market_finding
from calpolicy.verdict import Verdict
from policy_tests.live import with_redis

pytestmark = pytest.mark.preflight


@pytest.mark.control("S.b")
def test_market_is_not_extreme(calpolicy_config: Config) -> None:
    """S.b: every configured symbol's volume ratio under the bound and no halt flag; no source = STOP."""
    finding = with_redis(
        calpolicy_config, "the market state (S.b)", lambda c: market_finding(c, calpolicy_config.market)
    )
    enforce(Verdict((finding,)), "S.b")
