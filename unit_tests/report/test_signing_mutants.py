"""signing.py, all of it, in-process on a real signed job folder built in milliseconds (issue 21 §5).

Every test here builds its own job (``signed``: function-scoped, real files, a real Ed25519 key made by
``generate_keypair``, signed by ``sign_job``) so that mutation testing can run them against each mutant.
The end-to-end tests over a job made by a real child pytest run stay in ``test_signing.py``. Messages are
compared whole: they are what the operator reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from calpolicy.jobs import read_job_files
from calpolicy.review import signing
from calpolicy.review.signing import (
    MANIFEST,
    PAYLOAD_TYPE,
    SIGNATURE,
    STATEMENT,
    SigningError,
    canonical_json,
    generate_keypair,
    keyid_of,
    load_private_key,
    manifest_view,
    pae,
    read_outcomes,
    sha256_file,
    trusted_keys,
    verify_job,
)
from unit_tests.report.signedjob import (
    CLM_BYTES,
    CONFIG_JSON,
    JOB_ID,
    POLICY_FILE,
    SignedJob,
    make_signed_job,
)

EVERY_FILE = ["manifest.json", "policy_results.jsonl", "preflight_results.jsonl", "proposal.json", "reliability.png",
              "report.md"]  # fmt: skip


@pytest.fixture
def signed(tmp_path: Path) -> SignedJob:
    return make_signed_job(tmp_path)


def _problems(job: SignedJob, folder: Path | None = None, **kwargs: object) -> list[str]:
    kwargs.setdefault("clm_path", job.clm)
    result = verify_job(folder or job.dir, kwargs.pop("trusted", job.trusted), **kwargs)  # type: ignore[arg-type]
    assert result.ok == (not result.problems)
    return result.problems


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _envelope(job: SignedJob) -> dict:
    return json.loads((job.dir / SIGNATURE).read_bytes())


def _write_envelope(job: SignedJob, envelope: object) -> None:
    (job.dir / SIGNATURE).write_bytes(json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode())


def _resign_payload(job: SignedJob, statement: bytes, payload_type: str = PAYLOAD_TYPE) -> None:
    """statement.json and statement.sig for ``statement``, signed by the job's own trusted key."""
    key = load_private_key(job.key)
    sig = key.sign(b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(statement), statement))
    signature = {"keyid": keyid_of(key.public_key()), "sig": base64.b64encode(sig).decode()}
    envelope = {"payloadType": payload_type, "payload": base64.b64encode(statement).decode(), "signatures": [signature]}
    (job.dir / STATEMENT).write_bytes(statement)
    _write_envelope(job, envelope)


# ---------------------------------------------------------------------------------- what sign writes


def test_a_fresh_job_verifies_and_every_file_is_checked(signed: SignedJob) -> None:
    result = verify_job(signed.dir, signed.trusted, clm_path=signed.clm)
    assert result.ok is True
    assert result.problems == []
    assert result.checked == EVERY_FILE
    assert result.keyid == keyid_of(load_private_key(signed.key).public_key())
    assert verify_job(signed.dir, signed.trusted).ok is True  # without the CLM log too


def test_the_statement_holds_exactly_what_was_signed(signed: SignedJob) -> None:
    data = {p.name: p.read_bytes() for p in signed.dir.iterdir()}
    statement = json.loads(data[STATEMENT])
    manifest = json.loads(data[MANIFEST])
    view = {k: v for k, v in manifest.items() if k not in ("state", "approval", "applied_version", "rolled_back_to")}
    view_bytes = json.dumps(view, sort_keys=True, separators=(",", ":")).encode()
    expected = {
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": "https://calpolicy/job-statement/v1",
        "subject": [{"name": n, "digest": {"sha256": _sha(data[n])}, "bytes": len(data[n])} for n in EVERY_FILE],
        "predicate": {
            "job_id": JOB_ID,
            "clm": {"path": str(signed.clm), "bytes": len(CLM_BYTES), "lines": 5, "sha256": _sha(CLM_BYTES)},
            "config": {"sha256": _sha(CONFIG_JSON.encode())},
            "manifest": {
                "history_len": 1,
                "signed_view_sha256": _sha(view_bytes),
                "mutable_keys": ["state", "approval", "applied_version", "rolled_back_to"],
            },
            "policy_tests": [  # in the order of their paths
                {"name": name, "sha256": _sha(path.read_bytes())}
                for path, name in sorted(
                    [(POLICY_FILE, "policy_tests/phase0/__init__.py"), (signed.site_test, str(signed.site_test))]
                )
            ],
            "outcomes": [
                {
                    "file": "preflight_results.jsonl",
                    "ids": ["CLM.parse"],
                    "outcome": "pass",
                    "nodeid": "policy_tests/phase0/test_clm_integrity.py::test_data_item[CLM.parse]",
                },
                {
                    "file": "preflight_results.jsonl",
                    "nodeid": "p0::b",
                    "ids": ["CLM.schema", "CLM.dup"],
                    "outcome": "waived",
                },
                {"file": "policy_results.jsonl", "nodeid": "p2::a", "ids": ["P2.1"], "outcome": "pass"},
                {"file": "policy_results.jsonl", "nodeid": "p3::b", "ids": [], "outcome": "fail"},
            ],
        },
    }
    assert statement == expected
    # canonical bytes, indented by one for a human reader, with a final newline
    assert data[STATEMENT] == (json.dumps(expected, sort_keys=True, indent=1, separators=(",", ": ")) + "\n").encode()


