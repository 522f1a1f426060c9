"""S.e — the Risk-Safety side has not declared HALT (kill switch, governor, freeze, safe mode)."""

from __future__ import annotations

import pytest

from calpolicy.config import Config
from calpolicy.probes.redis_probe import halt_state
from policy_tests.live import with_redis

pytestmark = pytest.mark.preflight


@pytest.mark.control("S.e")
def test_no_halt_key_is_set(calpolicy_config: Config) -> None:
    """S.e: none of ``redis.halt_keys`` is set to a halting value; no halt keys at all is could-not-check."""
    keys = calpolicy_config.redis.halt_keys
    state = with_redis(calpolicy_config, "the halt keys (S.e)", lambda c: halt_state(c, keys))
    if state.halted:
        shown = ", ".join(f"{k} = {v!r}" for k, v in state.tripped.items())
        pytest.fail(f"S.e FAIL: the system reports HALT: {shown}", pytrace=False)
