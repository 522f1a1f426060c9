"""The watch counts each trade once, by the data gate's own duplicate rule (issue 20, point 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from calpolicy.clm import check_data, read_clm
from calpolicy.localenv.defects import write_records
from calpolicy.localenv.watch_data import trades_around
from calpolicy.vocabulary.config import Config
from calpolicy.watch import judge, trades_from_frame

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def doubled(records: list[dict], every: int = 1) -> list[dict]:
    """Every ``every``-th record delivered twice, the second copy 40 ms later (the real log's defect)."""
    out = []
    for i, record in enumerate(records):
        out.append(record)
        if i % every == 0:
            again = dict(record)
            again["timestamp"] = (datetime.fromisoformat(record["timestamp"]) + timedelta(milliseconds=40)).isoformat()
            out.append(again)
    return out


def test_the_watch_drops_exactly_the_records_the_data_gate_calls_duplicates(tmp_path: Path) -> None:
    config = Config()
    records = doubled(trades_around(T0, baseline=60, post=30), every=3)
    log = read_clm(write_records(tmp_path / "clm.jsonl", records))
    finding = next(f for f in check_data(log, config).findings if f.id == "CLM.duplicates")
    trades, unusable = trades_from_frame(log.frame, log.models, config.data.duplicate_window_ms)
    assert unusable == 0
    assert finding.evidence["count"] == len(trades.duplicates) == 30
    assert len(trades.pnl) == 90  # each trade once


def test_a_window_of_repeats_is_inconclusive_not_more_evidence(tmp_path: Path) -> None:
    """15 post-apply trades each logged twice: 30 lines, but 15 trades are too few (20 needed)."""
    config = Config()
    records = trades_around(T0, baseline=120, post=15, post_span=timedelta(hours=2))
    records = records[:120] + doubled(records[120:])
    log = read_clm(write_records(tmp_path / "clm.jsonl", records))
    trades, _ = trades_from_frame(log.frame, log.models, config.data.duplicate_window_ms)
    report = judge(
        trades=trades,
        decisions=[],
        approved_at=T0,
        now=T0 + timedelta(hours=24),
        version="cal_x",
        watch_config=config.watch,
    )
    win = next(s for s in report.signals if s.id == "P4.2.b")
    assert win.status == "inconclusive"
    assert "15 post-apply trades, need 20" in win.message
    assert any("15 duplicate CLM records dropped" in note and "(15 after approval)" in note for note in report.notes)
    counted_twice = np.concatenate([trades.pnl[trades.times >= np.datetime64("2026-11-20T12:00")]] * 2)
    assert len(counted_twice) >= config.watch.min_post_trades  # what counting the lines would have judged on


# ---- the counting rules one by one, on frames shaped as read_clm gives them (found by mutation testing)

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from calpolicy.watch.trades import Trades, duplicate_rows  # noqa: E402


def frame(rows: list[dict], trade_ids: bool = True) -> pd.DataFrame:
    base = {"symbol": "BTCUSDT", "side": "BUY", "entry_price": 100.0, "exit_price": 101.0, "pnl_pct": 1.0,
            "confidence": 0.6, "conf__xgb": 0.7}  # fmt: skip
    out = pd.DataFrame([{**base, **row} for row in rows])
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True)
    if trade_ids and "trade_id" not in out:
        out["trade_id"] = [f"t{i}" for i in range(len(out))]
    return out


def at(ms: float) -> pd.Timestamp:
    return pd.Timestamp(T0) + pd.Timedelta(milliseconds=ms)


def test_two_records_are_enough_to_find_a_repeat_and_one_is_none() -> None:
    pair = frame([{"timestamp": at(0)}, {"timestamp": at(40)}])
    assert duplicate_rows(pair, ("xgb",), 1000).tolist() == [1]
    one = duplicate_rows(frame([{"timestamp": at(0)}]), ("xgb",), 1000)
    assert one.tolist() == []
    assert one.dtype == np.int64


def test_a_repeat_at_exactly_the_window_counts_and_one_microsecond_later_does_not() -> None:
    assert duplicate_rows(frame([{"timestamp": at(0)}, {"timestamp": at(1000)}]), ("xgb",), 1000).tolist() == [1]
    late = frame([{"timestamp": at(0)}, {"timestamp": at(1000.001)}])
    assert duplicate_rows(late, ("xgb",), 1000).tolist() == []


def test_records_that_differ_only_in_one_models_confidence_are_two_trades() -> None:
    rows = frame([{"timestamp": at(0)}, {"timestamp": at(40), "conf__xgb": 0.71}])
    assert duplicate_rows(rows, ("xgb",), 1000).tolist() == []


@pytest.mark.parametrize("with_ids", [True, False])
def test_a_reused_trade_id_is_a_repeat_and_a_log_without_ids_is_judged_by_content(with_ids: bool) -> None:
    rows = [{"timestamp": at(0)}, {"timestamp": at(60_000), "pnl_pct": 2.0}, {"timestamp": at(60_040), "pnl_pct": 2.0}]
    if with_ids:
        rows[1]["trade_id"], rows[0]["trade_id"], rows[2]["trade_id"] = "a", "a", "b"
    found = duplicate_rows(frame(rows, trade_ids=with_ids), ("xgb",), 1000).tolist()
    assert found == ([1, 2] if with_ids else [2])


def test_trades_from_arrays_are_put_in_time_order_with_their_pnl_and_confidence() -> None:
    times = np.array(["2026-11-20T12:00:02", "2026-11-20T12:00:01", "2026-11-20T12:00:01"], dtype="datetime64[s]")
    trades = Trades.from_arrays(times, [3, 1, 2], [0.3, 0.1, 0.2])
    assert trades.times.dtype == np.dtype("datetime64[us]")
    assert trades.pnl.tolist() == [1.0, 2.0, 3.0]  # equal times keep their order
    assert trades.pnl.dtype == np.float64
    assert trades.confidence.tolist() == [0.1, 0.2, 0.3]
    assert trades.duplicates.dtype == np.dtype("datetime64[us]")
    assert len(trades.duplicates) == 0
    bare = Trades.from_arrays(times, [3, 1, 2])
    assert bare.confidence.dtype == np.float64
    assert np.isnan(bare.confidence).all()
    assert len(bare.confidence) == 3


def test_a_record_without_time_or_pnl_is_unusable_and_each_trade_keeps_its_confidence() -> None:
    rows = frame([{"timestamp": at(0)}, {"timestamp": at(60_000), "pnl_pct": float("nan")},
                  {"timestamp": None, "pnl_pct": 3.0}, {"timestamp": at(120_000), "pnl_pct": 4.0}])  # fmt: skip
    rows.loc[3, "confidence"] = 0.8
    trades, unusable = trades_from_frame(rows, ("xgb",), 1000)
    assert unusable == 2
    assert trades.pnl.tolist() == [1.0, 4.0]
    assert trades.confidence.tolist() == [0.6, 0.8]
    assert trades.pnl.dtype == trades.confidence.dtype == np.float64


def test_trades_logged_in_the_same_instant_keep_the_logs_order() -> None:
    """A bulk close writes many records with one timestamp; the watch's looks count them in log order."""
    stamps = np.array(np.random.default_rng(1).integers(0, 3, 200), dtype="datetime64[s]")
    trades = Trades.from_arrays(stamps, np.arange(200.0))
    for second in range(3):
        same = trades.pnl[trades.times == np.datetime64(second, "s")]
        assert (np.diff(same) > 0).all()
