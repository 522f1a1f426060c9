"""The signed statement of a job: what exactly was analysed, decided and tested, provably (checklist 3).

``statement.json`` is an in-toto-style Statement: ``subject`` lists every file of the job folder with its
sha256, and the ``predicate`` holds the CLM bytes analysed (path, byte count, line count, sha256), the
effective config's digest, the digest of every policy test file and every test's outcome. It is written
once, as canonical JSON (sorted keys, no NaN), and those exact bytes are signed.

``statement.sig`` is a DSSE envelope (https://github.com/secure-systems-lab/dsse): the payload is the
statement's bytes (base64), the signature is Ed25519 over DSSE's pre-authentication encoding
``PAE(payloadType, payload)``, and ``keyid`` is the sha256 of the raw public key. Keeping the payload in
the envelope lets ``verify`` tell a changed signature (the envelope no longer verifies) from a changed
statement (the envelope verifies, but statement.json is not its payload), and name the right file.

pytest-html output is not byte-stable, so the HTML is covered as the file it is, never re-rendered.
``manifest.json`` is the one file that legitimately changes after signing (its state moves on, approve
records the approval): the statement pins its full bytes *and* a digest of its signed view (everything
but the state, the approval and the applied version, with the history cut at the signed length). While
the history is as signed the full bytes must match; afterwards only the signed view must.

This module stays whole although long (~540 lines): what is signed, how it is canonicalised and how it is
verified are one format, changed together or not at all.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from calpolicy.files.atomic_io import write_atomic
from calpolicy.files.safe_read import open_folder, open_regular, read_bytes
from calpolicy.files.strict_json import parse_json
from calpolicy.jobs import OWNER_FILE, JobError, JobFiles, read_job_files

STATEMENT = "statement.json"
SIGNATURE = "statement.sig"
MANIFEST = "manifest.json"
RESULT_FILES = ("preflight_results.jsonl", "policy_results.jsonl")
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://calpolicy/job-statement/v1"
PAYLOAD_TYPE = "application/vnd.calpolicy.statement+json"
# The manifest keys a state change may set after signing (jobs.JobStore.transition's mirror of the
# decisions log): the signed view leaves them out, so an applied or rolled-back job still verifies.
MUTABLE_MANIFEST_KEYS = ("state", "approval", "applied_version", "rolled_back_to")
ENVELOPE_KEYS = {"payloadType", "payload", "signatures"}
SIGNATURE_KEYS = {"keyid", "sig"}
_CHUNK = 1 << 20


class SigningError(Exception):
    """Signing could not be done (no key, unreadable job, CLM changed); nothing was written."""


@dataclass
class VerifyResult:
    """``ok`` only when the signature is by a trusted key and every digest matches; ``problems`` say where."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    keyid: str | None = None
    checked: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ keys


