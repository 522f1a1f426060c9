"""S.c — no calibration while the execution service has errors (journal and log files, last hour)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from calpolicy.preflight.probes.journal import error_entries, read_journal
from calpolicy.preflight.probes.logfiles import error_lines_since
from calpolicy.vocabulary.config import Config
from policy_tests.live import probe

pytestmark = pytest.mark.preflight


@pytest.mark.control("S.c")
def test_execution_has_no_errors(calpolicy_config: Config, wall_now: datetime) -> None:
    """S.c: its journal *and* its log files (it logs to a file, not the journal — REAL_SYSTEM.md §3)."""
    systemd = calpolicy_config.systemd
    since = wall_now - timedelta(minutes=systemd.execution_error_window_minutes)
    entries = probe("the execution journal", lambda: read_journal([systemd.execution_unit], since, systemd))
    shown = [e.shown() for e in error_entries(entries)]
    for path in systemd.execution_log_files:
        shown += [line.shown() for line in probe(f"log file {path}", lambda p=path: error_lines_since(p, since))]
    if shown:
        listed = "\n  ".join(shown[:20]) + (f"\n  … ({len(shown)} in all)" if len(shown) > 20 else "")
        pytest.fail(
            f"S.c FAIL: {len(shown)} ERROR/Traceback line(s) from {systemd.execution_unit} in the last "
            f"{systemd.execution_error_window_minutes:g} min:\n  {listed}",
            pytrace=False,
        )
