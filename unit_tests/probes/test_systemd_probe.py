"""Unit states and journals from a real systemd booted in a private namespace (SYSTEMD_IN_TESTS.md)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calpolicy.localenv.systemd_ns import SystemdNamespace, wait_journal
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.journal import error_entries, read_journal
from calpolicy.preflight.probes.systemd import query_units, unit_finding
from calpolicy.vocabulary.config import SystemdConfig

UNIT = "quantum-ai-engine"


def _state(ns: SystemdNamespace, unit: str = UNIT) -> str:
    config = SystemdConfig(command_prefix=ns.prefix)
    finding = unit_finding("P0.1.a", unit, query_units([unit], config)[unit])
    return f"{finding.status}: {finding.message}"


def test_an_active_unit_passes(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.start_healthy(UNIT)
    assert _state(systemd_ns) == f"pass: {UNIT} is active (running)"


def test_a_stopped_unit_is_inactive(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.start_installed(UNIT, ["/bin/sleep", "600"])
    assert _state(systemd_ns).startswith("pass")
    systemd_ns.stop_unit(UNIT)
    assert _state(systemd_ns).startswith(f"fail: {UNIT} is not ACTIVE: it is INACTIVE")


def test_a_failed_unit_fails_naming_the_state(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.start_failing(UNIT)
    assert _state(systemd_ns) == (
        f"fail: {UNIT} is not ACTIVE: it is FAILED (LoadState=loaded, ActiveState=failed, SubState=failed)"
    )


def test_a_missing_unit_is_not_found(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.remove_unit(UNIT)
    assert _state(systemd_ns) == f"fail: {UNIT} is not ACTIVE: it does not exist on this host (LoadState=not-found)"


def test_a_restarting_unit_is_activating(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.start_restarting(UNIT)
    assert _state(systemd_ns).startswith(f"fail: {UNIT} is not ACTIVE: it is still starting or restarting")


def test_all_units_in_one_call_keep_their_own_state(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.start_healthy("quantum-ai-engine")
    systemd_ns.start_failing("quantum-execution")
    systemd_ns.remove_unit("quantum-learning-monitor")
    units = ["quantum-ai-engine", "quantum-execution", "quantum-learning-monitor"]
    states = query_units(units, SystemdConfig(command_prefix=systemd_ns.prefix))
    assert [states[u].active_state for u in units] == ["active", "failed", "inactive"]
    assert states["quantum-learning-monitor"].load_state == "not-found"


def test_no_systemctl_is_a_probe_error() -> None:
    with pytest.raises(ProbeError, match="not installed or not on PATH"):
        query_units([UNIT], SystemdConfig(command_prefix=("/nonexistent/nsenter",)))


def test_a_host_without_systemd_is_a_probe_error() -> None:
    """systemctl with an empty /run (as on a host or container without systemd as PID 1) cannot answer."""
    no_systemd = ("unshare", "-m", "/bin/sh", "-c", 'mount -t tmpfs tmpfs /run && exec "$0" "$@"')
    with pytest.raises(ProbeError, match=r"systemd is not reachable, unit states are unknown"):
        query_units([UNIT], SystemdConfig(command_prefix=no_systemd))


def test_journal_errors_inside_the_window_plain_and_json(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.remove_unit(UNIT)
    systemd_ns.clear_journal()
    lines = [
        "[LGBM-Agent] [ERROR] 2026-03-11 03:18:56 | Model load error: missing file",
        json.dumps({"ts": "2026-03-11T03:18:57Z", "level": "ERROR", "service": "ai_engine", "msg": "boom"}),
        json.dumps({"ts": "2026-03-11T03:18:58Z", "level": "INFO", "service": "ai_engine", "msg": "ok"}),
        "Traceback (most recent call last):",
        "INFO all good",
    ]
    since = datetime.now(UTC) - timedelta(seconds=2)
    systemd_ns.log_to_journal(UNIT, lines)
    wait_journal(systemd_ns, UNIT, len(lines))
    entries = read_journal([UNIT], since, SystemdConfig(command_prefix=systemd_ns.prefix))
    found = [e.message for e in error_entries(entries)]
    assert found == [lines[0], lines[1], lines[3]]
    assert all(e.when >= since for e in entries)


def test_journal_lines_before_the_window_are_not_reported(systemd_ns: SystemdNamespace) -> None:
    systemd_ns.remove_unit(UNIT)
    systemd_ns.clear_journal()
    systemd_ns.log_to_journal(UNIT, ["[X] [ERROR] old failure"])
    wait_journal(systemd_ns, UNIT, 1)
    time.sleep(1.2)
    since = datetime.now(UTC)
    config = SystemdConfig(command_prefix=systemd_ns.prefix)
    assert read_journal([UNIT], since, config) == []
    assert len(error_entries(read_journal([UNIT], since - timedelta(minutes=1), config))) == 1


def test_a_unit_that_never_logged_beside_a_live_journal_is_named_as_such(systemd_ns: SystemdNamespace) -> None:
    """journald has files here, just none for this unit: could not check, and the message says which case."""
    systemd_ns.log_to_journal(UNIT, ["INFO the journal has files"])
    wait_journal(systemd_ns, UNIT, 1)
    never = "quantum-never-logged"
    with pytest.raises(ProbeError) as caught:
        read_journal([never], datetime.now(UTC) - timedelta(minutes=5), SystemdConfig(command_prefix=systemd_ns.prefix))
    message = str(caught.value)
    assert f"the journal shows no entry at all, ever, for {never}" in message
    assert "the journal files visible here take up" in message
    assert f"none of them holds an entry for {never}" in message


def test_no_journal_files_at_all_is_named_as_such(tmp_path: Path) -> None:
    """A real journalctl pointed at an empty journal folder, as on a host whose journald keeps no files."""
    empty = tmp_path / "journal"
    empty.mkdir()
    prefix = ("/bin/sh", "-c", f'exec "$0" "$@" --directory={empty}')
    with pytest.raises(ProbeError) as caught:
        read_journal([UNIT], datetime.now(UTC) - timedelta(minutes=5), SystemdConfig(command_prefix=prefix))
    message = str(caught.value)
    assert f"the journal shows no entry at all, ever, for {UNIT}" in message
    assert "no journal files are visible from here" in message
    assert "an empty window proves nothing" in message
