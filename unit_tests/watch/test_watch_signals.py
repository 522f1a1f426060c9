"""The signals as sequential tests: harm crosses, improvement never does, too little data holds, OK only at
the end of the window; the journal's decision lines; the gate's duplicate rule; the stateless looks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from calpolicy.preflight.probes.journal import JournalEntry
from calpolicy.vocabulary.config import Config
from calpolicy.watch import Decision, judge, looks_at, parse_decisions, pnl_drift, win_rate_delta

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WATCH = Config().watch
END = T0 + timedelta(hours=WATCH.hours)


def entry(seconds: float, message: str) -> JournalEntry:
    return JournalEntry(T0 + timedelta(seconds=seconds), "quantum-ai-engine.service", message)


# --------------------------------------------------------------------------------------------- journal


def test_both_confidence_forms_parse_to_the_same_fraction() -> None:
    decisions = parse_decisions(
        [
            entry(0, "[AI-ENGINE] ✅ Action confirmed: SELL (confidence=0.72)"),
            entry(10, "[AI-ENGINE] ✅ Action confirmed: BUY (confidence=68.10%)"),
        ]
    )
    assert [(d.action, d.confidence) for d in decisions] == [("SELL", 0.72), ("BUY", pytest.approx(0.681))]


def test_a_decision_logged_several_times_counts_once() -> None:
    line = "[AI-ENGINE] ✅ Action confirmed: SELL (confidence=0.72)"
    wrapped = json.dumps({"ts": "2026-11-20T12:00:00Z", "level": "INFO", "service": "ai_engine", "msg": line})
    hold = "[AI-ENGINE] ⚠️ No actionable signal for BTCUSDT"
    decisions = parse_decisions(
        [entry(0, line), entry(0.1, wrapped), entry(0.2, line), entry(1, hold), entry(1.1, hold), entry(60, line)]
    )
    assert [d.action for d in decisions] == ["SELL", "HOLD", "SELL"]


def test_lines_that_are_not_decisions_are_ignored() -> None:
    noise = [
        entry(0, "[AI-ENGINE] 🎯 Ensemble returned: action='BUY' (type=<class 'str'>), confidence=0.7234"),
        entry(1, "[AI-ENGINE] 🔍 Action check: repr='HOLD', equals_HOLD=True, fallback=False"),
        entry(2, "[PHASE 3C] 📊 Confidence calibrated for BTCUSDT: 72.34% → 68.10% (factor: 0.941)"),
        entry(3, "[LGBM-Agent] [ERROR] 2026-03-11 03:18:56 | Model load error: boom"),
    ]
    assert parse_decisions(noise) == []


def test_the_same_text_twice_with_another_decision_between_is_two_decisions() -> None:
    sell = "[AI-ENGINE] ✅ Action confirmed: SELL (confidence=0.72)"
    hold = "[AI-ENGINE] ⚠️ No actionable signal for ETHUSDT"
    decisions = parse_decisions([entry(0, sell), entry(0.1, hold), entry(0.2, sell)])
    assert [d.action for d in decisions] == ["SELL", "HOLD", "SELL"]


# --------------------------------------------------------------------------------------------- looks


def test_the_look_index_comes_from_the_elapsed_time_alone() -> None:
    assert looks_at(T0, T0 + timedelta(minutes=14, seconds=59), 24.0, 96).count == 0
    assert looks_at(T0, T0 + timedelta(minutes=15), 24.0, 96).count == 1
    assert looks_at(T0, T0 + timedelta(hours=7, minutes=40), 24.0, 96).count == 30
    day = looks_at(T0, T0 + timedelta(hours=30), 24.0, 96)
    assert day.count == 96
    assert day.complete
    assert looks_at(T0, T0 - timedelta(hours=1), 24.0, 96).count == 0


# --------------------------------------------------------------------------------------------- trade signals


def a_day(
    post_win: float, rate: float = 10.0, seed: int = 7, base_win: float = 0.5, base_rate: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Trade times (datetime64) and PnL: 24 h before approval at ``base_win``, 24 h after at ``post_win``."""
    rng = np.random.default_rng(seed)
    times, pnl = [], []
    for start, win, per_hour in ((T0 - timedelta(hours=24), base_win, base_rate), (T0, post_win, rate)):
        n = int(per_hour * 24)
        seconds = np.sort(rng.uniform(0, 24 * 3600, n))
        times.append(np.datetime64(start.replace(tzinfo=None), "us") + (seconds * 1e6).astype("timedelta64[us]"))
        size = rng.uniform(0.2, 1.5, n)
        pnl.append(np.where(rng.random(n) < win, size, -size))
    return np.concatenate(times), np.concatenate(pnl)


