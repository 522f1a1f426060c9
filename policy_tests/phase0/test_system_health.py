"""Checklist 0.1 — system health: the four services ACTIVE, a quiet AI-engine journal, a calm bus."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from calpolicy.plugin import CouldNotCheck, enforce
from calpolicy.preflight.probes.journal import error_entries, evidence_lines, read_journal
from calpolicy.preflight.probes.redis.backlog import stream_backlogs
from calpolicy.preflight.probes.redis.latency import LatencySampler, measure_latency
from calpolicy.preflight.probes.systemd import UnitState, unit_finding
from calpolicy.vocabulary.config import Config, load_config
from calpolicy.vocabulary.decisions import backlog_finding, latency_finding
from calpolicy.vocabulary.verdict import Verdict
from policy_tests.live import probe, with_redis

pytestmark = pytest.mark.preflight

# (checklist unit name, control ID), in checklist order; systemd.units may rename the units, not the items
UNIT_SLOTS = (
    ("quantum-ai-engine", "P0.1.a"),
    ("quantum-execution", "P0.1.b"),
    ("quantum-learning-monitor", "P0.1.c"),
    ("quantum-learning-api", "P0.1.d"),
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per unit, named after the unit the config actually checks (checklist names by default)."""
    if "unit_slot" not in metafunc.fixturenames:
        return
    try:
        units = load_config(metafunc.config.getoption("--calpolicy-config")).systemd.units
    except Exception:  # a broken config is reported by every test through calpolicy_config
        units = tuple(name for name, _ in UNIT_SLOTS)
    params = []
    for index, (default_name, control_id) in enumerate(UNIT_SLOTS):
        name = units[index] if index < len(units) else default_name
        params.append(pytest.param(index, marks=pytest.mark.control(control_id), id=name))
    metafunc.parametrize("unit_slot", params)


def test_unit_is_active(unit_slot: int, unit_states: dict[str, UnitState], calpolicy_config: Config) -> None:
    """P0.1.a-d: ``systemctl show`` says loaded + active; not-found, inactive, failed, activating all STOP."""
    units = calpolicy_config.systemd.units
    control_id = UNIT_SLOTS[unit_slot][1]
    if unit_slot >= len(units):
        raise CouldNotCheck(f"{control_id}: systemd.units lists only {len(units)} unit(s); this item has none")
    unit = units[unit_slot]
    enforce(Verdict((unit_finding(control_id, unit, unit_states[unit]),)), control_id)


@pytest.mark.control("P0.1.e")
def test_ai_engine_journal_has_no_errors(calpolicy_config: Config, wall_now: datetime) -> None:
    """P0.1.e: no ERROR/Traceback line (JSON or plain) in the AI engine's journal window; shows them all."""
    systemd = calpolicy_config.systemd
    since = wall_now - timedelta(minutes=systemd.journal_window_minutes)
    entries = probe("the AI engine journal", lambda: read_journal([systemd.ai_engine_unit], since, systemd))
    errors = error_entries(entries)
    if errors:
        shown = "\n  ".join(evidence_lines(errors)["entries"])
        pytest.fail(
            f"P0.1.e FAIL: {len(errors)} ERROR/Traceback line(s) in {systemd.ai_engine_unit}'s journal "
            f"in the last {systemd.journal_window_minutes:g} min "
            f"(since {since.isoformat(timespec='seconds')}):\n  {shown}",
            pytrace=False,
        )


@pytest.mark.control("P0.1.f")
def test_redis_latency(calpolicy_config: Config, latency_sampler: LatencySampler | None) -> None:
    """P0.1.f: timed PINGs as ``redis-cli --latency`` does; the configured statistic stays under the bound.

    The sampling normally started in a child at collection time (see conftest) and is only collected here.
    """
    settings = calpolicy_config.redis
    if latency_sampler is not None:
        stats = probe("Redis latency", latency_sampler.result)
    else:
        stats = with_redis(
            calpolicy_config,
            "Redis latency",
            lambda c: measure_latency(c, settings.latency_samples, settings.latency_duration_s),
            extra_s=settings.latency_duration_s,
        )
    enforce(Verdict((latency_finding(stats, settings.latency_statistic, settings.max_latency_ms),)), "P0.1.f")


@pytest.mark.control("P0.1.f")
def test_redis_no_backlog(calpolicy_config: Config) -> None:
    """P0.1.f: pending entries and lag of every consumer group on the configured streams under the bound."""
    settings = calpolicy_config.redis
    groups = with_redis(
        calpolicy_config,
        "the Redis stream backlog",
        lambda c: stream_backlogs(c, settings.backlog_streams, settings.max_backlog),
    )
    enforce(Verdict((backlog_finding(groups, settings.max_backlog),)), "P0.1.f")
