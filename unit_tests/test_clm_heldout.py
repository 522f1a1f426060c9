"""Held-out cases of issue 21 §4: the CLM log and the protected paths (read by `run` and the watch; not ours).

The reader looked at the path with ``stat`` and then opened it with a plain blocking ``open``: a FIFO
swapped in between (a real race, run here with real renames) hung the reader forever. It now opens
non-blocking and judges the descriptor it opened.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from calpolicy.clm.raw import read_raw

LINE = b'{"a": 1}\n'


def test_a_fifo_swapped_in_after_the_stat_never_hangs_the_read(tmp_path: Path) -> None:
    log = tmp_path / "clm_trades.jsonl"
    log.write_bytes(LINE)
    stop = threading.Event()

    def swap() -> None:
        regular, fifo = tmp_path / "regular.tmp", tmp_path / "fifo.tmp"
        while not stop.is_set():
            regular.write_bytes(LINE)
            os.replace(regular, log)
            os.mkfifo(fifo)
            os.replace(fifo, log)

    outcomes: dict[str, int] = {"read": 0, "refused": 0}

    def read_many() -> None:
        for _ in range(20_000):
            raw = read_raw(log)
            if raw.read_error is None:
                assert raw.data == LINE
                outcomes["read"] += 1
            else:
                assert "not a regular file" in raw.read_error or "not found" in raw.read_error, raw.read_error
                outcomes["refused"] += 1

    swapper = threading.Thread(target=swap, daemon=True)
    reader = threading.Thread(target=read_many, daemon=True)
    swapper.start()
    reader.start()
    reader.join(60)
    stop.set()
    assert not reader.is_alive(), "read_raw blocked on a FIFO that replaced the log after its stat"
    swapper.join(5)
    assert outcomes["read"] > 0
    assert outcomes["refused"] > 0


def test_a_protected_file_swapped_for_a_fifo_never_hangs_its_digest(tmp_path: Path) -> None:
    """The same race in `run`'s digest of the protected paths (lstat, then a blocking open)."""
    from calpolicy.lockdown.protected import digest_path

    folder = tmp_path / "models"
    folder.mkdir()
    weights = folder / "xgb.bin"
    weights.write_bytes(LINE)
    stop = threading.Event()

    def swap() -> None:
        regular, fifo = tmp_path / "regular.tmp", tmp_path / "fifo.tmp"
        while not stop.is_set():
            regular.write_bytes(LINE)
            os.replace(regular, weights)
            os.mkfifo(fifo)
            os.replace(fifo, weights)

    kinds: set[str] = set()

    def digest_many() -> None:
        for _ in range(20_000):
            kinds.add(digest_path("P1.1.a", folder).entries["./xgb.bin"].split(":")[0])

    swapper = threading.Thread(target=swap, daemon=True)
    reader = threading.Thread(target=digest_many, daemon=True)
    swapper.start()
    reader.start()
    reader.join(60)
    stop.set()
    assert not reader.is_alive(), "the protected-path digest blocked on a FIFO swapped in after its lstat"
    swapper.join(5)
    assert {"file", "other"} <= kinds
