"""The gate's decisions at exactly their boundaries: latency, backlog and the P2.2 comparisons."""

from __future__ import annotations

import pytest

from calpolicy.vocabulary.decisions import (
    BAND_TOLERANCE,
    GroupBacklog,
    LatencyStats,
    backlog_finding,
    improves_enough,
    interval_above_zero,
    latency_finding,
    latency_value,
    not_worse,
    stats_of,
    within_band,
)

# Every statistic distinct, so choosing the wrong one shows.
STATS = LatencyStats(samples=100, min_ms=0.1, p50_ms=1.0, p99_ms=20.0, max_ms=50.0, p90_ms=5.0, p95_ms=10.0)


@pytest.mark.parametrize(
    ("statistic", "value"), [("max", 50.0), ("p99", 20.0), ("p95", 10.0), ("p90", 5.0), ("p50", 1.0)]
)
def test_latency_compares_the_configured_statistic(statistic: str, value: float) -> None:
    assert latency_value(STATS, statistic) == value


def test_an_unknown_latency_statistic_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown latency statistic 'min'"):
        latency_value(STATS, "min")


@pytest.mark.parametrize(
    ("statistic", "bound", "status"),
    [
        ("max", 50.0, "fail"),  # exactly at the bound: the checklist says "< 50 ms"
        ("max", 50.000001, "pass"),
        ("max", 49.999999, "fail"),
        ("p99", 20.0, "fail"),
        ("p99", 20.5, "pass"),
        ("p50", 1.0, "fail"),
        ("p50", 1.5, "pass"),  # the max (50) is far above, but p50 was chosen
    ],
)
def test_latency_finding_at_the_bound(statistic: str, bound: float, status: str) -> None:
    finding = latency_finding(STATS, statistic, bound)
    assert (finding.id, finding.status) == ("P0.1.f", status)
    assert finding.evidence["value_ms"] == latency_value(STATS, statistic)


def test_latency_bound_is_in_milliseconds_and_the_message_says_which_statistic() -> None:
    finding = latency_finding(STATS, "max", 50.0)
    assert finding.message.startswith(
        "Redis latency max 50.0 ms >= 50 ms over 100 PING(s), max 50.0 ms (samples 100, min_ms 0.1"
    )
    slow = LatencyStats(samples=3, min_ms=51.0, p50_ms=60.0, p99_ms=70.0, max_ms=80.0)
    assert latency_finding(slow, "p50", 50.0).status == "fail"
    assert latency_finding(slow, "p50", 0.06).status == "fail"  # a bound given in seconds would be wrong
    assert latency_finding(STATS, "p50", 50.0).message.startswith("Redis latency p50 1.0 ms < 50 ms")


def test_one_scheduling_spike_among_the_pings_does_not_turn_go_into_stop() -> None:
    """Issue 22 §1: p50 0.4 ms and one 52.1 ms spike among 25 PINGs is GO on the default p95, the spike shown."""
    from calpolicy.vocabulary.config import RedisConfig

    stats = stats_of([0.4] * 24 + [52.1])
    finding = latency_finding(stats, RedisConfig().latency_statistic, 50.0)
    assert finding.status == "pass"
    assert finding.message.startswith("Redis latency p95 0.4 ms < 50 ms over 25 PING(s), max 52.1 ms (")
    assert (finding.evidence["max_ms"], finding.evidence["samples"]) == (52.1, 25)


def test_a_slow_tail_is_still_a_stop() -> None:
    """Not looser where it matters: 2 slow PINGs in 25 (8 %) put p95 over the bound."""
    assert latency_finding(stats_of([0.4] * 23 + [52.1, 60.0]), "p95", 50.0).status == "fail"
    assert latency_finding(stats_of([51.0] * 100), "p95", 50.0).status == "fail"


def test_a_percentile_that_is_the_maximum_over_few_samples_is_judged_and_named_as_the_maximum() -> None:
    finding = latency_finding(stats_of([0.4] * 18 + [52.1]), "p95", 50.0)  # rank ceil(0.95 * 19) = 19 of 19
    assert finding.status == "fail"
    assert finding.evidence["statistic"] == "max"
    assert "with 19 sample(s) p95 is the maximum" in finding.message


def _group(pending: int, lag: int | None, name: str = "g") -> GroupBacklog:
    return GroupBacklog("quantum:stream:trade.closed", name, pending, lag)


@pytest.mark.parametrize(
    ("pending", "lag", "backlog"),
    [(3, 7, 7), (7, 3, 7), (5, None, 5), (0, 0, 0), (0, None, 0)],
)
def test_a_groups_backlog_is_the_larger_of_pending_and_lag(pending: int, lag: int | None, backlog: int) -> None:
    assert _group(pending, lag).backlog == backlog


