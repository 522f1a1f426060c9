"""Third held-out set of issue 21 for the loader the engine imports: files the engine's own loader refuses must
not be served by ours either (docs/heldout.md lists every case tried).

The engine (quantum_trader ``ai_engine/calibration_loader.py``) reads ``calibration.json`` with ``open()`` in
text mode and ``json.load``: UTF-8, no byte-order mark. Given bytes, ``json.loads`` also takes UTF-16/32 and
a BOM, so our parser served files the engine refuses: approve's "parse it as the loader would" and rollback's
"validates" then vouched for a file that leaves the real engine with no calibration at all.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from calpolicy_loader import CalibrationLoader
from calpolicy_loader.parse import CalibrationError, parse_calibration

GOOD = {
    "version": "cal_20260101_000000",
    "confidence_calibration": {"enabled": True, "mapping": {"0.0": 0.0, "0.5": 0.4, "1.0": 1.0}},
}
ENCODINGS = {
    "utf-8-bom": b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
    "utf-16": json.dumps(GOOD).encode("utf-16"),
    "utf-16-le-no-bom": json.dumps(GOOD).encode("utf-16-le"),
    "utf-32": json.dumps(GOOD).encode("utf-32"),
}


def engine_reads(path: Path) -> bool:
    """What the engine's loader does with the file: ``open(path, 'r')`` then ``json.load`` (UTF-8 locale)."""
    try:
        with open(path, encoding="utf-8") as handle:
            json.load(handle)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return False
    return True


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_a_file_the_engine_cannot_decode_is_never_served(tmp_path: Path, name: str) -> None:
    """Was: served (version cal_20260101_000000, map applied) while the engine's own loader refuses it."""
    path = tmp_path / "calibration.json"
    path.write_bytes(ENCODINGS[name])
    assert not engine_reads(path)
    with pytest.raises(CalibrationError):
        parse_calibration(path.read_bytes(), str(path))
    loader = CalibrationLoader(path, poll_interval_s=0, record=False)
    assert loader.version == "none"
    assert loader.apply(0.3) == 0.3
    assert loader.last_error is not None


def test_plain_utf8_with_non_ascii_text_is_still_served(tmp_path: Path) -> None:
    """The stricter decode keeps what the engine reads: UTF-8 text, here a non-ASCII note."""
    path = tmp_path / "calibration.json"
    path.write_bytes(json.dumps({**GOOD, "note": "Vi forbedrer beslutningskvalitet uten å endre modeller"},
                                ensure_ascii=False).encode())  # fmt: skip
    assert engine_reads(path)
    assert CalibrationLoader(path, poll_interval_s=0, record=False).version == GOOD["version"]


def test_a_file_growing_past_the_cap_is_refused_once_not_on_every_poll(tmp_path: Path) -> None:
    """Was: one ERROR line per poll while the file grew (27 lines in one second at a 20 ms poll; five a second
    at the default 0.2 s): each new size made a new message. Now: said once, until a good file is served."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger("heldout3.loader")
    log.addHandler(Keep())
    log.setLevel(logging.INFO)
    log.propagate = False
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(GOOD))
    loader = CalibrationLoader(path, poll_interval_s=0, record=False, logger=log)
    with path.open("ab") as handle:
        for _ in range(6):
            handle.write(b" " * 1_000_000)
            handle.flush()
            loader.reload()
    refused = [line for line in lines if "refusing to load" in line]
    assert len(refused) == 1, refused
    assert "more than the 4194304" in refused[0]
    assert loader.version == GOOD["version"]
    assert loader.last_error is not None
    path.write_text(json.dumps({**GOOD, "version": "cal_20260101_000001"}))
    loader.reload()
    assert loader.version == "cal_20260101_000001"
    path.write_bytes(json.dumps(GOOD).encode() + b" " * 5_000_000)
    loader.reload()
    assert len([line for line in lines if "refusing to load" in line]) == 2  # a new refusal after a good file


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (ENCODINGS["utf-8-bom"], "x.json is not valid JSON for the engine: it starts with a byte-order mark"),
        (ENCODINGS["utf-16"], "x.json is not valid JSON: not UTF-8 text (UTF-16? binary?) at byte 0"),
        (b'{"version": "caf\xe9"}', "x.json is not valid JSON: not UTF-8 text (UTF-16? binary?) at byte 16"),
        ("\ufeff" + json.dumps(GOOD), "x.json is not valid JSON for the engine: it starts with a byte-order mark"),
    ],
    ids=["utf-8-bom", "utf-16", "latin-1-byte", "bom-in-text"],
)
def test_each_encoding_refusal_says_which_it_is(data: bytes | str, said: str) -> None:
    """The operator reads this line in the engine's log: it names the byte-order mark or the first byte
    that is not UTF-8, so the file can be fixed (the BOM case must not read as "not UTF-8")."""
    with pytest.raises(CalibrationError) as refused:
        parse_calibration(data, "x.json")
    assert str(refused.value) == said


def test_a_lone_surrogate_in_text_is_judged_past_the_decode() -> None:
    """``surrogatepass`` as json.loads decodes: a lone surrogate escape in the version is refused by the
    version check with its own words, not as an encoding error."""
    with pytest.raises(CalibrationError) as refused:
        parse_calibration(json.dumps({**GOOD, "version": "cal_\ud800"}), "x.json")
    assert "not UTF-8" not in str(refused.value)
    assert "byte-order" not in str(refused.value)


def test_a_json_error_is_named_with_the_parsers_reason() -> None:
    """The line names where the JSON broke (the parser's own position), cut at 200 characters."""
    with pytest.raises(CalibrationError) as refused:
        parse_calibration(b'{"version": "cal_1", "confidence_calibration": {"enabled": tru}}', "x.json")
    said = str(refused.value)
    assert said.startswith("x.json is not valid JSON: ")
    assert "line 1 column" in said
    assert len(said) <= len("x.json is not valid JSON: ") + 200
