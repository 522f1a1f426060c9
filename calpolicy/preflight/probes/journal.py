"""The journal of a unit in a time window, and the ERROR/Traceback lines in it.

The AI engine mixes JSON log lines (``{"level": "ERROR", ...}``) with plain ``[ERROR]`` lines, and
journald stores a MESSAGE that is not valid UTF-8 (or contains control characters) as an array of byte
values instead of a string; both shapes are read here so that no error line hides behind its encoding.
Every restart of the engine logs model-load errors: they are shown, never filtered out.

"No error lines" means something only when the journal is visible: ``journalctl`` prints nothing and
exits 0 on a host without journal files, for a unit it has never heard of, or without permission to
read the system journal. So an empty window is trusted only for a unit with at least one entry ever
(``journalctl -u UNIT -n 1``); otherwise the probe raises ``ProbeError`` (could not check), and its
message uses ``journalctl --disk-usage`` to say whether no journal files are visible at all or the files
hold nothing for that unit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from calpolicy.files.strict_json import parse_json
from calpolicy.preflight.probes.command import ProbeError, run_command
from calpolicy.vocabulary.config import SystemdConfig

_PLAIN_ERROR = re.compile(
    r"\[(ERROR|CRITICAL|FATAL)\]|\b(ERROR|CRITICAL|FATAL)\b|Traceback \(most recent call last\)"
    r"|^\s*[A-Za-z_][\w.]*(Error|Exception): "
)
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL"})
_ERROR_PRIORITY = 3  # syslog "err"; lower is worse


@dataclass(frozen=True)
class JournalEntry:
    when: datetime
    unit: str
    message: str
    priority: int | None = None

    def shown(self) -> str:
        return f"{self.when.isoformat(timespec='seconds')} {self.unit}: {self.message[:300]}"


def decode_message(value: object) -> str:
    """MESSAGE as text: a string, an array of byte values (journald's form for binary data), or null."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        return bytes(value).decode("utf-8", "replace")
    raise ProbeError(f"journal MESSAGE has an unexpected shape: {str(value)[:100]!r}")


def parse_journal_json(output: bytes | str) -> list[JournalEntry]:
    """Parse ``journalctl -o json`` output (one JSON object per line), dropping repeated cursors."""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    entries: list[JournalEntry] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("-- "):
            continue
        try:
            record = parse_json(line)
        except ValueError:
            raise ProbeError(f"journalctl output line {number} is not JSON: {line[:120]!r}") from None
        if not isinstance(record, dict):
            raise ProbeError(f"journalctl output line {number} is not a JSON object")
        cursor = record.get("__CURSOR")
        if isinstance(cursor, str):
            if cursor in seen:
                continue
            seen.add(cursor)
        try:
            when = datetime.fromtimestamp(int(record["__REALTIME_TIMESTAMP"]) / 1e6, UTC)
        except (KeyError, TypeError, ValueError):
            raise ProbeError(f"journal entry on output line {number} has no __REALTIME_TIMESTAMP") from None
        priority = record.get("PRIORITY")
        entries.append(
            JournalEntry(
                when=when,
                unit=str(record.get("_SYSTEMD_UNIT") or record.get("UNIT") or "?"),
                message=decode_message(record.get("MESSAGE")),
                priority=int(priority) if isinstance(priority, str) and priority.isdigit() else None,
            )
        )
    return entries


# a short prefix some wrappers put before the JSON form (``INFO:     {...}``, ``2026-03-11 03:18:56 {...}``)
_JSON_PREFIX_MAX = 64
_TEXT_KEYS = ("msg", "message")  # the engine's envelope; python-json-logger (backend/infra/observability)


def json_record(message: str) -> dict[str, object] | None:
    """The JSON log record a journal line carries (alone or after a short prefix), or None for a plain line.

    Why: the engine logs through a JSON formatter, either the envelope ``{"ts", "level", "service", "event",
    "msg", "extra"}`` or python-json-logger's ``{"asctime", "name", "levelname", "message", ...}``; both
    escape non-ASCII (``✅`` is ``\\u2705`` in the raw line), so a pattern searched on the raw line misses.
    """
    stripped = message.strip()
    start = stripped.find("{")
    if start < 0 or start > _JSON_PREFIX_MAX or not stripped.endswith("}"):
        return None
    try:
        record = parse_json(stripped[start:])
    except ValueError:  # a logged line nested 40,000 deep is a plain line, never a crash
        return None
    if not isinstance(record, dict):
        return None
    if start and not any(isinstance(record.get(key), str) for key in _TEXT_KEYS):
        return None  # after a prefix, only a log record counts, not any JSON a plain line ends with
    return record


def log_text(message: str) -> str:
    """The text a journal line logs: its JSON record's ``msg``/``message`` when it has one, else the line."""
    record = json_record(message)
    if record is not None:
        for key in _TEXT_KEYS:
            value = record.get(key)
            if isinstance(value, str):
                return value
    return message


def is_error_message(message: str) -> bool:
    """An ERROR/Traceback line, in the JSON shape (decided by its level) or the plain one."""
    record = json_record(message)
    if record is not None:
        level = str(record.get("level") or record.get("levelname") or "").upper()
        body = "".join(json.dumps(record.get(key, "")) for key in (*_TEXT_KEYS, "exc_info"))
        return level in _ERROR_LEVELS or "Traceback (most recent call last)" in body
    return bool(_PLAIN_ERROR.search(message))


def error_entries(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    return [
        e for e in entries if is_error_message(e.message) or (e.priority is not None and e.priority <= _ERROR_PRIORITY)
    ]


def read_journal(
    units: Sequence[str], since: datetime, config: SystemdConfig, prove_visible: bool = True
) -> list[JournalEntry]:
    """Entries of ``units`` since ``since`` (one ``journalctl`` call), oldest first.

    With ``prove_visible`` (the default) each unit without an entry in the window must have one ever,
    or ``ProbeError`` says the journal is not visible: silence from a journal we cannot see is not calm.
    """
    if not units:
        raise ProbeError("no units configured, so no journal was read (systemd.units is empty)")
    argv = ["journalctl"]
    for unit in units:
        argv += ["-u", unit]
    argv += ["--since", f"@{int(since.timestamp())}", "-o", "json", "--no-pager", "-q"]
    result = run_command(argv, config.command_prefix, config.command_timeout_s)
    cutoff = since.astimezone(UTC)
    entries = [e for e in parse_journal_json(result.stdout) if e.when >= cutoff]
    if prove_visible:
        heard = {e.unit for e in entries}
        for unit in units:
            if unit not in heard and _unit_name(unit) not in heard:
                require_visible_journal(unit, config)
    return entries


def _unit_name(unit: str) -> str:
    return unit if "." in unit else f"{unit}.service"


def require_visible_journal(unit: str, config: SystemdConfig) -> JournalEntry:
    """The newest entry the journal has ever had for ``unit``; none at all is ``ProbeError``.

    The error says which of two different problems it is, from the journal's own disk usage: no journal
    files visible at all (journald not persisting, no permission, the wrong host), or files that hold
    nothing for this unit (a unit name that never logged here). Either way the item is could-not-check.
    """
    argv = ["journalctl", "-u", unit, "-n", "1", "-o", "json", "--no-pager", "-q"]
    result = run_command(argv, config.command_prefix, config.command_timeout_s)
    entries = parse_journal_json(result.stdout)
    if not entries:
        raise ProbeError(
            f"the journal shows no entry at all, ever, for {unit} (`{result.shown}` printed nothing): "
            f"{_why_invisible(unit, config)}, so an empty window proves nothing"
        )
    return entries[-1]


_DISK_USAGE = re.compile(r"take up (?P<size>\S+) in the file system")


def _why_invisible(unit: str, config: SystemdConfig) -> str:
    """What ``journalctl --disk-usage`` says about the journal files this user can see."""
    try:
        argv = ["journalctl", "--disk-usage", "--no-pager"]
        usage = run_command(argv, config.command_prefix, config.command_timeout_s)
    except ProbeError as error:
        return f"the journal is not visible from here (`journalctl --disk-usage` failed: {error})"
    found = _DISK_USAGE.search(usage.stdout.decode("utf-8", "replace"))
    size = found.group("size") if found else None
    if size is None or size.rstrip("B") in ("0", ""):
        return (
            "no journal files are visible from here (`journalctl --disk-usage`: "
            f"{size or 'no size reported'}): journald keeps no files, this user may not read them, or this "
            "is the wrong host / systemd.command_prefix"
        )
    return (
        f"the journal files visible here take up {size}, but none of them holds an entry for {unit}: the "
        "unit has never logged on this host (is the name in systemd.units right?) or this user may not "
        "read its entries"
    )


def evidence_lines(entries: Sequence[JournalEntry], cap: int = 20) -> dict[str, object]:
    return {
        "entries": [e.shown() for e in entries[:cap]],
        "count": len(entries),
        "truncated": len(entries) > cap,
    }