def keyid_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_keypair(private_path: Path, public_dir: Path) -> Path:
    """A new Ed25519 key: the private key as PEM, mode 0600, never overwriting; the public key into
    ``public_dir`` (the trusted folder) as ``<keyid[:16]>.pub``. Returns the public key's path."""
    private_path = Path(private_path)
    if private_path.exists() or private_path.is_symlink():
        raise SigningError(f"refusing to overwrite the existing private key {private_path}")
    private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningError(f"refusing to overwrite the existing private key {private_path}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(private_path, 0o600)
    public = key.public_key()
    public_dir = Path(public_dir)
    public_dir.mkdir(parents=True, exist_ok=True, mode=0o755)  # never group-writable: verify would refuse it
    public_path = public_dir / f"{keyid_of(public)[:16]}.pub"
    write_atomic(
        public_path, public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return public_path


def _owner_mode_problem(path: Path, info: os.stat_result, *, private: bool) -> str | None:
    """ssh's StrictModes rules: owned by us or root; a private key readable by nobody else, anything
    trusted writable by nobody else."""
    if info.st_uid not in (os.geteuid(), 0):
        return f"{path} is owned by uid {info.st_uid}, not by the running user ({os.geteuid()}) or root"
    mode = stat.S_IMODE(info.st_mode)
    if private and mode & 0o077:
        return f"{path} is readable or writable by its group or others (mode {mode:o}); chmod 600 it"
    if not private and mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by its group or others (mode {mode:o}); chmod go-w it"
    return None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        with open_regular(path, "key") as fd:
            problem = _owner_mode_problem(path, os.fstat(fd), private=True)
            if problem:
                raise SigningError(f"refusing to sign with the private key: {problem}")
        key = serialization.load_pem_private_key(read_bytes(path, "key"), password=None)
    except FileNotFoundError:
        raise SigningError(f"no signing key at {path}: run `calpolicy keygen` first") from None
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as error:  # a PEM of an unknown key type
        raise SigningError(f"cannot read the signing key {path}: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an Ed25519 private key")
    return key


def trusted_keys(trusted_dir: Path) -> tuple[dict[str, Ed25519PublicKey], list[str]]:
    """Every Ed25519 public key (``*.pub``, PEM) in the trusted folder by keyid, and the files skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    skipped: list[str] = []
    folder = Path(trusted_dir)
    try:
        fd = open_folder(folder)
    except OSError as error:
        return keys, [f"the trusted keys folder: {error.strerror}"]
    try:
        problem = _owner_mode_problem(folder, os.fstat(fd), private=False)
        if problem:
            return keys, [f"the trusted keys folder is refused: {problem}"]
        names = sorted(n for n in os.listdir(fd) if n.endswith(".pub"))
        for name in names:
            path = folder / name
            try:
                with open_regular(name, "key", folder_fd=fd) as key_fd:
                    problem = _owner_mode_problem(path, os.fstat(key_fd), private=False)
                if problem:
                    skipped.append(f"{name}: refused: {problem}")
                    continue
                key = serialization.load_pem_public_key(read_bytes(name, "key", folder_fd=fd))
            except (OSError, ValueError, UnsupportedAlgorithm) as error:  # a PEM of a key type nobody knows
                # is one skipped file, never a traceback that blocks every verify and approve
                skipped.append(f"{name}: {error}")
                continue
            if isinstance(key, Ed25519PublicKey):
                keys[keyid_of(key)] = key
            else:
                skipped.append(f"{name}: not an Ed25519 key")
    finally:
        os.close(fd)
    return keys, skipped


# ------------------------------------------------------------------------------------------- digesting


def sha256_file(path: Path, limit: int | None = None) -> tuple[str, int, int]:
    """sha256, byte count and newline count of a file (or of its first ``limit`` bytes)."""
    digest = hashlib.sha256()
    size = lines = 0
    # a path that is not ours (the CLM log, an installed test file) may be a symlink, but never a FIFO
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file", str(path))
        while limit is None or size < limit:
            want = _CHUNK if limit is None else min(_CHUNK, limit - size)
            chunk = os.read(fd, want)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
    finally:
        os.close(fd)
    return digest.hexdigest(), size, lines


def manifest_view(manifest: dict[str, Any], history_len: int) -> bytes:
    """The part of a manifest that must never change after signing, as canonical bytes."""
    view = {k: v for k, v in manifest.items() if k not in MUTABLE_MANIFEST_KEYS}
    view["history"] = list(manifest.get("history") or [])[:history_len]
    return canonical_json(view)


def canonical_json(value: Any, indent: int | None = None) -> bytes:
    """Deterministic JSON bytes: sorted keys, ASCII, no NaN, no fallbacks (``indent`` only for reading)."""
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(value, sort_keys=True, separators=separators, allow_nan=False, ensure_ascii=True, indent=indent)
    return text.encode() + (b"\n" if indent is not None else b"")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _signed_names(files: JobFiles, *, signing: bool) -> list[str]:
    """The job's files that the statement covers: all but the statement and its signature. While signing,
    the job store's claim marker (``.owner``) is left out: it lives only until the job is published, so
    in a published job it is an extra file like any other."""
    skip = {STATEMENT, SIGNATURE, *([OWNER_FILE] if signing else [])}
    return sorted(name for name in files.files if name not in skip)


def _policy_root() -> Path:
    import policy_tests

    return Path(policy_tests.__file__).resolve().parent


def _policy_name(path: Path) -> str:
    resolved = Path(path).resolve()
    try:
        return "policy_tests/" + resolved.relative_to(_policy_root()).as_posix()
    except ValueError:
        return str(resolved)


def _policy_path(name: str) -> Path:
    if name.startswith("policy_tests/"):
        return _policy_root() / name[len("policy_tests/") :]
    return Path(name)


def default_policy_test_files() -> list[Path]:
    """Every Python file of the installed policy suite (tests, conftests, helpers)."""
    return sorted(p for p in _policy_root().rglob("*.py") if "__pycache__" not in p.parts)


def read_outcomes(job: Path | JobFiles) -> list[dict[str, Any]]:
    """Every recorded test outcome, from preflight_results.jsonl and policy_results.jsonl."""
    files = job if isinstance(job, JobFiles) else _read_job(Path(job))
    outcomes = []
    for name in RESULT_FILES:
        data = files.get(name)
        if data is None:
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = parse_json(line)
            except ValueError as error:
                raise SigningError(f"{name} line {number} is not JSON: {error}") from None
            if not isinstance(raw, dict):
                raise SigningError(f"{name} line {number} is not a JSON object")
            outcomes.append(
                {
                    "file": name,
                    "nodeid": raw.get("nodeid"),
                    "ids": list(raw.get("ids", raw.get("controls", [])) or []),
                    "outcome": raw.get("outcome", raw.get("status")),
                }
            )
    return outcomes


# -------------------------------------------------------------------------------------------- signing


def build_statement(
    job_dir: Path, *, clm_path: Path, config_json: str, policy_test_files: list[Path]
) -> dict[str, Any]:
    job_dir = Path(job_dir)
    files = _read_job(job_dir)
    if files.odd:
        name, why = next(iter(files.odd.items()))
        raise SigningError(f"{job_dir / name} is not a regular file ({why}): a job folder holds only regular files")
    try:
        manifest = parse_json(files.files[MANIFEST])
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (KeyError, ValueError) as error:
        raise SigningError(f"cannot read {job_dir / MANIFEST}: {error}") from None
    analysed = dict(manifest.get("clm") or {})
    limit = analysed.get("bytes")
    try:
        clm_sha, clm_bytes, clm_lines = sha256_file(clm_path, limit if isinstance(limit, int) else None)
    except OSError as error:
        raise SigningError(f"cannot read the CLM log {clm_path}: {error.strerror}") from None
    if analysed.get("sha256") and analysed["sha256"] != clm_sha:
        raise SigningError(
            f"the CLM log {clm_path} no longer starts with the bytes this job analysed "
            f"(sha256 of its first {clm_bytes} bytes is {clm_sha}, the manifest says {analysed['sha256']})"
        )
    config_sha = hashlib.sha256(config_json.encode("utf-8")).hexdigest()
    if manifest.get("config_digest") and manifest["config_digest"] != config_sha:
        raise SigningError("the effective config given to sign differs from the one the job's manifest records")
    subjects = [
        {"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}, "bytes": len(data)}
        for name in _signed_names(files, signing=True)
        for data in [files.files[name]]
    ]
    try:
        policy_tests = [
            {"name": _policy_name(p), "sha256": sha256_file(p)[0]} for p in sorted(map(Path, policy_test_files))
        ]
    except OSError as error:
        raise SigningError(f"cannot read a policy test file: {error}") from None
    history_len = len(manifest.get("history") or [])
    return {
        "_type": STATEMENT_TYPE,
        "predicateType": PREDICATE_TYPE,
        "subject": subjects,
        "predicate": {
            "job_id": manifest.get("job_id"),
            "clm": {"path": str(clm_path), "bytes": clm_bytes, "lines": clm_lines, "sha256": clm_sha},
            "config": {"sha256": config_sha},
            "manifest": {
                "history_len": history_len,
                "signed_view_sha256": hashlib.sha256(manifest_view(manifest, history_len)).hexdigest(),
                "mutable_keys": list(MUTABLE_MANIFEST_KEYS),
            },
            "policy_tests": policy_tests,
            "outcomes": read_outcomes(files),
        },
    }


def sign_job(
    job_dir: Path, private_key_path: Path, *, clm_path: Path, config_json: str, policy_test_files: list[Path]
) -> None:
    """Write statement.json and statement.sig (a DSSE envelope) for everything now in ``job_dir``."""
    job_dir = Path(job_dir)
    key = load_private_key(private_key_path)
    statement = canonical_json(
        build_statement(job_dir, clm_path=clm_path, config_json=config_json, policy_test_files=policy_test_files),
        indent=1,
    )
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(statement).decode("ascii"),
        "signatures": [
            {
                "keyid": keyid_of(key.public_key()),
                "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, statement))).decode(),
            }
        ],
    }
    write_atomic(job_dir / STATEMENT, statement)
    write_atomic(job_dir / SIGNATURE, canonical_json(envelope))


# ------------------------------------------------------------------------------------------ verifying


def _read_job(job_dir: Path) -> JobFiles:
    try:
        return read_job_files(job_dir)
    except JobError as error:
        raise SigningError(str(error)) from None


def verify_job(
    job_dir: Path, trusted_keys_dir: Path, *, clm_path: Path | None = None, files: JobFiles | None = None
) -> VerifyResult:
    """Recompute everything: the signature by a trusted key, then every digest. ``clm_path`` also checks
    that the CLM log still starts with the analysed bytes; the policy test files are checked as installed.

    ``files`` is the job as already read into memory (approve verifies exactly the bytes it applies);
    without it the folder is read once here.
    """
    result = VerifyResult(ok=False)
    if files is None:
        try:
            files = read_job_files(Path(job_dir))
        except JobError as error:
            result.problems.append(str(error))
            return result
    statement_bytes = _verified_payload(files, Path(trusted_keys_dir), result)
    if statement_bytes is None:
        return result
    try:
        statement = parse_json(statement_bytes)
        subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
        predicate = statement["predicate"]
        if not isinstance(predicate, dict) or not all(isinstance(x, str) for x in (*subjects, *subjects.values())):
            raise TypeError("the predicate or a digest has the wrong type")
    except (ValueError, KeyError, TypeError) as error:
        result.problems.append(f"{STATEMENT}: signed but not a calpolicy statement ({error})")
        return result
    if predicate.get("job_id") != files.job_id:
        result.problems.append(
            f"the statement was signed for job {predicate.get('job_id')!r}, but this folder is {files.job_id!r}: "
            "a renamed or swapped job folder"
        )
    _check_subjects(files, subjects, predicate, result)
    try:
        _check_policy_tests(list(predicate.get("policy_tests") or []), result)
        if clm_path is not None:
            _check_clm(Path(clm_path), dict(predicate.get("clm") or {}), result)
    except (KeyError, TypeError, ValueError) as error:
        result.problems.append(f"{STATEMENT}: signed but malformed ({error})")
    result.ok = not result.problems
    return result


def _verified_payload(files: JobFiles, trusted_dir: Path, result: VerifyResult) -> bytes | None:
    raw = files.get(SIGNATURE)
    if raw is None:
        why = files.odd.get(SIGNATURE)
        result.problems.append(f"{SIGNATURE} {why}" if why else f"{SIGNATURE} is missing: the job was never signed")
        return None
    try:
        envelope = parse_json(raw)
        if not isinstance(envelope, dict) or set(envelope) != ENVELOPE_KEYS:
            extra = sorted(set(envelope) - ENVELOPE_KEYS) if isinstance(envelope, dict) else []
            raise ValueError(f"unexpected keys {extra}" if extra else "not the envelope's keys")
        payload = base64.b64decode(envelope["payload"], validate=True)
        (signature,) = envelope["signatures"]
        if not isinstance(signature, dict) or set(signature) != SIGNATURE_KEYS:
            extra = sorted(set(signature) - SIGNATURE_KEYS) if isinstance(signature, dict) else []
            raise ValueError(f"unexpected signature keys {extra}" if extra else "not a signature object")
        keyid, sig = signature["keyid"], base64.b64decode(signature["sig"], validate=True)
        payload_type = envelope["payloadType"]
        if not isinstance(keyid, str):
            raise TypeError("keyid is not text")
    except (ValueError, KeyError, TypeError) as error:
        result.problems.append(f"{SIGNATURE} is damaged: not a DSSE envelope with one signature ({error})")
        return None
    try:
        canonical = canonical_json(envelope)
    except ValueError:  # NaN or Infinity in the envelope: json.loads takes them, the canonical form refuses
        canonical = None
    if canonical != raw:
        result.problems.append(f"{SIGNATURE} was altered: its bytes are not the envelope that was written")
        return None
    if payload_type != PAYLOAD_TYPE:
        result.problems.append(f"{SIGNATURE}: unexpected payload type {payload_type!r}")
        return None
    keys, skipped = trusted_keys(trusted_dir)
    key = keys.get(keyid)
    if key is None:
        known = ", ".join(k[:16] for k in keys) or "none"
        extra = f"; refused or unreadable key files: {'; '.join(skipped)}" if skipped else ""
        result.problems.append(
            f"{SIGNATURE}: the signer {keyid[:16]} is not trusted (no matching public key in {trusted_dir}; "
            f"trusted: {known}{extra})"
        )
        return None
    try:
        key.verify(sig, pae(payload_type, payload))
    except InvalidSignature:
        result.problems.append(f"{SIGNATURE} was altered: the signature does not verify over its payload")
        return None
    result.keyid = keyid
    on_disk = files.get(STATEMENT)
    if on_disk is None:
        why = files.odd.get(STATEMENT)
        result.problems.append(f"{STATEMENT} {why}" if why else f"{STATEMENT} is missing")
        return None
    if on_disk != payload:
        result.problems.append(f"{STATEMENT} was altered: it is not the statement that was signed")
        return None
    return payload


def _check_subjects(files: JobFiles, subjects: dict[str, str], predicate: dict[str, Any], result: VerifyResult) -> None:
    present = set(_signed_names(files, signing=False))
    for name, why in sorted(files.odd.items()):
        if name in subjects:
            result.problems.append(f"{name} is not a regular file (a symlink or a folder was put in its place)")
        elif name not in (STATEMENT, SIGNATURE):
            result.problems.append(f"{name} {why}: an unexpected extra entry (not in the signed statement)")
    for name in sorted(set(subjects) - present - set(files.odd)):
        result.problems.append(f"{name} is missing from the job folder")
    for name in sorted(present - set(subjects)):
        result.problems.append(f"{name} is an unexpected extra file (not in the signed statement)")
    for name in sorted(set(subjects) & present):
        data = files.files[name]
        actual = hashlib.sha256(data).hexdigest()
        result.checked.append(name)
        if actual == subjects[name]:
            continue
        if name == MANIFEST and _manifest_moved_on(data, predicate.get("manifest", {})):
            continue
        result.problems.append(f"{name} does not match the signed statement (sha256 {actual[:16]}…)")


def _manifest_moved_on(data: bytes, signed: Any) -> bool:
    """A manifest whose state legitimately advanced after signing still carries the signed view unchanged."""
    try:
        manifest = parse_json(data)
        history_len = int(signed["history_len"])
    except (ValueError, KeyError, TypeError):
        return False
    if not isinstance(manifest, dict) or not isinstance(manifest.get("history") or [], list):
        return False
    if len(manifest.get("history") or []) <= history_len:
        return False  # nothing was appended: the bytes had to be the signed ones
    try:
        view = hashlib.sha256(manifest_view(manifest, history_len)).hexdigest()
    except (TypeError, ValueError):
        return False
    return view == signed.get("signed_view_sha256")


def _check_policy_tests(entries: list[dict[str, Any]], result: VerifyResult) -> None:
    for entry in entries:
        path = _policy_path(str(entry["name"]))
        try:
            actual = sha256_file(path)[0]
        except OSError:
            result.problems.append(f"policy test file {entry['name']} is missing here ({path})")
            continue
        if actual != entry["sha256"]:
            result.problems.append(f"policy test file {entry['name']} differs from the one that ran for this job")


def _check_clm(clm_path: Path, signed: dict[str, Any], result: VerifyResult) -> None:
    try:
        limit = signed.get("bytes")
        sha, size, lines = sha256_file(clm_path, limit if isinstance(limit, int) and limit >= 0 else None)
    except OSError as error:
        result.problems.append(f"CLM log {clm_path} cannot be read: {error.strerror}")
        return
    if size < int(signed.get("bytes") or 0):
        result.problems.append(
            f"CLM log {clm_path} is shorter ({size} bytes) than the {signed.get('bytes')} bytes analysed: it was "
            "truncated or replaced"
        )
    elif sha != signed.get("sha256"):
        result.problems.append(
            f"CLM log {clm_path} is no longer an extension of the analysed one: its first {size} bytes "
            f"({lines} lines) have sha256 {sha[:16]}…, signed {str(signed.get('sha256'))[:16]}…"
        )
