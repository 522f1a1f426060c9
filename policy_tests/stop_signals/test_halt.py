"""S.e — the Risk-Safety side has not declared HALT (kill switch, governor, freeze, safe mode).

Halt values are read as the host means them (REAL_SYSTEM.md §4): ``true``/``1``/``yes``/``on`` halt,
``false``/``0``/``no``/``off``/empty do not, in any case; a value that is neither is could-not-check,
quoting what was read.
"""

from __future__ import annotations

import pytest

from calpolicy.preflight.probes.redis.halt import halt_state
from calpolicy.vocabulary.config import Config
from policy_tests.live import with_redis

pytestmark = pytest.mark.preflight


@pytest.mark.control("S.e")
def test_no_halt_key_is_set(calpolicy_config: Config) -> None:
    """S.e: no ``redis.halt_keys`` key holds a halting value; no keys, or an unreadable value, is could-not-check."""
    settings = calpolicy_config.redis
    state = with_redis(
        calpolicy_config,
        "the halt keys (S.e)",
        lambda c: halt_state(c, settings.halt_keys, settings.halt_true_values, settings.halt_false_values),
    )
    if state.halted:
        shown = ", ".join(f"{k} = {v!r}" for k, v in state.tripped.items())
        also = (
            "; also unreadable: " + ", ".join(f"{k} = {v[:80]!r}" for k, v in state.unreadable.items())
            if state.unreadable
            else ""
        )
        pytest.fail(f"S.e FAIL: the system reports HALT: {shown}{also}", pytrace=False)
