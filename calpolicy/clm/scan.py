"""One pass over the log's bytes that decides whether Arrow may parse it whole, with NumPy alone.

Kept apart from the reader (which imports pandas and Arrow) so that ``Prefetch`` can run it on the second
core right after the read, while the main thread is still importing them: on a million-line log the scan
(0.1-0.2 s) then costs no wall time.

Arrow's parser recurses per nesting level and overflows the stack (SIGSEGV) at about 20,000 levels, so
the scan proves that no line could nest that deep: a line longer than ``ARROW_SAFE_LINE`` bytes is safe
only when it holds few brackets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCAN_BLOCK = 4 << 20  # newline scan block: its temporaries stay a few tens of MiB whatever the file holds
ARROW_SAFE_LINE = 4096  # a line this short cannot nest deep enough to overflow Arrow's stack (~20,000)
ARROW_MAX_BRACKETS = 1024  # a longer line goes to Arrow only with at most this many '{' and '['
ARROW_MAX_LINE = 1 << 20  # a longer line is read alone: Arrow would hold it three times over
# The shortest object holding the seven required keys under their shortest names, each with a one-byte
# value, is 97 bytes ({"timestamp":1,"symbol":1,"side":1,"entry_price":1,...}): a shorter line lacks a
# required field however it parses. Such lines are counted like junk, not materialised as records: ten
# million ``{}`` lines would otherwise make a 2 GB frame out of a 30 MB file.
MIN_RECORD_BYTES = 97
OPEN, CLOSE, NEWLINE, CR = ord("{"), ord("}"), ord("\n"), ord("\r")


@dataclass(frozen=True)
class Scan:
    newlines: int
    boundaries: int  # occurrences of "}\n{" or "}\r\n{": one between every two records of a clean log
    crlf: int  # lines ending "\r\n"
    arrow_safe: bool  # no line could nest deep enough to crash Arrow, and none is too short for a record


def scan_lines(data: bytes | memoryview) -> Scan:
    """Count lines and record boundaries, and prove every line safe for Arrow, in bounded blocks."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = boundaries = crlf = 0
    previous = -1  # position of the last newline seen, for line lengths across blocks
    safe = True
    for start in range(0, len(buf), SCAN_BLOCK):
        found = np.flatnonzero(buf[start : start + SCAN_BLOCK] == NEWLINE) + start
        newlines += len(found)
        inner = found[(found > 1) & (found < len(buf) - 1)]
        before, after = buf[inner - 1], buf[inner + 1] == OPEN
        is_cr = before == CR
        crlf += int(np.count_nonzero(is_cr))
        boundaries += int(np.count_nonzero(after & ((before == CLOSE) | (is_cr & (buf[inner - 2] == CLOSE)))))
        ends = np.concatenate(([previous], found))
        lengths = np.diff(ends) - 1
        safe = safe and not (len(lengths) and lengths.min() < MIN_RECORD_BYTES)
        long = np.flatnonzero(lengths >= ARROW_SAFE_LINE)
        safe = safe and all(arrow_can_take(buf, int(ends[i]) + 1, int(ends[i + 1])) for i in long)
        if len(found):
            previous = int(found[-1])
    if len(buf) - previous - 1 > ARROW_SAFE_LINE:
        safe = safe and arrow_can_take(buf, previous + 1, len(buf))
    if 0 < len(buf) - previous - 1 < MIN_RECORD_BYTES:
        safe = False
    return Scan(newlines, boundaries, crlf, safe)


def arrow_can_take(buf: np.ndarray, start: int, end: int) -> bool:
    """A long line goes to Arrow only if it is not huge and holds few brackets (so it cannot nest deep)."""
    return end - start <= ARROW_MAX_LINE and _few_brackets(buf, start, end)


def _few_brackets(buf: np.ndarray, start: int, end: int) -> bool:
    brackets = 0
    for at in range(start, end, SCAN_BLOCK):
        piece = buf[at : min(end, at + SCAN_BLOCK)]
        brackets += int(np.count_nonzero(piece == OPEN)) + int(np.count_nonzero(piece == ord("[")))
        if brackets > ARROW_MAX_BRACKETS:
            return False
    return True
