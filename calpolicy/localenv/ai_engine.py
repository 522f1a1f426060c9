"""A stand-in for the AI engine, for tests and the demo: it imports ``CalibrationLoader`` as the real one would.

Run as a systemd unit (``python -m calpolicy.localenv.ai_engine CALIBRATION_JSON``); it logs to stdout,
so every loader line lands in the unit's journal, and once a second it logs a decision line with a raw
and a calibrated confidence, in the real engine's wording. ``--no-reload`` models the existing engine
(no hot reload: a new file is only seen after a restart).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from calpolicy.loader import CalibrationLoader


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ai_engine")
    parser.add_argument("calibration", help="path of calibration.json")
    parser.add_argument("--no-reload", action="store_true", help="load once, never reload (the old engine)")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between decision lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    loader = CalibrationLoader(args.calibration, poll_interval_s=0 if args.no_reload else 0.2)
    raw = 0.72
    while True:
        calibrated = loader.apply(raw)
        print(
            f"[PHASE 3C] 📊 Confidence calibrated for BTCUSDT: {raw * 100:.2f}% → {calibrated * 100:.2f}% "
            f"(version {loader.version})",
            flush=True,
        )
        time.sleep(args.tick)


if __name__ == "__main__":
    sys.exit(main())
