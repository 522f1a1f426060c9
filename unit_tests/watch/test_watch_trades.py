"""The watch counts each trade once, by the data gate's own duplicate rule (issue 20, point 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from calpolicy.clm import check_data, read_clm
from calpolicy.config import Config
from calpolicy.localenv.defects import write_records
from calpolicy.localenv.watch_data import trades_around
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