def test_the_envelope_is_dsse_over_the_statement_bytes(signed: SignedJob) -> None:
    raw = (signed.dir / SIGNATURE).read_bytes()
    envelope = json.loads(raw)
    assert raw == json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()  # compact, no newline
    assert set(envelope) == {"payloadType", "payload", "signatures"}
    assert envelope["payloadType"] == "application/vnd.calpolicy.statement+json"
    statement = (signed.dir / STATEMENT).read_bytes()
    assert base64.b64decode(envelope["payload"]) == statement
    (only,) = envelope["signatures"]
    public = load_private_key(signed.key).public_key()
    assert only["keyid"] == _sha(_raw_public(public))
    pae_bytes = b"DSSEv1 40 application/vnd.calpolicy.statement+json %d %s" % (len(statement), statement)
    public.verify(base64.b64decode(only["sig"]), pae_bytes)  # raises if it is not a signature over the PAE


def test_pae_is_dsse_v1() -> None:
    assert pae("t", b"ab") == b"DSSEv1 1 t 2 ab"
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )  # the DSSE specification's own example
    assert pae("é", b"") == b"DSSEv1 2 \xc3\xa9 0 "


def test_canonical_json_is_sorted_compact_ascii_and_refuses_nan() -> None:
    assert canonical_json({"b": [1, 2], "a": "é"}) == b'{"a":"\\u00e9","b":[1,2]}'
    indented = b'{\n "a": {\n  "c": 3,\n  "d": 2\n },\n "b": 1\n}\n'
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}, indent=1) == indented
    assert canonical_json([], indent=0) == b"[]\n"
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"x": float("nan")})


def test_manifest_view_leaves_out_the_mutable_keys_and_cuts_the_history() -> None:
    manifest = {"job_id": "j", "state": "applied", "approval": {"by": "k"}, "applied_version": "v2",
                "rolled_back_to": "v1", "history": [{"n": 1}, {"n": 2}, {"n": 3}], "operator": "ana"}  # fmt: skip
    assert manifest_view(manifest, 2) == b'{"history":[{"n":1},{"n":2}],"job_id":"j","operator":"ana"}'
    assert manifest_view({"job_id": "j", "history": None}, 3) == b'{"history":[],"job_id":"j"}'
    assert manifest_view({"job_id": "j"}, 0) == b'{"history":[],"job_id":"j"}'


