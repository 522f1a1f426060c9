"""Market extremes (S.b: "flash crash, halt, volume > 300 % of normal") from what the host publishes.

The real host (``microservices/market_state_publisher/main.py``, REAL_SYSTEM.md §4) writes, every publish
interval, the hash ``quantum:marketstate:{SYMBOL}`` (``sigma``, ``mu``, ``ts`` = trend strength, ``dp`` =
directional persistence, ``vr`` = variance ratio, ``spike_proxy`` = sigma_MAD / sigma_EWMA,
``ts_timestamp`` = publish time, ...) and appends ``symbol, ts, sigma, mu, regime, timestamp`` to the
stream ``quantum:stream:marketstate``. It publishes no volume and no halt field.

So S.b is judged, per symbol, on what is there:

- **volume** — ``market.volume_ratio_field`` against ``market.max_volume_ratio`` (300 %), when the hash
  has that field (a host that publishes volume is judged on it);
- **volatility against its own normal** — the current ``sigma`` over the median ``sigma`` of that symbol's
  stream entries of the last ``market.baseline_hours``: above ``market.max_volatility_ratio`` (the
  checklist's 300 % applied to volatility) is extreme. A flash crash, or the volume burst around one,
  shows first as a jump in volatility; the median is the symbol's normal because a spike cannot move it;
- **a price-move spike** — ``1 / spike_proxy`` = recent (EWMA) over robust (MAD) volatility of the
  publisher's window: a few outsized returns lift the first and not the second. Above the same ratio is
  extreme;
- **halt** — ``market.halt_field`` read as a boolean, when the hash has it.

Fail closed: a missing or stale hash (``ts_timestamp`` older than ``market.max_age_s``: the publisher has
stopped), a field that is not a finite number, too little stream history to know the normal while the hash
has no ``spike_proxy`` to judge by, or no market signal at all is could-not-check (``ProbeError``): an
unknown market is not waved through.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.redis.connection import checked_type
from calpolicy.preflight.probes.redis.halt import boolean_halt
from calpolicy.vocabulary.config import MarketConfig
from calpolicy.vocabulary.verdict import Finding

_TRUE = ("1", "true", "yes", "on", "halt", "halted")
_FALSE = ("0", "false", "no", "off", "")
MAX_DISCOVERED = 1000  # a SCAN that finds more market hashes than this is not the market publisher's


@dataclass
class SymbolReading:
    """What was read for one symbol, and what it says."""

    symbol: str
    key: str
    fields: dict[str, str]
    age_s: float
    signals: dict[str, Any] = field(default_factory=dict)
    extremes: list[str] = field(default_factory=list)


def market_finding(client: redis.Redis, config: MarketConfig, now: float | None = None) -> Finding:
    """One S.b finding over every configured (or discovered) symbol."""
    moment = time.time() if now is None else now
    symbols, how = _symbols(client, config)
    baseline = _stream_history(client, config, moment)
    readings = [_read_symbol(client, config, symbol, moment, baseline) for symbol in symbols]
    stand_in = _stand_in_note(readings, config)
    evidence: dict[str, Any] = {
        "symbols": {r.symbol: {"key": r.key, "age_s": round(r.age_s, 1), **r.signals} for r in readings},
        "symbols_from": how,
        "stream": config.stream,
        **({"volume_stand_in": stand_in} if stand_in else {}),
    }
    extremes = [e for r in readings for e in r.extremes]
    if extremes:
        return Finding("S.b", "fail", "market extreme: " + "; ".join(extremes), evidence)
    calm = "; ".join(_calm_text(r) for r in readings)
    return Finding("S.b", "pass", f"no market extreme ({how}): {calm}", evidence)


# ---------------------------------------------------------------------------------------------- symbols


def _symbols(client: redis.Redis, config: MarketConfig) -> tuple[tuple[str, ...], str]:
    """The configured symbols, or every hash the pattern finds when none is configured."""
    if config.symbols:
        return config.symbols, "market.symbols"
    if config.hash_key_pattern.count("{symbol}") != 1:
        raise ProbeError(
            f"market.symbols is empty and market.hash_key_pattern {config.hash_key_pattern!r} has no single "
            "{symbol} to discover symbols by: set market.symbols"
        )
    prefix, _, suffix = config.hash_key_pattern.partition("{symbol}")
    found: set[str] = set()
    for key in client.scan_iter(match=_glob_escape(prefix) + "*" + _glob_escape(suffix), count=500):
        name = str(key)
        symbol = name[len(prefix) : len(name) - len(suffix) if suffix else None]
        if symbol and ":" not in symbol:
            found.add(symbol)
        if len(found) > MAX_DISCOVERED:
            raise ProbeError(f"more than {MAX_DISCOVERED} keys match {config.hash_key_pattern}: set market.symbols")
    if not found:
        raise ProbeError(
            f"no market state found: no Redis key matches {config.hash_key_pattern.format(symbol='*')} "
            "(is the market state publisher running?); set market.symbols to the symbols it publishes"
        )
    return tuple(sorted(found)), f"discovered by SCAN {config.hash_key_pattern.format(symbol='*')}"


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


# ---------------------------------------------------------------------------------------------- history


def _stream_history(client: redis.Redis, config: MarketConfig, now: float) -> dict[str, list[float]] | None:
    """Each symbol's sigma over the last ``baseline_hours`` of the stream; ``None`` when there is no stream."""
    kind = checked_type(client, config.stream)
    if kind == "none":
        return None
    if kind != "stream":
        raise ProbeError(f"market history {config.stream} is a Redis {kind}, expected a stream (market.stream)")
    since_ms = max(0, int((now - config.baseline_hours * 3600.0) * 1000))
    entries = client.xrevrange(config.stream, max="+", min=f"{since_ms}-0", count=config.max_stream_entries)
    history: dict[str, list[float]] = {}
    for _, values in entries:
        symbol = values.get("symbol")
        value = _number(values.get(config.sigma_field))
        if symbol and value is not None and value >= 0:
            history.setdefault(str(symbol), []).append(value)
    return history


