"""``Prefetch``: the read, digest and scan done ahead on the second core give exactly what the reader gives.

``check-data`` parses what a ``Prefetch`` hands it; every other caller reads through ``read_clm``. The two
must never differ: not in the digest the report signs, not in a single finding.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from calpolicy.clm.raw import Prefetch, read_raw
from calpolicy.clm.reader import parse_raw, read_clm
from calpolicy.clm.scan import scan_lines

DATA = Path(__file__).parent / "data"
FIXTURE_LOG = DATA / "mock_clm_trades.jsonl"


def _same(prefetched, direct) -> None:
    assert prefetched.sha256 == direct.sha256
    assert (prefetched.read_error, prefetched.reader, prefetched.line_count) == (
        direct.read_error,
        direct.reader,
        direct.line_count,
    )
    assert prefetched.parse_errors == direct.parse_errors
    assert {k: v.tolist() for k, v in prefetched.nulls.items()} == {k: v.tolist() for k, v in direct.nulls.items()}
    pd.testing.assert_frame_equal(prefetched.frame, direct.frame)


def _logs(tmp_path: Path) -> dict[str, Path]:
    clean = FIXTURE_LOG.read_bytes()
    lines = clean.splitlines(keepends=True)
    cases = {
        "clean": clean,
        "crlf": clean.replace(b"\n", b"\r\n"),
        "junk first": b"not json\n" + clean,
        "torn middle": b"".join([*lines[:10], lines[10][:40] + b"\n", *lines[11:]]),
        "blank line": b"".join([*lines[:5], b"\n", *lines[5:]]),
        "utf-16": clean.decode().encode("utf-16"),
        "empty": b"",
    }
    paths = {}
    for name, body in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        path.write_bytes(body)
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", ["clean", "crlf", "junk first", "torn middle", "blank line", "utf-16", "empty"])
def test_prefetched_log_equals_the_direct_read(tmp_path: Path, name: str) -> None:
    path = _logs(tmp_path)[name]
    raw = Prefetch(path).result()
    assert raw.data[:] == path.read_bytes()
    log = parse_raw(raw)
    _same(log, read_clm(path))
    assert log.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_scan_is_handed_over_only_for_a_file_that_opens_with_an_object(tmp_path: Path) -> None:
    paths = _logs(tmp_path)
    clean = Prefetch(paths["clean"]).result()
    assert clean.scan == scan_lines(paths["clean"].read_bytes())
    assert clean.scan is not None
    assert clean.scan.arrow_safe
    assert Prefetch(paths["junk first"]).result().scan is None


def test_a_read_refusal_comes_back_as_the_same_message(tmp_path: Path) -> None:
    missing, big = tmp_path / "nope.jsonl", tmp_path / "big.jsonl"
    big.write_bytes(FIXTURE_LOG.read_bytes())
    for path, limit in ((missing, None), (big, 100), (tmp_path, None)):
        raw = Prefetch(path, limit).result()
        assert raw.read_error == read_raw(path, limit).read_error
        assert raw.digest is None
        assert raw.scan is None
        _same(parse_raw(raw), read_clm(path, max_bytes=limit))


def test_a_failure_in_the_background_is_raised_in_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import calpolicy.clm.raw as raw_module

    def broken(*_: object) -> None:
        raise MemoryError("no room for the log")

    monkeypatch.setattr(raw_module, "read_raw", broken)
    with pytest.raises(MemoryError, match="no room for the log"):
        Prefetch(FIXTURE_LOG).result()


def test_a_digest_that_fails_fails_the_parse_not_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest is signed into the report: a hash that could not be computed must not become ''."""
    import calpolicy.clm.raw as raw_module

    class Unhashable:
        def __call__(self, data: bytes) -> object:
            raise ValueError("hash refused")

    monkeypatch.setattr(raw_module.hashlib, "sha256", Unhashable())  # the reader never hashes it again
    with pytest.raises(ValueError, match="hash refused"):
        parse_raw(Prefetch(FIXTURE_LOG).result())


def test_a_record_read_ahead_is_the_record_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    record = json.loads(FIXTURE_LOG.read_text().splitlines()[0])
    path.write_text(json.dumps(record) + "\n")
    log = parse_raw(Prefetch(path).result())
    assert log.reader == "fast"
    assert log.frame["confidence"].tolist() == [record["confidence"]]


def test_the_copy_read_is_untouched_when_the_log_is_truncated_or_rewritten(tmp_path: Path) -> None:
    """logrotate's copytruncate empties the log in place; a mapping of the log would then die of SIGBUS.
    The bytes ``read_raw`` returns are a copy: truncated, rewritten, removed, the log changes nothing in
    them, and what was read is what is hashed and parsed."""
    path = tmp_path / "clm.jsonl"
    body = FIXTURE_LOG.read_bytes()
    path.write_bytes(body)
    raw = read_raw(path)
    with path.open("r+b") as handle:
        handle.truncate(0)
    path.write_bytes(b"rotated\n")
    path.unlink()
    assert raw.data[:] == body
    log = parse_raw(raw)
    assert (log.reader, log.records, log.sha256) == ("fast", 52, hashlib.sha256(body).hexdigest())


def test_a_log_above_the_limit_is_refused_before_it_is_copied(tmp_path: Path) -> None:
    path = tmp_path / "clm.jsonl"
    path.write_bytes(FIXTURE_LOG.read_bytes())
    size = path.stat().st_size
    assert read_raw(path, size).data[:] == path.read_bytes()
    refused = read_raw(path, size - 1)
    assert refused.data == b""
    assert refused.read_error is not None
    assert "above the configured limit" in refused.read_error