def test_signing_leaves_out_the_owner_marker_of_an_unpublished_job(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    (job.dir / ".owner").write_text("4242\n")
    job.sign()
    names = [s["name"] for s in json.loads((job.dir / STATEMENT).read_bytes())["subject"]]
    assert names == EVERY_FILE
    assert _problems(job) == [".owner is an unexpected extra file (not in the signed statement)"]
    (job.dir / ".owner").unlink()
    assert _problems(job) == []


def test_signing_again_covers_the_old_statement_files_only_as_replaced(signed: SignedJob) -> None:
    """A job signed twice: the statement never lists statement.json or statement.sig as subjects."""
    signed.sign()
    names = [s["name"] for s in json.loads((signed.dir / STATEMENT).read_bytes())["subject"]]
    assert names == EVERY_FILE
    assert _problems(signed) == []


# --------------------------------------------------------------------------------- what sign refuses


def test_sign_refuses_an_entry_that_is_not_a_regular_file(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    os.mkfifo(job.dir / "zz_pipe")
    (job.dir / "aa_dir").mkdir()
    with pytest.raises(SigningError) as raised:
        job.sign()
    assert str(raised.value) == (
        f"{job.dir / 'aa_dir'} is not a regular file (is a folder): a job folder holds only regular files"
    )
    assert not (job.dir / STATEMENT).exists()
    assert not (job.dir / SIGNATURE).exists()


@pytest.mark.parametrize(
    ("manifest", "why"),
    [(None, "'manifest.json'"), (b"[1, 2]", "not a JSON object"), (b"{", None), (b"[" * 100_000, None)],
    ids=["missing", "a_list", "not_json", "too_deep"],
)
def test_sign_refuses_a_job_without_a_readable_manifest(tmp_path: Path, manifest: bytes | None, why: str) -> None:
    job = make_signed_job(tmp_path, sign=False)
    if manifest is None:
        (job.dir / MANIFEST).unlink()
    else:
        (job.dir / MANIFEST).write_bytes(manifest)
    with pytest.raises(SigningError) as raised:
        job.sign()
    assert str(raised.value).startswith(f"cannot read {job.dir / MANIFEST}: ")
    if why:
        assert str(raised.value) == f"cannot read {job.dir / MANIFEST}: {why}"
    assert not (job.dir / STATEMENT).exists()


def test_sign_refuses_a_missing_folder_with_the_job_stores_words(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    with pytest.raises(SigningError) as raised:
        job.sign(tmp_path / "jobs" / "cal_20260102_030406")
    missing = tmp_path / "jobs" / "cal_20260102_030406"
    assert str(raised.value) == f"cannot read the job folder: {missing} does not exist"


def test_sign_refuses_a_clm_log_that_no_longer_starts_with_the_analysed_bytes(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    job.clm.write_bytes(b"X" + CLM_BYTES[1:] + b"more\n")
    changed = _sha(b"X" + CLM_BYTES[1:])
    with pytest.raises(SigningError) as raised:
        job.sign()
    assert str(raised.value) == (
        f"the CLM log {job.clm} no longer starts with the bytes this job analysed (sha256 of its first "
        f"{len(CLM_BYTES)} bytes is {changed}, the manifest says {_sha(CLM_BYTES)})"
    )
    assert not (job.dir / STATEMENT).exists()


def test_sign_refuses_an_unreadable_clm_log(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    job.clm.unlink()
    job.clm.mkdir()
    with pytest.raises(SigningError) as raised:
        job.sign()
    assert str(raised.value) == f"cannot read the CLM log {job.clm}: {job.clm} is not a regular file"
    job.clm.rmdir()
    with pytest.raises(SigningError) as raised:
        job.sign()
    assert str(raised.value) == f"cannot read the CLM log {job.clm}: No such file or directory"


def test_sign_without_analysed_bytes_or_digest_reads_the_whole_log(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False, clm={"bytes": "all", "sha256": ""}, config_digest=None)
    job.sign(config_json='{"other": 1}')
    clm = json.loads((job.dir / STATEMENT).read_bytes())["predicate"]["clm"]
    whole = job.clm.read_bytes()
    assert (clm["bytes"], clm["lines"], clm["sha256"]) == (len(whole), 6, _sha(whole))
    assert _problems(job) == []


def test_sign_refuses_a_config_other_than_the_jobs(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    with pytest.raises(SigningError) as raised:
        job.sign(config_json=CONFIG_JSON + " ")
    assert str(raised.value) == "the effective config given to sign differs from the one the job's manifest records"


def test_sign_refuses_an_unreadable_policy_test_file(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    gone = tmp_path / "gone.py"
    with pytest.raises(SigningError) as raised:
        job.sign(policy_test_files=[gone])
    assert str(raised.value) == f"cannot read a policy test file: [Errno 2] No such file or directory: '{gone}'"


def test_policy_test_files_are_signed_sorted_and_named_inside_the_suite(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False)
    late = tmp_path / "zz" / "test_late.py"
    late.parent.mkdir()
    late.write_text("")
    job.sign(policy_test_files=[str(late), str(job.site_test), POLICY_FILE.parent / ".." / "phase0" / "__init__.py"])
    names = [e["name"] for e in json.loads((job.dir / STATEMENT).read_bytes())["predicate"]["policy_tests"]]
    suite = (POLICY_FILE, "policy_tests/phase0/__init__.py")
    assert names == [n for _, n in sorted([(job.site_test, str(job.site_test)), (late, str(late)), suite])]
    assert _problems(job) == []


# ------------------------------------------------------------------------------------------ outcomes


def test_read_outcomes_from_a_folder_and_its_words_on_bad_lines(signed: SignedJob) -> None:
    from_folder = read_outcomes(signed.dir)
    assert from_folder == read_outcomes(read_job_files(signed.dir))
    assert [o["outcome"] for o in from_folder] == ["pass", "waived", "pass", "fail"]
    (signed.dir / "policy_results.jsonl").write_bytes(b'{"outcome": "pass", "status": "fail", "controls": ["X"]}\n')
    assert read_outcomes(signed.dir)[-1] == {"file": "policy_results.jsonl", "nodeid": None, "ids": ["X"],
                                             "outcome": "pass"}  # fmt: skip
    (signed.dir / "policy_results.jsonl").write_bytes(b'{"ids": null, "controls": ["X"]}\n')
    assert read_outcomes(signed.dir)[-1]["ids"] == []
    (signed.dir / "policy_results.jsonl").write_bytes(b'{"ids": ["A"]}\n\n  \n[1]\n')
    with pytest.raises(SigningError) as raised:
        read_outcomes(signed.dir)
    assert str(raised.value) == "policy_results.jsonl line 4 is not a JSON object"
    (signed.dir / "preflight_results.jsonl").write_bytes(b'{"status": "pass"}\n\xff{\n')
    with pytest.raises(SigningError) as raised:
        read_outcomes(signed.dir)
    assert str(raised.value).startswith("preflight_results.jsonl line 2 is not JSON: ")
    (signed.dir / "preflight_results.jsonl").write_bytes(b"[" * 100_000 + b"\n")
    with pytest.raises(SigningError, match=r"^preflight_results.jsonl line 1 is not JSON: "):
        read_outcomes(signed.dir)
    for name in ("preflight_results.jsonl", "policy_results.jsonl"):
        (signed.dir / name).unlink()
    assert read_outcomes(signed.dir) == []


def test_read_outcomes_refuses_an_unreadable_folder(tmp_path: Path) -> None:
    with pytest.raises(SigningError) as raised:
        read_outcomes(tmp_path / "none")
    assert str(raised.value) == f"cannot read the job folder: {tmp_path / 'none'} does not exist"


# --------------------------------------------------------------------------------------------- keys


def test_keygen_writes_a_0600_pem_and_a_public_key_named_by_its_id(tmp_path: Path) -> None:
    private = tmp_path / "deep" / "keys" / "signing.key"
    public_path = generate_keypair(private, tmp_path / "pub" / "trusted")
    key = load_private_key(private)
    keyid = _sha(_raw_public(key.public_key()))
    assert public_path == tmp_path / "pub" / "trusted" / f"{keyid[:16]}.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(public_path.parent.stat().st_mode) == 0o755
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    public = serialization.load_pem_public_key(public_path.read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    assert _raw_public(public) == _raw_public(key.public_key())
    keys, skipped = trusted_keys(public_path.parent)
    assert list(keys) == [keyid]
    assert skipped == []


def test_keygen_never_overwrites_a_key_or_a_link(tmp_path: Path) -> None:
    private = tmp_path / "signing.key"
    generate_keypair(private, tmp_path / "t")
    before = private.read_bytes()
    with pytest.raises(SigningError) as raised:
        generate_keypair(private, tmp_path / "t")
    assert str(raised.value) == f"refusing to overwrite the existing private key {private}"
    assert private.read_bytes() == before
    dangling = tmp_path / "dangling.key"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(SigningError) as raised:
        generate_keypair(dangling, tmp_path / "t")
    assert str(raised.value) == f"refusing to overwrite the existing private key {dangling}"
    assert not (tmp_path / "nowhere").exists()
    assert len(list((tmp_path / "t").iterdir())) == 1


def test_keygen_makes_a_key_the_umask_cannot_open_up(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        private = tmp_path / "k" / "signing.key"
        generate_keypair(private, tmp_path / "t")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o755


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_a_private_key_nobody_else_can_read_signs(tmp_path: Path, mode: int) -> None:
    job = make_signed_job(tmp_path, sign=False)
    os.chmod(job.key, mode)
    job.sign()
    assert _problems(job) == []


@pytest.mark.parametrize("mode", [0o601, 0o602, 0o604, 0o610, 0o620, 0o640, 0o644])
def test_a_private_key_anybody_else_can_touch_does_not_sign(tmp_path: Path, mode: int) -> None:
    job = make_signed_job(tmp_path, sign=False)
    os.chmod(job.key, mode)
    with pytest.raises(SigningError) as raised:
        job.sign()
    assert str(raised.value) == (
        f"refusing to sign with the private key: {job.key} is readable or writable by its group or others "
        f"(mode {mode:o}); chmod 600 it"
    )
    assert not (job.dir / STATEMENT).exists()


@pytest.mark.parametrize("uid", [1, 4242])
def test_a_private_key_owned_by_another_user_does_not_sign(tmp_path: Path, uid: int) -> None:
    job = make_signed_job(tmp_path, sign=False)
    os.chown(job.key, uid, uid)
    with pytest.raises(SigningError) as raised:
        job.sign()
    assert str(raised.value) == (
        f"refusing to sign with the private key: {job.key} is owned by uid {uid}, not by the running user "
        f"({os.geteuid()}) or root"
    )


def test_load_private_key_says_what_is_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "none.key"
    with pytest.raises(SigningError) as raised:
        load_private_key(missing)
    assert str(raised.value) == f"no signing key at {missing}: run `calpolicy keygen` first"
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    os.chmod(garbage, 0o600)
    with pytest.raises(SigningError) as raised:
        load_private_key(garbage)
    assert str(raised.value).startswith(f"cannot read the signing key {garbage}: ")
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(SigningError) as raised:
        load_private_key(fifo)
    assert str(raised.value) == (
        f"cannot read the signing key {fifo}: {fifo}: is a FIFO (named pipe), not a regular file"
    )
    other = tmp_path / "x25519.key"
    other.write_bytes(X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    os.chmod(other, 0o600)
    with pytest.raises(SigningError) as raised:
        load_private_key(other)
    assert str(raised.value) == f"{other} is not an Ed25519 private key"
    good = tmp_path / "k" / "good.key"
    generate_keypair(good, tmp_path / "t")
    assert isinstance(load_private_key(str(good)), Ed25519PrivateKey)  # a str path is taken too


def _pem_public(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def test_trusted_keys_takes_ed25519_pub_files_and_names_every_one_it_skips(tmp_path: Path) -> None:
    folder = tmp_path / "trusted"
    first = generate_keypair(tmp_path / "a.key", folder)
    second = generate_keypair(tmp_path / "b.key", folder)
    (folder / "README").write_text("not a key, not a .pub: ignored\n")
    (folder / "x.pub").write_bytes(_pem_public(X25519PrivateKey.generate().public_key()))
    (folder / "g.pub").write_bytes(b"garbage")
    (folder / "w.pub").write_bytes(first.read_bytes())
    os.chmod(folder / "w.pub", 0o646)
    (folder / "l.pub").symlink_to(second)
    keys, skipped = trusted_keys(folder)
    ids = sorted(_sha(_raw_public(load_private_key(tmp_path / n).public_key())) for n in ("a.key", "b.key"))
    assert sorted(keys) == ids
    assert all(isinstance(k, Ed25519PublicKey) and keyid_of(k) == i for i, k in keys.items())
    assert [s.split(":")[0] for s in skipped] == ["g.pub", "l.pub", "w.pub", "x.pub"]  # sorted, each once
    assert skipped[1] == "l.pub: l.pub: is a symbolic link; refusing to follow it"
    assert skipped[2] == (
        f"w.pub: refused: {folder / 'w.pub'} is writable by its group or others (mode 646); chmod go-w it"
    )
    assert skipped[3] == "x.pub: not an Ed25519 key"


@pytest.mark.parametrize("mode", [0o644, 0o444, 0o755])
def test_a_trusted_key_nobody_else_can_write_is_trusted(signed: SignedJob, mode: int) -> None:
    pub = next(signed.trusted.glob("*.pub"))
    os.chmod(pub, mode)
    assert _problems(signed) == []


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_a_trusted_key_others_can_write_is_not_trusted(signed: SignedJob, mode: int) -> None:
    pub = next(signed.trusted.glob("*.pub"))
    os.chmod(pub, mode)
    keyid = _envelope(signed)["signatures"][0]["keyid"]
    assert _problems(signed) == [
        f"{SIGNATURE}: the signer {keyid[:16]} is not trusted (no matching public key in {signed.trusted}; "
        f"trusted: none; refused or unreadable key files: {pub.name}: refused: {pub} is writable by its group or "
        f"others (mode {mode:o}); chmod go-w it)"
    ]


@pytest.mark.parametrize("uid", [1, 4242])
def test_a_trusted_key_or_folder_of_another_user_is_not_trusted(signed: SignedJob, uid: int) -> None:
    pub = next(signed.trusted.glob("*.pub"))
    os.chown(pub, uid, uid)
    keyid = _envelope(signed)["signatures"][0]["keyid"][:16]
    assert _problems(signed) == [
        f"{SIGNATURE}: the signer {keyid} is not trusted (no matching public key in {signed.trusted}; trusted: none; "
        f"refused or unreadable key files: {pub.name}: refused: {pub} is owned by uid {uid}, not by the running "
        f"user ({os.geteuid()}) or root)"
    ]
    os.chown(pub, 0, 0)
    os.chown(signed.trusted, uid, uid)
    assert _problems(signed) == [
        f"{SIGNATURE}: the signer {keyid} is not trusted (no matching public key in {signed.trusted}; trusted: none; "
        f"refused or unreadable key files: the trusted keys folder is refused: {signed.trusted} is owned by uid "
        f"{uid}, not by the running user ({os.geteuid()}) or root)"
    ]


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o1777])
def test_a_trusted_folder_others_can_write_is_refused_whole(signed: SignedJob, mode: int) -> None:
    os.chmod(signed.trusted, mode)
    keys, skipped = trusted_keys(signed.trusted)
    assert keys == {}
    shown = f"{stat.S_IMODE(signed.trusted.stat().st_mode):o}"
    assert skipped == [
        f"the trusted keys folder is refused: {signed.trusted} is writable by its group or others (mode {shown}); "
        "chmod go-w it"
    ]


def test_a_missing_or_swapped_trusted_folder_trusts_nobody(signed: SignedJob, tmp_path: Path) -> None:
    keyid = _envelope(signed)["signatures"][0]["keyid"][:16]
    none = tmp_path / "none"
    assert trusted_keys(none) == ({}, [f"the trusted keys folder: {none} does not exist"])
    assert _problems(signed, trusted=none) == [
        f"{SIGNATURE}: the signer {keyid} is not trusted (no matching public key in {none}; trusted: none; "
        f"refused or unreadable key files: the trusted keys folder: {none} does not exist)"
    ]
    link = tmp_path / "link"
    link.symlink_to(signed.trusted)
    assert trusted_keys(link) == (
        {}, [f"the trusted keys folder: {link}: is not a folder (a symbolic link or a file is in its place)"]
    )  # fmt: skip


def test_an_untrusted_signer_is_named_with_the_keys_that_are_trusted(signed: SignedJob, tmp_path: Path) -> None:
    others = tmp_path / "others"
    one = generate_keypair(tmp_path / "o1.key", others)
    two = generate_keypair(tmp_path / "o2.key", others)
    keyid = _envelope(signed)["signatures"][0]["keyid"][:16]
    known = ", ".join(sorted([one.stem, two.stem]))
    assert _problems(signed, trusted=others) == [
        f"{SIGNATURE}: the signer {keyid} is not trusted (no matching public key in {others}; trusted: {known})"
    ]


# ------------------------------------------------------------------------------------------ digests


def test_sha256_file_counts_bytes_and_lines_up_to_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = b"a\nbb\n" * ((3 << 20) // 5) + b"tail"
    path.write_bytes(data)
    assert sha256_file(path) == (_sha(data), len(data), data.count(b"\n"))
    assert sha256_file(path, 7) == (_sha(data[:7]), 7, 3)
    assert sha256_file(path, 0) == (_sha(b""), 0, 0)
    big = (1 << 20) + 3
    assert sha256_file(path, big) == (_sha(data[:big]), big, data[:big].count(b"\n"))
    assert sha256_file(path, len(data) + 100) == (_sha(data), len(data), data.count(b"\n"))
    assert sha256_file(str(path), 3)[1] == 3


def test_sha256_file_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="is not a regular file") as raised:
        sha256_file(fifo)  # never blocks
    assert raised.value.strerror == f"{fifo} is not a regular file"
    assert raised.value.filename == str(fifo)
    with pytest.raises(OSError, match="is not a regular file") as raised:
        sha256_file(tmp_path)
    assert raised.value.strerror == f"{tmp_path} is not a regular file"
    link = tmp_path / "link"
    link.symlink_to(fifo)
    with pytest.raises(OSError, match="is not a regular file"):
        sha256_file(link)


def test_default_policy_test_files_are_the_installed_suites_python_files() -> None:
    files = signing.default_policy_test_files()
    root = POLICY_FILE.parent.parent
    expected = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    assert files == expected
    assert POLICY_FILE in files
    assert all(p.suffix == ".py" for p in files)


# ------------------------------------------------------------------------------------ what verify says


def test_a_changed_file_is_named_with_its_digest(signed: SignedJob) -> None:
    changed = b"# GO, trust me\n"
    (signed.dir / "report.md").write_bytes(changed)
    assert _problems(signed) == [f"report.md does not match the signed statement (sha256 {_sha(changed)[:16]}…)"]


def test_missing_and_extra_files_are_each_named_once_in_order(signed: SignedJob) -> None:
    (signed.dir / "report.md").unlink()
    (signed.dir / "proposal.json").unlink()
    (signed.dir / "zz.txt").write_text("x")
    (signed.dir / "aa.txt").write_text("x")
    assert _problems(signed) == [
        "proposal.json is missing from the job folder",
        "report.md is missing from the job folder",
        "aa.txt is an unexpected extra file (not in the signed statement)",
        "zz.txt is an unexpected extra file (not in the signed statement)",
    ]
    left = [n for n in EVERY_FILE if n not in ("report.md", "proposal.json")]
    assert verify_job(signed.dir, signed.trusted).checked == left


def test_a_signed_file_replaced_by_a_folder_or_link_is_named_once(signed: SignedJob, tmp_path: Path) -> None:
    (signed.dir / "report.md").unlink()
    (signed.dir / "report.md").mkdir()
    keep = tmp_path / "proposal.json"
    keep.write_bytes((signed.dir / "proposal.json").read_bytes())
    (signed.dir / "proposal.json").unlink()
    (signed.dir / "proposal.json").symlink_to(keep)
    os.mkfifo(signed.dir / "zpipe")
    assert _problems(signed) == [
        "proposal.json is not a regular file (a symlink or a folder was put in its place)",
        "report.md is not a regular file (a symlink or a folder was put in its place)",
        "zpipe is a FIFO (named pipe): an unexpected extra entry (not in the signed statement)",
    ]


def test_the_statement_or_signature_as_an_odd_entry_is_named_once(signed: SignedJob) -> None:
    (signed.dir / STATEMENT).unlink()
    (signed.dir / STATEMENT).mkdir()
    assert _problems(signed) == [f"{STATEMENT} is a folder"]
    (signed.dir / STATEMENT).rmdir()
    assert _problems(signed) == [f"{STATEMENT} is missing"]
    (signed.dir / SIGNATURE).unlink()
    assert _problems(signed) == [f"{SIGNATURE} is missing: the job was never signed"]
    (signed.dir / SIGNATURE).mkdir()
    assert _problems(signed) == [f"{SIGNATURE} is a folder"]


def test_verify_of_a_missing_folder_names_it(tmp_path: Path) -> None:
    result = verify_job(tmp_path / "gone", tmp_path)
    assert (result.ok, result.problems, result.keyid, result.checked) == (
        False, [f"cannot read the job folder: {tmp_path / 'gone'} does not exist"], None, []
    )  # fmt: skip


def test_verify_judges_the_bytes_it_is_given_not_the_folder(signed: SignedJob) -> None:
    files = read_job_files(signed.dir)
    (signed.dir / "report.md").write_bytes(b"changed after the read\n")
    assert verify_job(signed.dir, signed.trusted, files=files).ok is True
    assert verify_job(signed.dir, signed.trusted).ok is False


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda e: [1], "not the envelope's keys"),
        (lambda e: {k: v for k, v in e.items() if k != "payload"}, "not the envelope's keys"),
        (lambda e: {**e, "signatures": []}, "not enough values to unpack (expected 1, got 0)"),
        (lambda e: {**e, "signatures": [*e["signatures"], *e["signatures"]]},
         "too many values to unpack (expected 1)"),
        (lambda e: {**e, "signatures": ["x"]}, "not a signature object"),
        (lambda e: {**e, "signatures": [{"keyid": e["signatures"][0]["keyid"]}]}, "not a signature object"),
        (lambda e: {**e, "signatures": [{**e["signatures"][0], "keyid": 7}]}, "keyid is not text"),
        (lambda e: {**e, "payload": e["payload"] + "!"}, None),
        (lambda e: {**e, "signatures": [{**e["signatures"][0], "sig": "@@"}]}, None),
    ],
    ids=["a_list", "no_payload", "no_signature", "two_signatures", "signature_text", "no_sig", "keyid_number",
         "payload_not_base64", "sig_not_base64"],
)  # fmt: skip
def test_a_damaged_envelope_is_named_as_damaged(signed: SignedJob, edit: object, why: str | None) -> None:
    _write_envelope(signed, edit(_envelope(signed)))  # type: ignore[operator]
    (problem,) = _problems(signed)
    head = f"{SIGNATURE} is damaged: not a DSSE envelope with one signature ("
    assert problem.startswith(head)
    if why:
        assert problem == f"{head}{why})"


def test_a_non_json_envelope_is_damaged(signed: SignedJob) -> None:
    (signed.dir / SIGNATURE).write_bytes(b"{not json")
    (problem,) = _problems(signed)
    assert problem.startswith(f"{SIGNATURE} is damaged: not a DSSE envelope with one signature (")
    (signed.dir / SIGNATURE).write_bytes(b"[" * 100_000)
    (problem,) = _problems(signed)
    assert problem.startswith(f"{SIGNATURE} is damaged: not a DSSE envelope with one signature (")


def test_extra_keys_in_the_envelope_are_named(signed: SignedJob) -> None:
    envelope = _envelope(signed)
    _write_envelope(signed, {**envelope, "z": 1, "a": 2})
    assert _problems(signed) == [
        f"{SIGNATURE} is damaged: not a DSSE envelope with one signature (unexpected keys ['a', 'z'])"
    ]
    envelope["signatures"][0].update({"z": 1, "cert": 2})
    _write_envelope(signed, envelope)
    assert _problems(signed) == [
        f"{SIGNATURE} is damaged: not a DSSE envelope with one signature (unexpected signature keys ['cert', 'z'])"
    ]


def test_an_envelope_not_in_its_written_bytes_is_altered(signed: SignedJob) -> None:
    envelope = _envelope(signed)
    (signed.dir / SIGNATURE).write_bytes(json.dumps(envelope, indent=1).encode())
    assert _problems(signed) == [f"{SIGNATURE} was altered: its bytes are not the envelope that was written"]
    (signed.dir / SIGNATURE).write_bytes(json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    assert _problems(signed) == [f"{SIGNATURE} was altered: its bytes are not the envelope that was written"]


def test_another_payload_type_is_refused_even_when_signed(signed: SignedJob) -> None:
    _resign_payload(signed, (signed.dir / STATEMENT).read_bytes(), "application/json")
    assert _problems(signed) == [f"{SIGNATURE}: unexpected payload type 'application/json'"]


def test_a_signature_over_other_bytes_does_not_verify(signed: SignedJob) -> None:
    envelope = _envelope(signed)
    statement = (signed.dir / STATEMENT).read_bytes() + b" "
    envelope["payload"] = base64.b64encode(statement).decode()
    _write_envelope(signed, envelope)
    (signed.dir / STATEMENT).write_bytes(statement)
    assert _problems(signed) == [f"{SIGNATURE} was altered: the signature does not verify over its payload"]
    result = verify_job(signed.dir, signed.trusted)
    assert result.keyid is None


def test_a_statement_that_is_not_the_payload_is_altered(signed: SignedJob) -> None:
    (signed.dir / STATEMENT).write_bytes((signed.dir / STATEMENT).read_bytes().replace(b"\n", b"\r\n"))
    result = verify_job(signed.dir, signed.trusted, clm_path=signed.clm)
    assert result.problems == [f"{STATEMENT} was altered: it is not the statement that was signed"]
    assert result.keyid == _envelope(signed)["signatures"][0]["keyid"]  # the signature itself was fine


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        (b"[]", "list indices must be integers or slices, not str"),
        (b'{"predicate": {}}', "'subject'"),
        (b'{"subject": [{"name": "a"}], "predicate": {}}', "'digest'"),
        (b'{"subject": [], "predicate": []}', "the predicate or a digest has the wrong type"),
        (b'{"subject": [{"name": 1, "digest": {"sha256": "x"}}], "predicate": {}}',
         "the predicate or a digest has the wrong type"),
        (b'{"subject": [{"name": "a", "digest": {"sha256": 1}}], "predicate": {}}',
         "the predicate or a digest has the wrong type"),
        (b"{", None),
    ],
    ids=["a_list", "no_subject", "no_digest", "predicate_list", "name_number", "digest_number", "not_json"],
)  # fmt: skip
def test_a_signed_statement_of_the_wrong_shape_is_named(signed: SignedJob, statement: bytes, why: str | None) -> None:
    _resign_payload(signed, statement)
    (problem,) = _problems(signed)
    head = f"{STATEMENT}: signed but not a calpolicy statement ("
    assert problem.startswith(head)
    if why:
        assert problem == f"{head}{why})"


def test_a_signed_statement_with_a_malformed_policy_list_is_named(signed: SignedJob) -> None:
    statement = json.loads((signed.dir / STATEMENT).read_bytes())
    statement["predicate"]["policy_tests"] = [{"sha256": "x"}]
    _resign_payload(signed, canonical_json(statement, indent=1))
    assert _problems(signed) == [f"{STATEMENT}: signed but malformed ('name')"]
    statement["predicate"]["policy_tests"] = None
    statement["predicate"]["clm"] = {"bytes": "many"}
    _resign_payload(signed, canonical_json(statement, indent=1))
    (problem,) = _problems(signed)
    assert problem.startswith(f"{STATEMENT}: signed but malformed (")
    assert _problems(signed, clm_path=None) == []  # the CLM block is only read when a log is given


def test_a_folder_renamed_to_another_job_names_both(signed: SignedJob) -> None:
    renamed = signed.dir.with_name("cal_20260102_030406")
    signed.dir.rename(renamed)
    assert _problems(signed, folder=renamed) == [
        "the statement was signed for job 'cal_20260102_030405', but this folder is 'cal_20260102_030406': "
        "a renamed or swapped job folder"
    ]


def test_a_changed_policy_test_file_or_a_missing_one_is_named(signed: SignedJob) -> None:
    signed.site_test.write_text("def test_x():\n    assert False\n")
    assert _problems(signed) == [f"policy test file {signed.site_test} differs from the one that ran for this job"]
    signed.site_test.unlink()
    assert _problems(signed) == [f"policy test file {signed.site_test} is missing here ({signed.site_test})"]


def test_a_policy_file_is_looked_up_in_the_installed_suite(signed: SignedJob) -> None:
    statement = json.loads((signed.dir / STATEMENT).read_bytes())
    statement["predicate"]["policy_tests"] = [{"name": "policy_tests/phase0/nope.py", "sha256": "0"},
                                              {"name": "policy_tests/phase0/__init__.py", "sha256": "0"}]  # fmt: skip
    _resign_payload(signed, canonical_json(statement, indent=1))
    nope = POLICY_FILE.parent / "nope.py"
    assert _problems(signed) == [
        f"policy test file policy_tests/phase0/nope.py is missing here ({nope})",
        "policy test file policy_tests/phase0/__init__.py differs from the one that ran for this job",
    ]


# --------------------------------------------------------------------------------------- the CLM log


def test_a_clm_log_that_grew_verifies(signed: SignedJob) -> None:
    with signed.clm.open("ab") as handle:
        handle.write(b'{"later": 1}\n')
    assert _problems(signed) == []


def test_a_clm_log_changed_in_the_analysed_bytes_is_named(signed: SignedJob) -> None:
    signed.clm.write_bytes(b"X" + signed.clm.read_bytes()[1:])
    changed = _sha(b"X" + CLM_BYTES[1:])
    assert _problems(signed) == [
        f"CLM log {signed.clm} is no longer an extension of the analysed one: its first {len(CLM_BYTES)} bytes "
        f"(5 lines) have sha256 {changed[:16]}…, signed {_sha(CLM_BYTES)[:16]}…"
    ]


def test_a_truncated_clm_log_is_named(signed: SignedJob) -> None:
    signed.clm.write_bytes(CLM_BYTES[:-1])
    assert _problems(signed) == [
        f"CLM log {signed.clm} is shorter ({len(CLM_BYTES) - 1} bytes) than the {len(CLM_BYTES)} bytes analysed: "
        "it was truncated or replaced"
    ]
    signed.clm.write_bytes(CLM_BYTES)
    assert _problems(signed) == []  # exactly the analysed bytes


def test_an_unreadable_clm_log_is_named(signed: SignedJob) -> None:
    signed.clm.unlink()
    assert _problems(signed) == [f"CLM log {signed.clm} cannot be read: No such file or directory"]
    os.mkfifo(signed.clm)
    assert _problems(signed) == [f"CLM log {signed.clm} cannot be read: {signed.clm} is not a regular file"]


def test_an_analysis_of_zero_bytes_is_still_checked_as_zero_bytes(tmp_path: Path) -> None:
    job = make_signed_job(tmp_path, sign=False, clm={"bytes": 0, "sha256": _sha(b"")})
    job.sign()
    clm = json.loads((job.dir / STATEMENT).read_bytes())["predicate"]["clm"]
    assert (clm["bytes"], clm["lines"], clm["sha256"]) == (0, 0, _sha(b""))
    assert _problems(job) == []  # the whole log is longer: an extension of nothing


@pytest.mark.parametrize("signed_bytes", [-1, None, "7", "100000"])
def test_a_signed_clm_block_without_a_usable_length_digests_the_whole_log(
    signed: SignedJob, signed_bytes: object
) -> None:
    statement = json.loads((signed.dir / STATEMENT).read_bytes())
    whole = signed.clm.read_bytes()
    statement["predicate"]["clm"] = {"bytes": signed_bytes, "sha256": _sha(whole)}
    _resign_payload(signed, canonical_json(statement, indent=1))
    if signed_bytes == "100000":
        assert _problems(signed) == [
            f"CLM log {signed.clm} is shorter ({len(whole)} bytes) than the 100000 bytes analysed: it was truncated "
            "or replaced"
        ]
    else:
        assert _problems(signed) == []


# ------------------------------------------------------------------------ the manifest after signing


def _advance(job: SignedJob, state: str = "aborted", **extra: object) -> dict:
    manifest = job.manifest()
    manifest["state"] = state
    manifest["history"].append({"state": state, "by": "kari", "at": "2026-01-03T00:00:00+00:00", "note": ""})
    manifest.update(extra)
    job.write_manifest(manifest)
    return manifest


def test_a_manifest_that_moved_on_along_its_history_verifies(signed: SignedJob) -> None:
    _advance(signed, "approved", approval={"by": "kari"})
    assert _problems(signed) == []
    _advance(signed, "applied", applied_version="v7")
    assert _problems(signed) == []
    _advance(signed, "rolled_back", rolled_back_to="v6")
    assert _problems(signed) == []
    assert verify_job(signed.dir, signed.trusted).checked == EVERY_FILE


def test_a_manifest_moved_on_but_changed_in_its_signed_part_is_named(signed: SignedJob) -> None:
    manifest = _advance(signed)
    manifest["operator"] = "mallory"
    signed.write_manifest(manifest)
    actual = _sha((signed.dir / MANIFEST).read_bytes())
    assert _problems(signed) == [f"{MANIFEST} does not match the signed statement (sha256 {actual[:16]}…)"]
    manifest["operator"] = "ana"
    manifest["history"][0]["by"] = "mallory"
    signed.write_manifest(manifest)
    assert len(_problems(signed)) == 1


def test_a_manifest_rewritten_without_a_new_history_entry_is_named(signed: SignedJob) -> None:
    manifest = signed.manifest()
    manifest["state"] = "aborted"
    signed.write_manifest(manifest)
    (problem,) = _problems(signed)
    assert problem.startswith(f"{MANIFEST} does not match the signed statement")
    manifest["history"] = []  # fewer entries than signed
    signed.write_manifest(manifest)
    (problem,) = _problems(signed)
    assert problem.startswith(f"{MANIFEST} does not match the signed statement")


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: [m],
        lambda m: {**m, "history": 7},
        lambda m: {**m, "history": {"0": 1, "1": 2}},
        lambda m: {**m, "history": [*m["history"], {"x": 1}], "operator": float("nan")},
        lambda m: {**m, "history": [*m["history"], {"x": 1}], "extra": {1.5, 2.5}},
    ],
    ids=["a_list", "history_number", "history_object", "nan", "not_json"],
)
def test_a_manifest_that_cannot_be_viewed_is_named_not_raised(signed: SignedJob, edit: object) -> None:
    manifest = edit(signed.manifest())  # type: ignore[operator]
    text = json.dumps(manifest, default=list)
    (signed.dir / MANIFEST).write_text(text)
    (problem,) = _problems(signed)
    assert problem.startswith(f"{MANIFEST} does not match the signed statement")


@pytest.mark.parametrize("signed_part", [{}, {"history_len": "x"}, {"history_len": None}, [], "v"])
def test_a_statement_without_a_usable_manifest_block_pins_the_bytes(signed: SignedJob, signed_part: object) -> None:
    statement = json.loads((signed.dir / STATEMENT).read_bytes())
    statement["predicate"]["manifest"] = signed_part
    _resign_payload(signed, canonical_json(statement, indent=1))
    assert _problems(signed) == []
    _advance(signed)
    (problem,) = _problems(signed)
    assert problem.startswith(f"{MANIFEST} does not match the signed statement")


def test_a_manifest_with_a_broken_json_is_named(signed: SignedJob) -> None:
    (signed.dir / MANIFEST).write_bytes(b"{")
    (problem,) = _problems(signed)
    assert problem.startswith(f"{MANIFEST} does not match the signed statement")
    (signed.dir / MANIFEST).write_bytes(b"[" * 100_000)
    (problem,) = _problems(signed)
    assert problem.startswith(f"{MANIFEST} does not match the signed statement")


def test_only_the_manifest_may_move_on(signed: SignedJob) -> None:
    """A results file with a line appended after signing is not a manifest that moved on."""
    with (signed.dir / "policy_results.jsonl").open("ab") as handle:
        handle.write(b'{"history": [1, 2, 3]}\n')
    (problem,) = _problems(signed)
    assert problem.startswith("policy_results.jsonl does not match the signed statement")


def test_every_refused_key_file_is_named_in_the_untrusted_signer_message(signed: SignedJob) -> None:
    pub = next(signed.trusted.glob("*.pub"))
    copy = signed.trusted / "zz.pub"
    copy.write_bytes(pub.read_bytes())
    for path in (pub, copy):
        os.chmod(path, 0o666)
    keyid = _envelope(signed)["signatures"][0]["keyid"][:16]
    why = "is writable by its group or others (mode 666); chmod go-w it"
    refused = [f"{p.name}: refused: {p} {why}" for p in (pub, copy)]
    assert _problems(signed) == [
        f"{SIGNATURE}: the signer {keyid} is not trusted (no matching public key in {signed.trusted}; trusted: none; "
        f"refused or unreadable key files: {'; '.join(refused)})"
    ]


def test_the_policy_outcomes_are_read_without_a_preflight_file(signed: SignedJob) -> None:
    (signed.dir / "preflight_results.jsonl").unlink()
    assert [o["nodeid"] for o in read_outcomes(signed.dir)] == ["p2::a", "p3::b"]
