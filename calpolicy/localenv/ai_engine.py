"""A stand-in for the AI engine, for tests and the demo: it imports ``CalibrationLoader`` as the real one would.

Run as a systemd unit (``python -m calpolicy.localenv.ai_engine CALIBRATION_JSON``); it logs to stdout,
so every loader line lands in the unit's journal, and once a second it logs a decision line with a raw
and a calibrated confidence, in the real engine's wording. ``--no-reload`` models the existing engine
(no hot reload: a new file is only seen after a restart). ``--decisions`` also logs one trading decision
a tick in the engine's wording (every fifth a HOLD), so ``calpolicy watch`` has decisions to read.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time

from calpolicy.loader import CalibrationLoader


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ai_engine")
    parser.add_argument("calibration", help="path of calibration.json")
    parser.add_argument("--no-reload", action="store_true", help="load once, never reload (the old engine)")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between decision lines")
    parser.add_argument("--decisions", action="store_true", help="also log a BUY/SELL/HOLD decision each tick")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    loader = CalibrationLoader(args.calibration, poll_interval_s=0 if args.no_reload else 0.2)
    raw = 0.72
    for tick in itertools.count():
        calibrated = loader.apply(raw)
        print(
            f"[PHASE 3C] 📊 Confidence calibrated for BTCUSDT: {raw * 100:.2f}% → {calibrated * 100:.2f}% "
            f"(version {loader.version})",
            flush=True,
        )
        if args.decisions:
            print(decision_line(tick, calibrated), flush=True)
        time.sleep(args.tick)
    return 0


def decision_line(tick: int, confidence: float) -> str:
    """The engine's decision line: a HOLD every fifth tick, else an alternating BUY/SELL it acted on."""
    if tick % 5 == 0:
        return f"[AI-ENGINE] ⚠️ No actionable signal for {'BTCUSDT' if tick % 2 else 'ETHUSDT'}"
    return f"[AI-ENGINE] ✅ Action confirmed: {'BUY' if tick % 2 else 'SELL'} (confidence={confidence:.2f})"


if __name__ == "__main__":
    sys.exit(main())
