"""A key file past every cap is refused as a *key* file, by the signer and by the trusted folder.

Why: ``load_private_key`` and ``trusted_keys`` first open the file to judge its owner and mode; that open
must already apply the key's 64 KiB cap (a file past the generic 256 MiB job cap is named by the wrong
kind otherwise). Real sparse files, so the test writes almost nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calpolicy.review.signing import SigningError, load_private_key, trusted_keys

HUGE = 300 * 1024 * 1024  # past the 256 MiB job cap; sparse


def _sparse(path: Path, mode: int) -> None:
    with path.open("wb") as handle:
        handle.truncate(HUGE)
    path.chmod(mode)


def test_a_huge_private_key_is_refused_as_a_key_file(tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    _sparse(key, 0o600)
    with pytest.raises(SigningError) as refused:
        load_private_key(key)
    assert str(refused.value) == (
        f"cannot read the signing key {key}: {key}: is {HUGE} bytes, more than the 65536 allowed for a key file"
    )


def test_a_huge_trusted_key_is_skipped_as_a_key_file(tmp_path: Path) -> None:
    folder = tmp_path / "trusted"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    _sparse(folder / "big.pub", 0o644)
    keys, skipped = trusted_keys(folder)
    assert keys == {}
    assert skipped == [f"big.pub: big.pub: is {HUGE} bytes, more than the 65536 allowed for a key file"]
