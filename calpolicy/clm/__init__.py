"""The CLM trade log: reading it faithfully and judging whether it may be calibrated on."""

from __future__ import annotations

import math

from calpolicy.clm.checks import check_data
from calpolicy.clm.reader import TradeLog, parse_clm_bytes, read_clm
from calpolicy.config import Config


def read_clm_for(config: Config) -> TradeLog:
    """Read the configured CLM file under the configured size limit."""
    return read_clm(
        config.paths.clm_file,
        max_bytes=int(config.data.max_file_mb * 2**20) if math.isfinite(config.data.max_file_mb) else None,
        max_examples=config.data.max_examples,
    )


__all__ = ["TradeLog", "check_data", "parse_clm_bytes", "read_clm", "read_clm_for"]