def _number(raw: object) -> float | None:
    try:
        value = float(str(raw))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------- one symbol


def _read_symbol(
    client: redis.Redis, config: MarketConfig, symbol: str, now: float, history: dict[str, list[float]] | None
) -> SymbolReading:
    key = config.hash_key_pattern.format(symbol=symbol)
    kind = checked_type(client, key)
    if kind == "none":
        raise ProbeError(
            f"no market data for {symbol}: Redis key {key} does not exist (the publisher's hash expires "
            "ten intervals after its last write: is quantum-marketstate-publisher running?)"
        )
    if kind != "hash":
        raise ProbeError(f"market key {key} is a Redis {kind}, expected a hash")
    fields = {str(k): str(v) for k, v in client.hgetall(key).items()}
    reading = SymbolReading(symbol, key, fields, _age(key, fields, config, now))
    has_volume = config.volume_ratio_field in fields
    has_sigma = config.sigma_field in fields
    if not has_volume and not has_sigma:
        raise ProbeError(
            f"market hash {key} has neither a volume field '{config.volume_ratio_field}' nor a volatility "
            f"field '{config.sigma_field}': nothing to judge a market extreme by (market.volume_ratio_field, "
            "market.sigma_field)"
        )
    if has_volume:
        _judge_volume(reading, config)
    if has_sigma:
        try:
            _judge_volatility(reading, config, history)
        except NoBaseline as unknown:
            # A publisher that has just started (or a stream trimmed away) leaves the sigma baseline unknown.
            # The hash's own spike_proxy still compares volatility now with the window's robust normal, so the
            # symbol is judged on that alone and the evidence says so; with no spike_proxy either, nothing
            # judges volatility and the market cannot be checked.
            if config.spike_field not in fields:
                raise
            reading.signals["sigma_baseline"] = f"unknown, judged on {config.spike_field} alone: {unknown}"
    if config.spike_field in fields:
        _judge_spike(reading, config)
    if config.halt_field in fields:
        _judge_halt(reading, config)
    return reading


def _age(key: str, fields: dict[str, str], config: MarketConfig, now: float) -> float:
    raw = fields.get(config.timestamp_field)
    if raw is None:
        raise ProbeError(
            f"market hash {key} has no '{config.timestamp_field}' field, so its age is unknown "
            "(market.timestamp_field; the host's `ts` is trend strength, not a time)"
        )
    stamp = _number(raw)
    if stamp is None:
        raise ProbeError(f"{key} {config.timestamp_field}={raw[:40]!r} is not a time in epoch seconds")
    if stamp > 1e11:  # milliseconds
        stamp /= 1000.0
    age = now - stamp
    if age > config.max_age_s:
        raise ProbeError(
            f"market state of {key} is stale: written {age:.0f} s ago, more than market.max_age_s = "
            f"{config.max_age_s:g} s (the publisher has stopped or lags)"
        )
    if age < -300:
        raise ProbeError(f"market state of {key} is dated {-age:.0f} s in the future: the clocks disagree")
    return max(0.0, age)


def _field_number(reading: SymbolReading, name: str) -> float:
    raw = reading.fields[name]
    value = _number(raw)
    if value is None:
        raise ProbeError(f"{reading.key} {name}={raw[:40]!r} is not a finite number")
    return value


