"""The calibration archive, in-process on real files (issue 21 §5: its mutants).

What rollback and approve see of it: which version names are accepted (and the exact refusal), the name a
config is archived under, that a different file under that name is never overwritten, and which archived
file ``find`` picks for a version — or the exact reason none is restored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calpolicy.apply.archive import (
    RESERVED,
    VERSION_PATTERN,
    ArchivedConfig,
    ArchiveError,
    archive_name,
    find,
    index,
    store,
    validate_version,
)


def cfg(version: object, **extra: object) -> bytes:
    return json.dumps({"version": version, **extra}).encode()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ============================================================================== validate_version


def refusal(raw: object) -> str:
    return (
        f"invalid version {raw!r}: use letters, digits, '_', '-' and '.', no '/' or '..' "
        "(e.g. cal_20260220_143022), or 'none'"
    )


@pytest.mark.parametrize(
    "raw",
    ["cal_20260220_143022", "a", "A", "0", "v1.2-rc_3", "a" * 128, "cal_X_backup_20260206_060303", "x.y", "a-", "Z9"],
)
def test_a_good_version_is_returned_as_given(raw: str) -> None:
    assert validate_version(raw) == raw


@pytest.mark.parametrize(
    "raw",
    ["", "a" * 129, "../x", "a/b", "a..b", "..", ".hidden", "-x", "_x", "a b", "a\nb", "a\n", "é", "a:b", "a\\b", "a*"],
)
def test_a_bad_version_is_refused_with_the_exact_words(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid version ") as raised:
        validate_version(raw)
    assert str(raised.value) == refusal(raw)


@pytest.mark.parametrize("raw", [None, 5, b"cal_x", ["cal_x"]])
def test_a_version_that_is_not_text_is_refused_not_crashed_on(raw: object) -> None:
    with pytest.raises(ValueError, match=r"^invalid version ") as raised:
        validate_version(raw)  # type: ignore[arg-type]
    assert str(raised.value) == refusal(raw)


@given(st.text(max_size=140))
def test_validate_version_accepts_exactly_the_documented_names(raw: str) -> None:
    ok = (
        0 < len(raw) <= 128
        and raw[0].isascii() and raw[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "_.-") for c in raw)
        and ".." not in raw
    )  # fmt: skip
    if ok:
        assert validate_version(raw) == raw
    else:
        with pytest.raises(ValueError, match=r"^invalid version "):
            validate_version(raw)


def test_the_reserved_words_and_the_pattern() -> None:
    assert sorted(RESERVED) == ["none", "previous"]
    assert VERSION_PATTERN.pattern == r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


# ============================================================================== archive_name / store


def test_a_config_is_archived_under_its_version_or_its_digest() -> None:
    assert archive_name("cal_1", b"x") == "calibration_cal_1.json"
    data = b"the bytes"
    assert archive_name("../etc/passwd", data) == f"calibration_unversioned_{digest(data)[:16]}.json"
    assert archive_name("cal_1\n", data) == f"calibration_unversioned_{digest(data)[:16]}.json"
    assert archive_name("a..b", data) == f"calibration_unversioned_{digest(data)[:16]}.json"


def test_store_writes_the_bytes_under_their_name_creating_the_folders(tmp_path: Path) -> None:
    archive = tmp_path / "deep" / "archive"
    data = cfg("cal_1")
    target = store(archive, "cal_1", data)
    assert target == archive / "calibration_cal_1.json"
    assert target.read_bytes() == data
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_store_of_the_same_bytes_again_keeps_the_file(tmp_path: Path) -> None:
    data = cfg("cal_1")
    first = store(tmp_path, "cal_1", data)
    inode = first.stat().st_ino
    assert store(tmp_path, "cal_1", data) == first
    assert first.stat().st_ino == inode  # not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration_cal_1.json"]


def test_store_never_overwrites_a_different_file_under_the_name(tmp_path: Path) -> None:
    other = cfg("cal_1", note="someone else's")
    (tmp_path / "calibration_cal_1.json").write_bytes(other)
    data = cfg("cal_1")
    target = store(tmp_path, "cal_1", data)
    assert target == tmp_path / f"calibration_cal_1_{digest(data)[:12]}.json"
    assert target.read_bytes() == data
    assert (tmp_path / "calibration_cal_1.json").read_bytes() == other
    assert store(tmp_path, "cal_1", data) == target  # and the second time finds its own copy


def test_store_beside_a_fifo_or_a_folder_in_the_names_place(tmp_path: Path) -> None:
    data = cfg("cal_1")
    os.mkfifo(tmp_path / "calibration_cal_1.json")
    target = store(tmp_path, "cal_1", data)  # never blocks on the FIFO, never writes into it
    assert target == tmp_path / f"calibration_cal_1_{digest(data)[:12]}.json"
    assert target.read_bytes() == data
    (tmp_path / "calibration_cal_2.json").mkdir()
    data2 = cfg("cal_2")
    assert store(tmp_path, "cal_2", data2).read_bytes() == data2


def test_store_replaces_a_symlink_in_the_suffixed_place_never_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    data = cfg("cal_1")
    (tmp_path / "calibration_cal_1.json").write_bytes(b"another")
    suffixed = tmp_path / f"calibration_cal_1_{digest(data)[:12]}.json"
    suffixed.symlink_to(victim)
    assert store(tmp_path, "cal_1", data) == suffixed
    assert not suffixed.is_symlink()
    assert suffixed.read_bytes() == data
    assert victim.read_bytes() == b"keep"


def test_store_of_an_unsafe_version_uses_the_digest_name(tmp_path: Path) -> None:
    data = cfg("../x")
    assert store(tmp_path, "../x", data) == tmp_path / f"calibration_unversioned_{digest(data)[:16]}.json"


# ============================================================================== index


def test_index_lists_every_valid_config_sorted_by_name(tmp_path: Path) -> None:
    assert index(tmp_path / "absent") == []
    (tmp_path / "b.json").write_bytes(cfg("vb"))
    (tmp_path / "a.json").write_bytes(cfg("va"))
    (tmp_path / "c.json").write_bytes(b"{not json")
    (tmp_path / "d.json").write_bytes(cfg(5))
    (tmp_path / "e.txt").write_bytes(cfg("ve"))  # not a .json
    (tmp_path / "f.json").symlink_to(tmp_path / "a.json")
    os.mkfifo(tmp_path / "g.json")
    (tmp_path / "h.json").write_bytes(b"[" * 100_000)
    assert index(tmp_path) == [
        ArchivedConfig(tmp_path / "a.json", "va", digest(cfg("va"))),
        ArchivedConfig(tmp_path / "b.json", "vb", digest(cfg("vb"))),
    ]


def test_index_of_a_file_in_the_archives_place_is_empty(tmp_path: Path) -> None:
    (tmp_path / "archive").write_bytes(cfg("x"))
    assert index(tmp_path / "archive") == []


# ============================================================================== find


def test_find_prefers_the_file_named_as_asked(tmp_path: Path) -> None:
    (tmp_path / "cal_X_backup_1.json").write_bytes(cfg("cal_W"))  # the old tool: previous config, new name
    (tmp_path / "calibration_cal_X_backup_1.json").write_bytes(cfg("cal_X_backup_1"))
    found = find(tmp_path, "cal_X_backup_1")
    assert found == ArchivedConfig(tmp_path / "cal_X_backup_1.json", "cal_W", digest(cfg("cal_W")))


def test_find_takes_calibration_v_then_v_deployed_only_when_they_hold_v(tmp_path: Path) -> None:
    (tmp_path / "calibration_cal_V.json").write_bytes(cfg("cal_other"))  # named for V, holds another
    (tmp_path / "cal_V_deployed.json").write_bytes(cfg("cal_V", n=1))
    assert find(tmp_path, "cal_V").path == tmp_path / "cal_V_deployed.json"
    (tmp_path / "calibration_cal_V.json").write_bytes(cfg("cal_V", n=2))
    assert find(tmp_path, "cal_V").path == tmp_path / "calibration_cal_V.json"


def test_find_falls_back_to_any_file_holding_the_version(tmp_path: Path) -> None:
    (tmp_path / "cal_Y_backup_20260206_060303.json").write_bytes(cfg("cal_V"))
    (tmp_path / "zz.json").write_bytes(cfg("cal_V", n=2))
    (tmp_path / "calibration_cal_V.json").write_bytes(cfg("cal_other"))
    found = find(tmp_path, "cal_V")
    assert found.path == tmp_path / "cal_Y_backup_20260206_060303.json"  # the first by name
    assert found.version == "cal_V"


def test_find_passes_over_a_file_that_claims_the_version_but_does_not_validate(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(cfg("cal_V", confidence_calibration={"enabled": True}))  # no mapping
    (tmp_path / "b.json").write_bytes(cfg("cal_V"))
    assert find(tmp_path, "cal_V").path == tmp_path / "b.json"


def test_find_refuses_a_bad_version_before_looking(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^invalid version '\.\./x'"):
        find(tmp_path, "../x")


def test_find_with_nothing_archived_names_the_folder_and_none(tmp_path: Path) -> None:
    for archive in (tmp_path / "absent", tmp_path):
        with pytest.raises(ArchiveError) as raised:
            find(archive, "cal_V")
        assert str(raised.value) == f"no archived config for version cal_V in {archive} (archived versions: none)"


def test_find_without_the_version_lists_the_versions_there_sorted_once(tmp_path: Path) -> None:
    (tmp_path / "1.json").write_bytes(cfg("cal_B"))
    (tmp_path / "2.json").write_bytes(cfg("cal_A"))
    (tmp_path / "3.json").write_bytes(cfg("cal_B", n=1))
    (tmp_path / "4.json").write_bytes(b"[]")
    (tmp_path / "5.json").write_bytes(cfg(""))
    (tmp_path / "6.json").write_bytes(cfg(5))  # a version that is not text is no archived version
    (tmp_path / "7.json").write_bytes(cfg(["cal_V"]))
    with pytest.raises(ArchiveError) as raised:
        find(tmp_path, "cal_V")
    assert str(raised.value) == f"no archived config for version cal_V in {tmp_path} (archived versions: cal_A, cal_B)"
    assert isinstance(raised.value, RuntimeError)


def test_find_says_why_the_claiming_files_do_not_validate(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(cfg("cal_V", confidence_calibration={"enabled": True}))
    (tmp_path / "calibration_cal_V.json").write_bytes(b'{"version": "cal_other", "confidence_calibration": 5}')
    (tmp_path / "cal_V_deployed.json").symlink_to(tmp_path / "a.json")
    (tmp_path / "z.json").write_bytes(cfg("cal_V", confidence_calibration={"enabled": "yes"}))
    with pytest.raises(ArchiveError) as raised:
        find(tmp_path, "cal_V")
    assert str(raised.value) == (
        "no archived config for version cal_V that validates, so none is restored ("
        "a.json: a.json: confidence_calibration is enabled but has no mapping; "
        "cal_V_deployed.json: is a symbolic link; refusing to follow it; "
        "calibration_cal_V.json: calibration_cal_V.json: 'confidence_calibration' must be an object, got 5)"
    )


def test_find_says_a_named_file_that_validates_with_another_version_does_not_match(tmp_path: Path) -> None:
    (tmp_path / "calibration_cal_V.json").write_bytes(cfg("cal_other"))
    with pytest.raises(ArchiveError) as raised:
        find(tmp_path, "cal_V")
    assert str(raised.value) == (
        "no archived config for version cal_V that validates, so none is restored "
        "(calibration_cal_V.json: its version does not match)"
    )


def test_find_cuts_each_reason_at_300_characters(tmp_path: Path) -> None:
    name = "x" * 250 + ".json"  # the parser's reason starts with the file's name: 250 + 50 characters
    (tmp_path / name).write_bytes(cfg("cal_V", confidence_calibration={"enabled": True}))
    with pytest.raises(ArchiveError) as raised:
        find(tmp_path, "cal_V")
    reason = str(raised.value).split(f"({name}: ", 1)[1][:-1]
    assert reason == f"{name}: confidence_calibration is enabled but has no mapping"[:300]
    assert len(reason) == 300
