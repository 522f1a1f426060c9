"""Third held-out set of issue 21's classes: what an accident, a careless or a hostile local user does to the
files after the decision (signature envelope, trusted keys, ...), each found by attacking the real CLI.

Every case runs on real files and real Ed25519 signatures, the CLI in a child process where the exit code
and the absence of a traceback are what is judged. docs/heldout.md lists every case tried.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from calpolicy.apply.archive import validate_version
from calpolicy.apply.deploy import approve_job, rollback
from calpolicy.jobs import JobError, validate_job_id
from calpolicy.review.signing import SigningError, load_private_key, trusted_keys, verify_job
from unit_tests.conftest import run_cli
from unit_tests.deploy.site import Site, sign, site_with_one_job, write_toml
from unit_tests.deploy.test_trust import JOB, no_traceback, quiet


def unknown_algorithm_pem(label: str) -> bytes:
    """A well-formed PEM whose key algorithm is an OID no library knows (1.2.3.4): what a careless copy of
    some other tool's key, or a hostile file, looks like to ``cryptography``."""
    oid = bytes([0x06, 0x03, 0x2A, 0x03, 0x04])
    algorithm = bytes([0x30, len(oid)]) + oid
    if label == b"PRIVATE KEY":  # PKCS#8: version 0, the algorithm, the key in an octet string
        body = bytes([0x02, 1, 0]) + algorithm + bytes([0x04, 34, 0x04, 32]) + b"\x01" * 32
    else:  # SubjectPublicKeyInfo: the algorithm, the key in a bit string
        body = algorithm + bytes([0x03, 33, 0]) + b"\x01" * 32
    der = bytes([0x30, len(body)]) + body
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, base64.b64encode(der), label)


@pytest.fixture
def signed(tmp_path: Path, proposal_json: str) -> tuple[Site, Path]:
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    config = sign(site, JOB)
    return site, write_toml(site, config)


def test_a_key_of_an_unknown_algorithm_in_the_trusted_folder_is_skipped(signed: tuple[Site, Path]) -> None:
    """Was: `UnsupportedAlgorithm` traceback (exit 3) from verify and approve: one odd `.pub` dropped into the
    trusted folder blocked every job. Now it is one skipped file and the job still verifies by its own key."""
    site, toml = signed
    trusted = site.root / "trusted"
    (trusted / "other-tool.pub").write_bytes(unknown_algorithm_pem(b"PUBLIC KEY"))
    keys, skipped = trusted_keys(trusted)
    assert len(keys) == 1
    assert [s for s in skipped if s.startswith("other-tool.pub: ")], skipped
    done = run_cli("--config", str(toml), "verify", JOB)
    no_traceback(done)
    assert done.returncode == 0, done.stdout + done.stderr
    assert verify_job(site.jobs / JOB, trusted).ok


def test_a_private_key_of_an_unknown_algorithm_is_a_signing_error(tmp_path: Path) -> None:
    """Was: `UnsupportedAlgorithm` escaped `load_private_key` (a traceback from `run` at signing time)."""
    key = tmp_path / "signing.key"
    key.write_bytes(unknown_algorithm_pem(b"PRIVATE KEY"))
    key.chmod(0o600)
    with pytest.raises(SigningError, match="cannot read the signing key"):
        load_private_key(key)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_signature_envelope_holding_nan_is_damaged_not_a_traceback(signed: tuple[Site, Path], value: str) -> None:
    """Was: `ValueError: Out of range float values` traceback (exit 3) from verify and approve: json.loads
    takes NaN, the canonical re-serialisation the envelope is compared with does not."""
    site, toml = signed
    sig = site.jobs / JOB / "statement.sig"
    envelope = json.loads(sig.read_bytes())
    text = json.dumps(envelope).replace(json.dumps(envelope["payloadType"]), value, 1)
    sig.write_text(text)
    done = run_cli("--config", str(toml), "verify", JOB)
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "statement.sig was altered" in done.stdout, done.stdout


LINE_LIMIT = 4000  # calpolicy.cli.commands.common.LINE_LIMIT (kept here so the test also runs on older code)
ENGINE_ONLY_NEWLINE = b'{"version": "cal_20260206_060303\\n", "ensemble_weights": {"enabled": false}}\n'