def steady_decisions(hold_share: float = 0.2, confidence: float = 0.7, per_hour: int = 30) -> list[Decision]:
    """Decisions every 2 minutes for 24 h before and after approval, every fifth a HOLD."""
    step = 3600 / per_hour
    every = round(1 / hold_share)
    return [
        Decision(T0 + timedelta(seconds=i * step), "HOLD" if i % every == 0 else "BUY", confidence, str(i))
        for i in range(-24 * per_hour, 24 * per_hour)
    ]


def judged(times, pnl, now, decisions=None, **kwargs):  # type: ignore[no-untyped-def]
    """``judge`` on a day; without confidences every trade's is 0.5 with no map: calibrated at 50 % wins."""
    kwargs.setdefault("confidence", np.full(len(pnl), 0.5))
    return judge(
        times=times,
        pnl=pnl,
        decisions=steady_decisions() if decisions is None else decisions,
        approved_at=T0,
        now=now,
        version="cal_x",
        watch_config=WATCH,
        **kwargs,
    )


def statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s.id: s.status for s in report.signals}


def test_a_steady_day_is_inconclusive_until_the_window_completes_then_ok() -> None:
    times, pnl = a_day(post_win=0.5)
    midday = judged(times, pnl, T0 + timedelta(hours=12))
    assert midday.verdict == "INCONCLUSIVE"
    assert midday.exit_code == 4
    assert "no harm so far at look 48 of 96" in next(s for s in midday.signals if s.id == "P4.2.b").message
    done = judged(times, pnl, END)
    assert done.verdict == "OK", [s.message for s in done.signals]
    assert done.exit_code == 0
    win = next(s for s in done.signals if s.id == "P4.2.b")
    assert "would have detected" in win.message
    assert 0.05 < win.evidence["tests"]["drop"]["detectable_effect"] < 0.25  # a 5-point drop is below it


def test_a_20_point_drop_recommends_rollback_and_says_at_which_look() -> None:
    times, pnl = a_day(post_win=0.30)
    report = judged(times, pnl, END)
    assert report.verdict == "ROLLBACK RECOMMENDED"
    assert report.exit_code == 1
    win = next(s for s in report.signals if s.id == "P4.2.b")
    assert win.status == "breach"
    assert "BREACH at look" in win.message
    assert "boundary" in win.message


def test_a_better_win_rate_never_recommends_rollback() -> None:
    times, pnl = a_day(post_win=0.80)
    for hours in (2, 6, 12, 24):
        report = judged(times, pnl, T0 + timedelta(hours=hours))
        assert statuses(report)["P4.2.a"] != "breach"
        assert statuses(report)["P4.2.b"] != "breach"


def test_too_few_post_apply_trades_is_inconclusive_never_ok() -> None:
    times, pnl = a_day(post_win=0.5, rate=0.5)  # 12 post-apply trades in the whole day
    report = judged(times, pnl, END)
    assert statuses(report)["P4.2.a"] == "inconclusive"
    assert statuses(report)["P4.2.b"] == "inconclusive"
    assert "12 post-apply trades, need 20" in next(s for s in report.signals if s.id == "P4.2.b").message
    assert report.verdict == "INCONCLUSIVE"


def test_a_rollback_found_at_one_look_is_found_at_every_later_look() -> None:
    """Harm in the first 6 h, then a recovery strong enough to bring the cumulative rate back."""
    times, pnl = a_day(post_win=0.5)
    post = times >= np.datetime64(T0.replace(tzinfo=None), "us")
    hours = (times - np.datetime64(T0.replace(tzinfo=None), "us")) / np.timedelta64(1, "h")
    pnl = np.where(post & (hours < 6), -np.abs(pnl), np.where(post, np.abs(pnl), pnl))  # lose all, then win all
    first = None
    for k in range(1, 97):
        report = judged(times, pnl, T0 + timedelta(minutes=15 * k))
        if first is None and report.verdict == "ROLLBACK RECOMMENDED":
            first = k
        if first is not None:
            assert report.verdict == "ROLLBACK RECOMMENDED", k
    assert first is not None
    assert first <= 24
    final = judged(times, pnl, END)
    assert next(s for s in final.signals if s.id == "P4.2.b").evidence["post_win_rate"] > 0.5  # recovered


