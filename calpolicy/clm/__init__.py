"""The CLM trade log: reading it faithfully and judging whether it may be calibrated on.

The names are resolved lazily: ``calpolicy.clm.raw`` must be importable without pandas and Arrow, so
that ``check-data`` can start reading the log before it pays for them.

The trade-log gate (the checklist calls its items CLM.*): owns P0.2.a-e (the log exists, enough lines,
two symbols, a win and a loss, no NaN/null/0.0 prices or PnL), S.a (data below the cadence minimum), S.f
(STARVATION: more than 2 h without trades) and the extra ``CLM.*`` data checks of REAL_SYSTEM.md §1.
May import: the vocabulary and ``calpolicy.files``; it never cleans, drops or rewrites a line.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calpolicy.clm.checks import check_data
    from calpolicy.clm.raw import RawLog
    from calpolicy.clm.reader import TradeLog, parse_clm_bytes, read_clm
    from calpolicy.vocabulary.config import Config

_EXPORTS = {
    "check_data": "calpolicy.clm.checks",
    "TradeLog": "calpolicy.clm.reader",
    "parse_clm_bytes": "calpolicy.clm.reader",
    "read_clm": "calpolicy.clm.reader",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'calpolicy.clm' has no attribute {name!r}")


def max_bytes_for(config: Config) -> int | None:
    """The configured size limit in bytes; ``None`` when ``data.max_file_mb`` is unbounded."""
    limit = config.data.max_file_mb
    return int(limit * 2**20) if math.isfinite(limit) else None


def read_clm_for(config: Config, raw: RawLog | None = None) -> TradeLog:
    """Read the configured CLM file under the configured size limit (or parse ``raw``, already read)."""
    from calpolicy.clm.reader import parse_raw, read_clm

    if raw is not None:
        return parse_raw(raw, config.data.max_examples)
    return read_clm(config.paths.clm_file, max_bytes=max_bytes_for(config), max_examples=config.data.max_examples)


__all__ = ["TradeLog", "check_data", "max_bytes_for", "parse_clm_bytes", "read_clm", "read_clm_for"]