def test_a_live_version_ending_in_a_newline_never_names_an_archive_file(tmp_path: Path, proposal_json: str) -> None:
    """Was: the version check used ``re.match`` with ``$``, which also matches before a final newline: a live
    file the engine loads whose version is "cal_…\\n" was archived as ``calibration_cal_…\\n.json`` (a file
    name with a newline) and rollback's first line was cut in two on the terminal. Now such a version is
    not a version: the copy is archived as ``unparsable_<hash>`` and a plain rollback restores it byte for byte."""
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    site.live.write_bytes(ENGINE_ONLY_NEWLINE)
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    names = [p.name for p in site.paths.archive_dir.iterdir()]
    assert all(name.isprintable() for name in names), names
    toml = write_toml(site)
    back = run_cli("--config", str(toml), "rollback", "--by", "bob")
    no_traceback(back)
    first = back.stdout.splitlines()[0]
    assert first.startswith("ROLLED BACK"), back.stdout
    assert first.endswith("engine was not shown to serve it"), back.stdout
    assert site.live_bytes() == ENGINE_ONLY_NEWLINE


def test_a_version_or_job_id_with_a_final_newline_or_look_alike_digits_is_refused(signed: tuple[Site, Path]) -> None:
    """Was: ``rollback 'cal_…\\n'`` passed the version check; a job ID in fullwidth digits passed the job-ID
    check (``\\d`` is any Unicode digit)."""
    _, toml = signed
    done = run_cli("--config", str(toml), "rollback", "cal_20260206_060303\n", "--by", "bob")
    no_traceback(done)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid version" in done.stderr, done.stderr
    with pytest.raises(ValueError, match="invalid version"):
        validate_version("cal_20260206_060303\n")
    with pytest.raises(JobError, match="invalid job ID"):
        validate_job_id("cal_\uff12\uff10\uff12\uff16\uff11\uff11\uff10\uff11_120000")


def test_a_field_of_megabytes_never_floods_the_terminal(tmp_path: Path, proposal_json: str) -> None:
    """Was: `jobs` and `status` printed a hand-edited manifest's 3,000,000-character `operator` and
    `created_at` whole (8 MB lines burying the rest of the table). Now a printed line is at most
    ``LINE_LIMIT`` characters and says how much was left out; the other job's row is intact."""
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    other = "cal_20261101_130000"
    site.add_job(other, proposal_json)
    manifest = site.manifest(other)
    manifest["operator"] = "A" * 3_000_000
    manifest["created_at"] = "B\x1b" * 500_000  # the manifest stays under its 8 MiB cap
    (site.jobs / other / "manifest.json").write_text(json.dumps(manifest))
    toml = write_toml(site)
    for command in ("jobs", "status"):
        done = run_cli("--config", str(toml), command)
        no_traceback(done)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert max(len(line) for line in lines) < LINE_LIMIT + 100, command
        assert any("more characters not shown" in line for line in lines), command
        assert "\x1b" not in done.stdout
    jobs = run_cli("--config", str(toml), "jobs")
    assert any(line.startswith(JOB) and line.rstrip().endswith("tester") for line in jobs.stdout.splitlines())


def strict_json(text: str) -> object:
    """``text`` parsed as RFC 8259 JSON: ``NaN``/``Infinity`` tokens are refused, as jq and others refuse them."""

    def refuse(token: str) -> object:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_the_json_views_stay_json_when_a_file_holds_nan(tmp_path: Path, proposal_json: str) -> None:
    """Was: `history --json`, `jobs --json` and `status --json` printed `NaN` / `Infinity` read from a
    hand-edited history line or manifest: output that jq and every strict parser refuse."""
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    with site.paths.history.open("ab") as handle:
        handle.write(b'{"phase": "begin", "id": "z1", "event": "approve", "from": NaN, "to": "x", "at": 1e999}\n')
    manifest = site.manifest(JOB)
    manifest["verdict"], manifest["exit_code"] = float("nan"), float("-inf")
    (site.jobs / JOB / "manifest.json").write_text(json.dumps(manifest))
    toml = write_toml(site)
    for command in ("history", "jobs", "status"):
        done = run_cli("--config", str(toml), command, "--json")
        no_traceback(done)
        assert done.returncode == 0, done.stderr
        assert "NaN" in done.stdout or "inf" in done.stdout, command  # shown, as text
        strict_json(done.stdout)


