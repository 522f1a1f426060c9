"""ERROR/Traceback lines of a plain log file within a time window (the execution service, S.c).

``quantum-execution`` writes to ``/var/log/quantum/execution.log`` rather than the journal, so the
journal alone would report "no errors" for a service whose errors go elsewhere. Log lines carry their
own timestamps in several shapes; a line without one (a Traceback's continuation) inherits the time of
the line before it, and lines before the first timestamp are judged by the file's modification time —
when in doubt a line counts as inside the window, because a missed error is the worse mistake.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.journal import is_error_message

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
TAIL_BYTES = 32 * 2**20


@dataclass(frozen=True)
class LogLine:
    path: Path
    number: int
    when: datetime | None
    text: str

    def shown(self) -> str:
        stamp = self.when.isoformat(timespec="seconds") if self.when else "time unknown"
        return f"{self.path}:{self.number} [{stamp}] {self.text[:300]}"


def _stamp_of(line: str) -> datetime | None:
    match = _STAMP.search(line)
    if not match:
        return None
    date, clock, fraction, zone = match.groups()
    text = f"{date}T{clock}{fraction or ''}{'+00:00' if zone in (None, 'Z') else zone}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def error_lines_since(path: Path, since: datetime) -> list[LogLine]:
    """Error lines of ``path`` written at or after ``since`` (naive stamps are read as UTC).

    Only the last ``TAIL_BYTES`` of a large file are read: the window is an hour, not the file's life.
    A missing or unreadable file raises ``ProbeError`` — absent is not "no errors".
    """
    try:
        size = path.stat().st_size
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        with path.open("rb") as handle:
            offset = max(0, size - TAIL_BYTES)
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        raise ProbeError(f"log file {path} does not exist (systemd.execution_log_files)") from None
    except OSError as error:
        raise ProbeError(f"log file {path} cannot be read: {os.strerror(error.errno or 0)}") from None
    lines = data.decode("utf-8", "replace").splitlines()
    if offset:
        lines = lines[1:]  # the first line of a tail is probably cut in half
    found: list[LogLine] = []
    current: datetime | None = None
    cutoff = since.astimezone(UTC)
    for number, text in enumerate(lines, 1):
        current = _stamp_of(text) or current
        inside = current >= cutoff if current is not None else mtime >= cutoff
        if inside and is_error_message(text):
            found.append(LogLine(path, number, current, text))
    return found
