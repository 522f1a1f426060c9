"""Third held-out set of issue 21 for `doctor`: keys that have the right owner and mode but cannot be used.

`doctor` said OK for a signing key it only stat()ed (a PEM of an unknown algorithm, a FIFO with mode 0600)
and for a trusted folder that held a `.pub` verify cannot use: `run` and `verify` then failed where the
checklist's set-up check had said all was well (docs/heldout.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from calpolicy.cli.doctor import check_keys
from calpolicy.review.signing import generate_keypair
from calpolicy.vocabulary.config import load_config
from unit_tests.deploy.test_heldout3 import unknown_algorithm_pem


def test_an_unusable_signing_key_or_trusted_folder_is_a_fix(tmp_path: Path) -> None:
    key, trusted = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "trusted"
    generate_keypair(key, trusted)
    config = load_config(None, environ={}).with_overrides(
        {"signing.private_key": str(key), "signing.trusted_keys_dir": str(trusted)}, "test"
    )
    assert [c.status for c in check_keys(config)] == ["ok", "ok"]
    key.unlink()
    key.write_bytes(unknown_algorithm_pem(b"PRIVATE KEY"))
    key.chmod(0o600)
    for pub in trusted.glob("*.pub"):
        pub.unlink()
    (trusted / "other-tool.pub").write_bytes(unknown_algorithm_pem(b"PUBLIC KEY"))
    found = check_keys(config)
    assert [c.status for c in found] == ["fix", "fix"], found
    assert "cannot read the signing key" in found[0].detail
    assert "holds no *.pub key verify can use" in found[1].detail
    key.unlink()
    os.mkfifo(key, 0o600)
    assert check_keys(config)[0].status == "fix"  # a FIFO: refused at once, never waited on