@pytest.mark.parametrize("field", ["n", "brier_after", "x"])
def test_a_proposal_holding_a_400_digit_integer_is_a_stop(signed: tuple[Site, Path], field: str) -> None:
    """Was: `OverflowError: int too large to convert to float` from approve (exit 3) before any check could
    answer: `proposal.json` parsed with `json.loads` takes the integer, `float()` of it raises OverflowError.
    Now it is one more reason in approve's STOP list (exit 1), the live config untouched."""
    site, toml = signed
    path = site.jobs / JOB / "proposal.json"
    raw = json.loads(path.read_bytes())
    model = raw["models"]["ensemble"]
    big = "9" * 400
    old = json.dumps(model[field])
    text = json.dumps(raw).replace(f'"{field}": {old}', f'"{field}": {big if field != "x" else f"[0, {big}]"}', 1)
    assert big in text
    path.write_text(text)
    before = site.live_bytes()
    done = run_cli("--config", str(toml), "approve", JOB, "--approver", "alice", "--reviewed",
                   "--on-call-until", "2099-01-01T00:00:00Z", "--yes")  # fmt: skip
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "proposal.json holds a number too large for a float" in done.stdout, done.stdout
    assert site.live_bytes() == before


def test_rollback_none_works_when_the_history_has_grown_past_its_cap(tmp_path: Path, proposal_json: str) -> None:
    """Was: a history over its 64 MiB cap (a runaway script appending, or a hostile user) made even `rollback
    none` STOP ("cannot read the apply history"): the emergency exit was closed. `rollback none` needs
    nothing from the history; it now goes ahead (and appends its lines); every other rollback still refuses."""
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    pad = b'{"phase": "note", "id": "x", "pad": "' + b"a" * 1000 + b'"}\n'
    with site.paths.history.open("ab") as handle:
        handle.write(pad * 68_000)  # about 70 MB, past the 64 MiB a history may have
    toml = write_toml(site)
    back = run_cli("--config", str(toml), "rollback", "--by", "bob")
    no_traceback(back)
    assert back.returncode == 1, back.stdout + back.stderr
    assert "cannot read the apply history" in back.stdout + back.stderr
    assert site.live_bytes() is not None
    none = run_cli("--config", str(toml), "rollback", "none", "--by", "bob")
    no_traceback(none)
    assert "ROLLED BACK" in none.stdout, none.stdout + none.stderr
    assert "goes ahead without it" in none.stdout
    assert site.live_bytes() is None
    assert site.paths.history.read_bytes().endswith(b"\n")
    assert b'"to": "none"' in site.paths.history.read_bytes()[-4000:]


@pytest.mark.parametrize("damage", ["decisions-log-edited", "job-folder-removed"])
def test_a_rolled_back_version_does_not_go_live_again_when_the_job_records_are_damaged(
    tmp_path: Path, proposal_json: str, damage: str
) -> None:
    """Was: `rollback VERSION` took "cannot derive the job's state" as "not rolled back": with one line of the
    decisions log edited, or the job folder removed, a rolled-back job's version went live again without
    approve's checks (fresh preflight, on-call). Now an unreadable state is a STOP, and with no folder the
    apply history alone (which recorded the apply and the rollback) decides."""
    site = site_with_one_job(tmp_path, proposal_json, JOB)
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    rollback(site.config, by="bob", wait=False, say=quiet)
    if damage == "decisions-log-edited":
        log = site.jobs / ".decisions.jsonl"
        log.write_bytes(log.read_bytes().replace(b'"by": "alice"', b'"by": "mallory"', 1))
    else:
        shutil.rmtree(site.jobs / JOB)
    before = site.live_bytes()
    done = run_cli("--config", str(write_toml(site)), "rollback", JOB, "--by", "bob")
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    expected = "cannot tell whether job" if damage == "decisions-log-edited" else "which was rolled back"
    assert expected in done.stdout + done.stderr, done.stdout + done.stderr
    assert site.live_bytes() == before
