"""Market extremes (S.b) from a configurable Redis source.

The live system has no volume-spike signal yet (REAL_SYSTEM.md §4), so the source is configuration: one
hash per symbol with a volume-ratio field and a halt field. Nothing configured, or no data for a
configured symbol, is "could not check" — the checklist says calibration must not run in an extreme
market, so an unknown market cannot be waved through.
"""

from __future__ import annotations

import math

import redis

from calpolicy.config import MarketConfig
from calpolicy.probes.command import ProbeError
from calpolicy.probes.redis_probe import checked_type
from calpolicy.verdict import Finding

_TRUE = frozenset({"1", "true", "yes", "on", "halt", "halted"})


def market_finding(client: redis.Redis, config: MarketConfig) -> Finding:
    """One S.b finding over every configured symbol."""
    if not config.symbols:
        raise ProbeError(
            "no market source is configured: set market.symbols (and market.hash_key_pattern, "
            "market.volume_ratio_field, market.halt_field) to the Redis hashes that carry each "
            "symbol's volume ratio and halt flag"
        )
    extremes: list[str] = []
    seen: dict[str, dict[str, str]] = {}
    for symbol in config.symbols:
        key = config.hash_key_pattern.format(symbol=symbol)
        kind = checked_type(client, key)
        if kind == "none":
            raise ProbeError(f"no market data for {symbol}: Redis key {key} does not exist")
        if kind != "hash":
            raise ProbeError(f"market key {key} is a Redis {kind}, expected a hash")
        fields = client.hgetall(key)
        seen[symbol] = fields
        raw = fields.get(config.volume_ratio_field)
        if raw is None:
            raise ProbeError(f"market hash {key} has no field '{config.volume_ratio_field}'")
        try:
            ratio = float(raw)
        except ValueError:
            raise ProbeError(f"{key} {config.volume_ratio_field}={raw!r} is not a number") from None
        if not math.isfinite(ratio):
            raise ProbeError(f"{key} {config.volume_ratio_field}={raw!r} is not a finite number")
        if ratio > config.max_volume_ratio:
            extremes.append(
                f"{symbol} volume is {ratio:g}× normal "
                f"(> {config.max_volume_ratio:g}×, market.max_volume_ratio)"
            )
        if str(fields.get(config.halt_field, "")).strip().lower() in _TRUE:
            extremes.append(f"{symbol} is halted ({key} {config.halt_field}={fields[config.halt_field]})")
    evidence = {"symbols": seen}
    if extremes:
        return Finding("S.b", "fail", "market extreme: " + "; ".join(extremes), evidence)
    return Finding("S.b", "pass", f"no market extreme on {', '.join(config.symbols)}", evidence)