def test_the_standard_error_counts_the_baselines_own_error() -> None:
    times, pnl = a_day(post_win=0.5, rate=10.0)
    report = judged(times, pnl, END)
    win = next(s for s in report.signals if s.id == "P4.2.b")
    n_b, n_p = win.evidence["n_baseline"], win.n
    p = win.evidence["baseline_win_rate"]
    assert win.evidence["standard_error"] == pytest.approx(np.sqrt(p * (1 - p) * (1 / n_b + 1 / n_p)), rel=0.02)
    assert win.evidence["standard_error"] > np.sqrt(p * (1 - p) / n_p) * 1.3  # not the one-sample error


def test_the_checklist_threshold_stays_binding_as_the_effect_size() -> None:
    """With a huge baseline and day a 3-point drop is significant, yet it is not the checklist's 5 points."""
    looks = looks_at(T0, END, 24.0, 96)
    rng = np.random.default_rng(3)
    baseline = np.where(rng.random(200_000) < 0.5, 1.0, -1.0)
    post = np.where(rng.random(96_000) < 0.47, 1.0, -1.0)
    counts = np.arange(1, 97) * 1000
    signal = win_rate_delta(baseline, post, counts, looks, 0.05, 0.0125, 50, 20)
    assert signal.evidence["tests"]["drop"]["z_now"] > 5  # clearly significant
    assert signal.status == "ok"
    worse = np.where(rng.random(96_000) < 0.44, 1.0, -1.0)
    assert win_rate_delta(baseline, worse, counts, looks, 0.05, 0.0125, 50, 20).status == "breach"


def test_pnl_drift_needs_a_baseline_with_spread_and_enough_trades() -> None:
    looks = looks_at(T0, END, 24.0, 96)
    counts = np.full(96, 30)
    assert pnl_drift(np.zeros(100), np.zeros(30), counts, looks, 0.1, 0.0125, 50, 20).status == "inconclusive"
    assert pnl_drift(np.linspace(-1, 1, 49), np.zeros(30), counts, looks, 0.1, 0.0125, 50, 20).status == "inconclusive"


# --------------------------------------------------------------------------------------------- P4.2.c


def test_hold_rate_up_by_far_more_than_half_recommends_rollback() -> None:
    times, pnl = a_day(post_win=0.5)
    before = [d for d in steady_decisions(0.2) if d.when < T0]
    after = [d for d in steady_decisions(0.5) if d.when >= T0]
    report = judged(times, pnl, END, decisions=before + after)
    hold = next(s for s in report.signals if s.id == "P4.2.c")
    assert hold.status == "breach", hold.message


def test_fewer_holds_never_recommend_rollback() -> None:
    times, pnl = a_day(post_win=0.5)
    before = [d for d in steady_decisions(0.5) if d.when < T0]
    after = [d for d in steady_decisions(0.1) if d.when >= T0]
    report = judged(times, pnl, END, decisions=before + after)
    assert statuses(report)["P4.2.c"] == "ok"


def test_the_hold_baseline_is_the_journal_span_actually_read() -> None:
    """A journal that starts 6 h before approval: its 6 h of HOLDs are 6 h, not 24 h, of baseline."""
    times, pnl = a_day(post_win=0.5)
    decisions = [d for d in steady_decisions() if d.when >= T0 - timedelta(hours=6)]
    report = judged(times, pnl, END, decisions=decisions, journal_start=T0 - timedelta(hours=6))
    hold = next(s for s in report.signals if s.id == "P4.2.c")
    assert hold.evidence["baseline_hours"] == pytest.approx(6.0)
    assert hold.evidence["increase_per_hour"] == pytest.approx(0.0, abs=0.02)
    assert hold.status == "ok"
    unaware = judged(times, pnl, END, decisions=decisions)  # divided by 24 h: the rate looks 4x lower
    assert next(s for s in unaware.signals if s.id == "P4.2.c").status == "breach"


# --------------------------------------------------------------------------------------------- P4.2.d


