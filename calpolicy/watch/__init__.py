"""The 24-hour post-apply watch (checklist 4.2): can it tell harm from noise over a day of looks?

Each signal is a one-sided sequential test toward harm of the cumulative post-apply data against the
baseline, with a two-sample standard error and a group-sequential boundary that holds over every look of
the window (``sequential.py``), so a no-harm day says ROLLBACK at any of its 96 looks with at most
``watch.alpha`` (5 %) chance, all signals together. A better win rate, PnL or fewer HOLDs can never
recommend a rollback. INCONCLUSIVE ("hold for a human") while the data cannot decide; OK only once the
window's looks are complete with no crossing (the evidence says the smallest harm it could have seen).
The watch never rolls back by itself.

Modules: ``journal`` (decisions from the engine's journal), ``trades`` (unique trades, the data gate's
duplicate rule), ``sequential`` (the boundary), ``signals`` (the tests), ``verdict`` (``judge``); this
module reads the live inputs: ``watch`` is ``gather`` (the applied calibration, the engine's proof that it
serves it, the apply history, the CLM log, the journal) then ``report_from``, a pure function of what was
read, so the judging is tested in-process on real files and the shell on a booted private systemd.

Phase 4.2, the post-apply watch: owns P4.2.a (PnL drift), P4.2.b (win-rate delta), P4.2.c (HOLD rate)
and P4.2.d (confidence distribution), and the ROLLBACK recommendation they lead to. May import: every
phase before it (the trade-log reader, the preflight's journal probe, apply's confirmation of what is
live), ``calpolicy.jobs``, ``calpolicy.files`` and the vocabulary; ``calpolicy.watch`` is also its old
import path, kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calpolicy.watch.journal import Decision, parse_confidence, parse_decisions
from calpolicy.watch.signals import (
    Signal,
    SignalStatus,
    calibration,
    confidence_distribution,
    hold_rate,
    pnl_drift,
    win_rate_delta,
)
from calpolicy.watch.trades import Trades, duplicate_rows, trades_from_frame
from calpolicy.watch.verdict import (
    ALPHA_SHARE,
    EXIT_COULD_NOT_CHECK,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_ROLLBACK,
    WatchReport,
    judge,
    looks_at,
    predicted_probability,
    split_trades,
)

if TYPE_CHECKING:
    from calpolicy.clm import TradeLog
    from calpolicy.preflight.probes.journal import JournalEntry

__all__ = [
    "ALPHA_SHARE",
    "EXIT_COULD_NOT_CHECK",
    "EXIT_INCONCLUSIVE",
    "EXIT_OK",
    "EXIT_ROLLBACK",
    "AppliedCalibration",
    "Decision",
    "LiveInputs",
    "Signal",
    "SignalStatus",
    "Trades",
    "WatchError",
    "WatchReport",
    "applied_calibration",
    "calibration",
    "confidence_distribution",
    "duplicate_rows",
    "gather",
    "hold_rate",
    "journal_since",
    "judge",
    "looks_at",
    "parse_confidence",
    "parse_decisions",
    "pnl_drift",
    "predicted_probability",
    "read_applied",
    "read_engine_journal",
    "report_from",
    "require_served",
    "split_trades",
    "trades_from_frame",
    "watch",
    "win_rate_delta",
]


class WatchError(Exception):
    """The watch cannot judge (no applied calibration, unreadable log or journal): exit 3."""


class AppliedCalibration:
    """What the watch needs of the live ``calibration.json``: its version, approval instant, the applied
    confidence map (None when disabled or absent: the engine applies none) and the proposal's predicted
    out-of-sample Brier (``mse_after``)."""

    def __init__(
        self,
        version: str | None,
        approved_at: datetime,
        mapping: dict[str, float] | None,
        predicted_brier: float | None,
    ) -> None:
        self.version = version
        self.approved_at = approved_at
        self.mapping = mapping
        self.predicted_brier = predicted_brier


def read_applied(path: Any) -> AppliedCalibration:
    """The live calibration; without an approval there is nothing to watch."""
    from calpolicy.files.safe_read import read_bytes
    from calpolicy.files.strict_json import parse_json

    source = Path(path)
    try:
        raw = parse_json(read_bytes(source, "calibration"))  # a FIFO or a link to /dev/zero: refused, not read
    except FileNotFoundError:
        raise WatchError(f"no calibration is applied: {source} does not exist") from None
    except (OSError, ValueError) as error:
        raise WatchError(f"cannot read the applied calibration {source}: {error}") from None
    if not isinstance(raw, dict):
        raise WatchError(f"{source} is not a JSON object")
    approved = raw.get("approved_at")
    if not isinstance(approved, str):
        raise WatchError(f"{source} has no approved_at: this calibration was not applied through an approval")
    try:
        approved_at = datetime.fromisoformat(approved)
    except ValueError:
        raise WatchError(f"{source}: approved_at is not an ISO-8601 instant: {approved!r}") from None
    if approved_at.year <= 1970:  # year 1 made the baseline window's start overflow (a traceback)
        raise WatchError(f"{source}: approved_at {approved!r} is not a time this calibration could have been approved")
    version = raw.get("version")
    block = raw.get("confidence_calibration")
    mapping: dict[str, float] | None = None
    predicted: float | None = None
    if isinstance(block, dict) and block.get("enabled") is True:
        candidate = block.get("mapping")
        if not isinstance(candidate, dict) or not candidate:
            raise WatchError(f"{source}: confidence_calibration is enabled but has no mapping")
        try:
            mapping = {str(k): float(v) for k, v in candidate.items()}
            knots = [float(k) for k in mapping]
        except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit integer as a value
            raise WatchError(f"{source}: confidence_calibration.mapping is not numbers") from None
        if not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in [*knots, *mapping.values()]):
            raise WatchError(f"{source}: confidence_calibration.mapping has a knot or value outside [0, 1]")
        mse = block.get("mse_after")
        number = isinstance(mse, float) or (isinstance(mse, int) and not isinstance(mse, bool) and abs(mse) < 2**53)
        predicted = float(mse) if number and math.isfinite(mse) else None  # a 400-digit int: no float, no crash
    return AppliedCalibration(
        version if isinstance(version, str) else None,
        approved_at if approved_at.tzinfo else approved_at.replace(tzinfo=UTC),
        mapping,
        predicted,
    )


def applied_calibration(path: Any) -> tuple[str | None, datetime]:
    """The live calibration's version and ``approved_at``; without an approval there is nothing to watch."""
    applied = read_applied(path)
    return applied.version, applied.approved_at