def _judge_volume(reading: SymbolReading, config: MarketConfig) -> None:
    ratio = _field_number(reading, config.volume_ratio_field)
    reading.signals["volume_ratio"] = ratio
    if ratio > config.max_volume_ratio:
        reading.extremes.append(
            f"{reading.symbol} volume is {ratio:g}× normal (> {config.max_volume_ratio:g}×, market.max_volume_ratio)"
        )


class NoBaseline(ProbeError):
    """The stream holds too little history to know a symbol's normal volatility."""


def _judge_volatility(reading: SymbolReading, config: MarketConfig, history: dict[str, list[float]] | None) -> None:
    sigma = _field_number(reading, config.sigma_field)
    if history is None:
        raise NoBaseline(
            f"no market history: stream {config.stream} does not exist, so {reading.symbol}'s normal volatility "
            "is unknown (market.stream)"
        )
    past = history.get(reading.symbol, [])
    if len(past) < config.min_baseline_points:
        raise NoBaseline(
            f"only {len(past)} entr{'y' if len(past) == 1 else 'ies'} for {reading.symbol} in {config.stream} over "
            f"the last {config.baseline_hours:g} h, fewer than market.min_baseline_points = "
            f"{config.min_baseline_points}: its normal volatility is not known yet"
        )
    normal = statistics.median(past)
    if normal <= 0:
        raise ProbeError(f"{reading.symbol}'s median sigma over {len(past)} stream entries is 0: no normal to compare")
    ratio = sigma / normal
    reading.signals.update(
        {"sigma": sigma, "sigma_median": normal, "sigma_ratio": round(ratio, 4), "baseline_points": len(past)}
    )
    if ratio > config.max_volatility_ratio:
        reading.extremes.append(
            f"{reading.symbol} volatility sigma {sigma:.6g} is {ratio:.2f}× its {config.baseline_hours:g} h median "
            f"{normal:.6g} over {len(past)} entries (> {config.max_volatility_ratio:g}×, market.max_volatility_ratio)"
        )


def _judge_spike(reading: SymbolReading, config: MarketConfig) -> None:
    proxy = _field_number(reading, config.spike_field)
    if proxy < 0:
        raise ProbeError(f"{reading.key} {config.spike_field}={proxy:g} is negative: not a volatility ratio")
    ratio = math.inf if proxy == 0 else 1.0 / proxy
    reading.signals.update({"spike_proxy": proxy, "move_ratio": round(ratio, 4) if math.isfinite(ratio) else "inf"})
    if ratio > config.max_volatility_ratio:
        reading.extremes.append(
            f"{reading.symbol} price-move spike: recent volatility is {ratio:.2f}× the robust volatility of the "
            f"window ({config.spike_field}={proxy:g}; > {config.max_volatility_ratio:g}×, market.max_volatility_ratio)"
        )


def _judge_halt(reading: SymbolReading, config: MarketConfig) -> None:
    raw = reading.fields[config.halt_field]
    halted = boolean_halt(raw, _TRUE, _FALSE)
    if halted is None:
        raise ProbeError(f"{reading.key} {config.halt_field}={raw[:40]!r} is neither a halt nor a clear value")
    reading.signals["halt"] = raw
    if halted:
        reading.extremes.append(f"{reading.symbol} is halted ({reading.key} {config.halt_field}={raw})")


# ---------------------------------------------------------------------------------------------- words


def _stand_in_note(readings: list[SymbolReading], config: MarketConfig) -> str:
    without = [r.symbol for r in readings if "volume_ratio" not in r.signals]
    if not without:
        return ""
    return (
        f"no '{config.volume_ratio_field}' field for {', '.join(without)}: volatility stands in for volume — sigma "
        f"against its {config.baseline_hours:g} h median from {config.stream}, and the recent-move ratio "
        f"1/{config.spike_field}, each against the checklist's 300 % — because the host publishes no volume, and a "
        "flash crash or a volume burst shows as a jump in volatility"
    )


def _calm_text(reading: SymbolReading) -> str:
    parts = []
    if "volume_ratio" in reading.signals:
        parts.append(f"volume {reading.signals['volume_ratio']:g}×")
    if "sigma_ratio" in reading.signals:
        parts.append(
            f"sigma {reading.signals['sigma_ratio']:.2f}× its median over {reading.signals['baseline_points']} entries"
        )
    if "move_ratio" in reading.signals:
        parts.append(f"recent move {reading.signals['move_ratio']}× robust")
    if "sigma_baseline" in reading.signals:
        parts.append("sigma baseline not yet known (too little stream history)")
    return f"{reading.symbol} {', '.join(parts)} ({reading.age_s:.0f} s old)"