@pytest.mark.parametrize(
    ("groups", "status"),
    [
        ([_group(10, 10)], "pass"),  # exactly at max_backlog is allowed ("above" fails)
        ([_group(11, 0)], "fail"),
        ([_group(0, 11)], "fail"),
        ([_group(0, 0, "a"), _group(0, 11, "b")], "fail"),  # one group behind is enough
        ([_group(0, 0, "a"), _group(10, 9, "b")], "pass"),
    ],
)
def test_backlog_finding_at_the_bound(groups: list[GroupBacklog], status: str) -> None:
    finding = backlog_finding(groups, 10)
    assert (finding.id, finding.status) == ("P0.1.f", status)


def test_backlog_message_names_only_the_groups_behind() -> None:
    finding = backlog_finding([_group(1, 2, "calm"), _group(3, 40, "late")], 10)
    assert finding.message == (
        "Redis backlog above 10 (redis.max_backlog): quantum:stream:trade.closed group late: pending 3, lag 40"
    )
    assert [g["group"] for g in finding.evidence["groups"]] == ["calm", "late"]
    assert backlog_finding([_group(1, 2)], 10).message == "1 consumer group(s), none with a backlog above 10"


@pytest.mark.parametrize(
    ("change", "band", "ok"),
    [
        (0.15, 0.15, True),
        (0.15 + BAND_TOLERANCE, 0.15, True),  # clipping noise
        (0.15 + 10 * BAND_TOLERANCE, 0.15, False),
        (0.1500001, 0.15, False),
        (0.0, 0.15, True),
    ],
)
def test_within_band_at_the_band(change: float, band: float, ok: bool) -> None:
    assert within_band(change, band) is ok


@pytest.mark.parametrize(
    ("improvement", "minimum", "ok"),
    [(0.05, 0.05, True), (0.0499999, 0.05, False), (0.0500001, 0.05, True), (0.0, 0.0, True), (-0.01, 0.0, False)],
)
def test_improves_enough_at_the_minimum(improvement: float, minimum: float, ok: bool) -> None:
    assert improves_enough(improvement, minimum) is ok


@pytest.mark.parametrize(("lower", "ok"), [(0.0, False), (-0.0, False), (1e-12, True), (-1e-12, False)])
def test_interval_must_lie_strictly_above_zero(lower: float, ok: bool) -> None:
    assert interval_above_zero(lower) is ok


@pytest.mark.parametrize(
    ("before", "after", "allowed", "ok"),
    [
        (0.20, 0.20, 0.0, True),  # not worse is fine
        (0.20, 0.2000001, 0.0, False),
        (0.20, 0.19, 0.0, True),
        (0.20, 0.21, 0.05, True),  # exactly 5% worse with 5% allowed
        (0.20, 0.2101, 0.05, False),
    ],
)
def test_not_worse_at_the_allowed_degradation(before: float, after: float, allowed: float, ok: bool) -> None:
    assert not_worse(before, after, allowed) is ok


def test_latency_evidence_names_statistic_value_bound_and_every_figure() -> None:
    assert latency_finding(STATS, "p99", 25.0).evidence == {
        "statistic": "p99", "configured_statistic": "p99", "value_ms": 20.0, "max_latency_ms": 25.0,
        "samples": 100, "min_ms": 0.1, "p50_ms": 1.0, "p90_ms": 5.0, "p95_ms": 10.0, "p99_ms": 20.0, "max_ms": 50.0,
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"^unknown latency statistic 'p80'; expected one of max, p99, p95, p90, p50$"):
        latency_value(STATS, "p80")


def test_backlog_evidence_lists_every_group_checked_pass_or_fail() -> None:
    groups = [_group(1, None, "calm"), _group(30, 40, "late"), _group(50, 0, "stuck")]
    expected = {
        "max_backlog": 10,
        "groups": [
            {"stream": "quantum:stream:trade.closed", "group": "calm", "pending": 1, "lag": None},
            {"stream": "quantum:stream:trade.closed", "group": "late", "pending": 30, "lag": 40},
            {"stream": "quantum:stream:trade.closed", "group": "stuck", "pending": 50, "lag": 0},
        ],
    }
    failing = backlog_finding(groups, 10)
    assert failing.evidence == expected
    assert failing.message.endswith(
        "group late: pending 30, lag 40; quantum:stream:trade.closed group stuck: pending 50, lag 0"
    )
    assert backlog_finding(groups, 100).evidence == {**expected, "max_backlog": 100}