def test_confidences_beyond_the_range_breach_and_inside_are_ok() -> None:
    times, pnl = a_day(post_win=0.5)
    inside = judged(times, pnl, END, decisions=steady_decisions(confidence=0.9))
    assert statuses(inside)["P4.2.d"] == "ok"
    before = [d for d in steady_decisions() if d.when < T0]
    hot = [d for d in steady_decisions(confidence=0.97) if d.when >= T0]
    report = judged(times, pnl, T0 + timedelta(hours=2), decisions=before + hot)
    assert statuses(report)["P4.2.d"] == "breach"
    assert "above 0.95" in next(s for s in report.signals if s.id == "P4.2.d").message


# --------------------------------------------------------------------------------------------- calibration


def calibrated_day(shift: float, rate: float = 10.0, seed: int = 11) -> dict:
    """Trades whose raw confidence the map turns into p = c − 0.10, winning with probability p."""
    rng = np.random.default_rng(seed)
    times, pnl, conf = [], [], []
    for start in (T0 - timedelta(hours=24), T0):
        n = int(rate * 24)
        seconds = np.sort(rng.uniform(0, 24 * 3600, n))
        times.append(np.datetime64(start.replace(tzinfo=None), "us") + (seconds * 1e6).astype("timedelta64[us]"))
        c = rng.uniform(0.45, 0.75, n)
        pnl.append(np.where(rng.random(n) < c - 0.10, 1.0, -1.0))
        conf.append(c)
    mapping = {"0.0": 0.0 + shift, "0.45": 0.35 + shift, "0.75": 0.65 + shift, "1.0": 1.0}
    return {
        "times": np.concatenate(times),
        "pnl": np.concatenate(pnl),
        "confidence": np.concatenate(conf),
        "mapping": mapping,
        "predicted_brier": 0.24,
    }


def test_a_map_that_overstates_its_trades_by_012_is_told_from_no_change() -> None:
    same = calibrated_day(0.0)
    report = judged(same.pop("times"), same.pop("pnl"), END, **same)
    cal = next(s for s in report.signals if s.id == "P4.2.cal")
    assert cal.status == "ok", cal.message
    assert cal.evidence["brier_predicted"] == 0.24
    assert cal.evidence["brier_post"] is not None
    worse = calibrated_day(0.12)
    report = judged(worse.pop("times"), worse.pop("pnl"), END, **worse)
    cal = next(s for s in report.signals if s.id == "P4.2.cal")
    assert cal.status == "breach", cal.message
    assert statuses(report)["P4.2.b"] != "breach"  # the outcomes did not change: only calibration did


def test_a_map_that_understates_is_not_a_rollback_it_looks_like_a_better_win_rate() -> None:
    under = calibrated_day(-0.12)
    report = judged(under.pop("times"), under.pop("pnl"), END, **under)
    assert statuses(report)["P4.2.cal"] == "ok"


# --------------------------------------------------------------------------------------------- the applied file


@pytest.mark.parametrize(
    ("block", "said"),
    [
        ({"enabled": True}, "has no mapping"),
        ({"enabled": True, "mapping": {"0.5": "x"}}, "is not numbers"),
        ({"enabled": True, "mapping": {"0.5": 1.7}}, "outside [0, 1]"),
        ({"enabled": True, "mapping": {"0.5": float("nan")}}, "outside [0, 1]"),
    ],
)
def test_an_enabled_map_the_watch_cannot_read_is_could_not_check(tmp_path, block: dict, said: str) -> None:  # type: ignore[no-untyped-def]
    from calpolicy.watch import WatchError, read_applied

    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"version": "v", "approved_at": T0.isoformat(), "confidence_calibration": block}))
    with pytest.raises(WatchError, match=said.replace("[", r"\[").replace("]", r"\]")):
        read_applied(path)


def test_a_disabled_map_applies_none_and_a_non_finite_prediction_is_not_shown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from calpolicy.watch import read_applied

    path = tmp_path / "calibration.json"
    block = {"enabled": False, "mapping": {"0.5": 0.2}, "mse_after": 0.2}
    path.write_text(json.dumps({"version": "v", "approved_at": T0.isoformat(), "confidence_calibration": block}))
    assert read_applied(path).mapping is None
    path.write_text(
        '{"version": "v", "approved_at": "2026-11-20T12:00:00+00:00", "confidence_calibration": '
        '{"enabled": true, "mapping": {"0.0": 0.0, "1.0": 1.0}, "mse_after": NaN}}'
    )
    applied = read_applied(path)
    assert applied.mapping == {"0.0": 0.0, "1.0": 1.0}
    assert applied.predicted_brier is None