def require_served(config: Any, version: str | None) -> None:
    """Never judge a version the engine does not serve: the real engine loads only at start (issue 20)."""
    from calpolicy.apply.confirmation import make_live_command, served_problem

    problem = served_problem(config, version)
    if problem is not None:
        raise WatchError(f"{problem[1]}; nothing was judged (to make it live: {make_live_command(None)})")


def _live_from(config: Any, version: str | None, approved_at: datetime) -> datetime:
    """When the engine was first shown to serve ``version`` (apply history), else ``approved_at``."""
    from calpolicy.jobs import history as apply_history

    history = Path(config.paths.archive_dir) / apply_history.HISTORY_NAME
    return apply_history.live_from(history, version, approved_at)


def journal_since(live_from: datetime, watch_config: Any) -> datetime:
    """Where the journal is read from: the baseline window before the version went live (the HOLD baseline)."""
    return live_from - timedelta(hours=watch_config.baseline_hours)


def read_engine_journal(config: Any, since: datetime) -> list[JournalEntry]:
    """The AI engine unit's journal since ``since``; a journal that cannot be read is exit 3, never calm."""
    from calpolicy.preflight.probes import ProbeError
    from calpolicy.preflight.probes.journal import read_journal

    try:
        return read_journal([config.systemd.ai_engine_unit], since, config.systemd)
    except ProbeError as error:
        raise WatchError(f"cannot read the AI engine's journal: {error}") from None


@dataclass(frozen=True)
class LiveInputs:
    """What the watch reads of the live system, gathered by ``gather``. Everything after is ``report_from``,
    a pure function of these: so the judging is tested in-process on real files, without a booted systemd."""

    applied: AppliedCalibration
    live_from: datetime  # when the engine was first shown to serve the version; else its approval
    log: TradeLog  # the CLM log as read (``read_error`` already refused)
    entries: tuple[JournalEntry, ...]  # the engine's journal from ``journal_since(live_from)``, oldest first


def gather(config: Any) -> LiveInputs:
    """Read the live inputs in the order an operator would check them; the first that fails is the error."""
    from calpolicy.clm import read_clm_for

    applied = read_applied(config.paths.calibration_file)
    require_served(config, applied.version)
    live_from = _live_from(config, applied.version, applied.approved_at)
    log = read_clm_for(config)
    if log.read_error:
        raise WatchError(f"cannot read the CLM log: {log.read_error}")
    entries = read_engine_journal(config, journal_since(live_from, config.watch))
    return LiveInputs(applied, live_from, log, tuple(entries))


def report_from(inputs: LiveInputs, config: Any, now: datetime) -> WatchReport:
    """The report from what ``gather`` read: the windows count from when the version went live, the HOLD
    baseline from the earliest journal entry read, and notes for a late going-live and unusable records."""
    applied, live_from = inputs.applied, inputs.live_from
    trades, unusable = trades_from_frame(inputs.log.frame, inputs.log.models, config.data.duplicate_window_ms)
    decisions = parse_decisions(inputs.entries, config.watch.decision_dedupe_s)
    journal_start = min((e.when for e in inputs.entries), default=live_from)
    report = judge(
        trades=trades,
        decisions=decisions,
        approved_at=live_from,
        now=now,
        version=applied.version,
        watch_config=config.watch,
        mapping=applied.mapping,
        predicted_brier=applied.predicted_brier,
        journal_start=journal_start,
    )
    notes = report.notes
    if live_from > applied.approved_at:  # written first, live at a later restart: judged from when it went live
        shifted = (
            f"approved at {applied.approved_at.isoformat(timespec='seconds')}, live in the engine only from "
            f"{live_from.isoformat(timespec='seconds')} (its restart): the windows are counted from then; "
            "decisions and trades before it were made with the previous map and count as baseline"
        )
        notes = (shifted, *notes)
    if unusable:
        notes = (*notes, f"{unusable} CLM records without a timestamp or PnL were not used")
    return WatchReport(report.version, applied.approved_at, report.now, report.signals, notes)


def watch(config: Any, now: datetime | None = None) -> WatchReport:
    """Judge the live system: the applied calibration, the CLM log and the AI engine's journal."""
    now = now or datetime.now(UTC)
    return report_from(gather(config), config, now)
