"""S.f — SimpleCLM starvation: more than the configured hours without a trade."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from calpolicy.plugin import enforce
from calpolicy.preflight.probes.journal import read_journal
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Verdict
from policy_tests.live import probe

pytestmark = pytest.mark.preflight

STARVATION_MARKER = "STARVATION DETECTED"


@pytest.mark.control("S.f")
def test_no_starvation_in_the_log(data_verdict: Verdict) -> None:
    """S.f: the newest trade of the CLM log is within ``data.starvation_hours`` of now."""
    enforce(data_verdict, "S.f")


@pytest.mark.control("S.f")
def test_no_starvation_line_in_the_journal(calpolicy_config: Config, wall_now: datetime) -> None:
    """S.f: no ``[sCLM] 🚨 STARVATION DETECTED`` line from any service within the starvation window."""
    systemd = calpolicy_config.systemd
    since = wall_now - timedelta(hours=calpolicy_config.data.starvation_hours)
    entries = probe("the journals for STARVATION lines", lambda: read_journal(systemd.units, since, systemd))
    hits = [e for e in entries if STARVATION_MARKER in e.message]
    if hits:
        shown = "\n  ".join(e.shown() for e in hits[-5:])
        pytest.fail(
            f"S.f FAIL: {len(hits)} STARVATION line(s) in the journal in the last "
            f"{calpolicy_config.data.starvation_hours:g} h (newest last):\n  {shown}",
            pytrace=False,
        )
