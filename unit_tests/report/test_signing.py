"""The signed statement: any changed byte, missing or extra file, or untrusted signer fails verify, by name."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calpolicy import cli
from calpolicy.review.signing import (
    MANIFEST,
    SIGNATURE,
    STATEMENT,
    SigningError,
    default_policy_test_files,
    generate_keypair,
    sign_job,
    verify_job,
)
from unit_tests.conftest import run_cli
from unit_tests.report.jobfolder import Job, config_json

ARTIFACTS = (
    "manifest.json", "proposal.json", "report.md", "report.json", "reliability.png", "policy_report.html",
    "policy_results.jsonl", "preflight_results.jsonl", STATEMENT, SIGNATURE,
)  # fmt: skip


def _flip(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    where = len(data) // 2 if offset is None else offset
    data[where] ^= 0x01
    path.write_bytes(bytes(data))


def _verify(job: Job, folder: Path, trusted: Path | None = None) -> list[str]:
    result = verify_job(folder, trusted or job.root / "trusted", clm_path=job.clm)
    assert result.ok == (not result.problems)
    return result.problems


def test_untouched_job_verifies(go_job: Job) -> None:
    result = verify_job(go_job.dir, go_job.root / "trusted", clm_path=go_job.clm)
    assert result.ok, result.problems
    assert set(result.checked) == set(ARTIFACTS) - {STATEMENT, SIGNATURE}
    statement = json.loads((go_job.dir / STATEMENT).read_bytes())
    outcomes = statement["predicate"]["outcomes"]
    gate = (go_job.dir / "preflight_results.jsonl").read_text().splitlines()
    assert len([o for o in outcomes if o["file"] == "policy_results.jsonl"]) == 17
    assert len([o for o in outcomes if o["file"] == "preflight_results.jsonl"]) == len(gate) > 0  # the gate, signed
    assert {o["outcome"] for o in outcomes} == {"pass"}
    assert statement["predicate"]["clm"]["lines"] == 3000


@pytest.mark.parametrize("name", ARTIFACTS)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_one_flipped_byte_fails_and_names_the_file(
    go_job: Job, job_copy: Callable[[Job], Path], name: str, where: str
) -> None:
    folder = job_copy(go_job)
    size = (folder / name).stat().st_size
    _flip(folder / name, {"start": 0, "middle": size // 2, "end": size - 2}[where])
    problems = _verify(go_job, folder)
    assert problems, f"a flipped byte in {name} ({where}) went unnoticed"
    assert any(name in p for p in problems), problems


def test_missing_file_fails(go_job: Job, job_copy: Callable[[Job], Path]) -> None:
    folder = job_copy(go_job)
    (folder / "reliability.png").unlink()
    assert _verify(go_job, folder) == ["reliability.png is missing from the job folder"]


@pytest.mark.parametrize("missing", [STATEMENT, SIGNATURE])
def test_missing_statement_or_signature_fails(go_job: Job, job_copy: Callable[[Job], Path], missing: str) -> None:
    folder = job_copy(go_job)
    (folder / missing).unlink()
    problems = _verify(go_job, folder)
    assert len(problems) == 1
    assert missing in problems[0]


def test_extra_file_fails(go_job: Job, job_copy: Callable[[Job], Path]) -> None:
    folder = job_copy(go_job)
    (folder / "calibration.json").write_text("{}", encoding="utf-8")
    problems = _verify(go_job, folder)
    assert problems == ["calibration.json is an unexpected extra file (not in the signed statement)"]


def test_untrusted_signer_fails(go_job: Job, job_copy: Callable[[Job], Path], tmp_path: Path) -> None:
    other = tmp_path / "other_trusted"
    generate_keypair(tmp_path / "other.key", other)
    problems = _verify(go_job, go_job.dir, trusted=other)
    assert len(problems) == 1
    assert "is not trusted" in problems[0]
    assert SIGNATURE in problems[0]
    assert _verify(go_job, go_job.dir, trusted=tmp_path / "no_such_dir")


def test_resigned_by_an_untrusted_key_fails(go_job: Job, job_copy: Callable[[Job], Path], tmp_path: Path) -> None:
    """Someone edits the report and signs it again with their own key: still not verified."""
    folder = job_copy(go_job)
    (folder / "report.md").write_text("# Ready for review — trust me\n", encoding="utf-8")
    generate_keypair(tmp_path / "mallory.key", tmp_path / "mallory_pub")
    sign_job(folder, tmp_path / "mallory.key", clm_path=go_job.clm, config_json=config_json(go_job.config),
             policy_test_files=default_policy_test_files())  # fmt: skip
    problems = _verify(go_job, folder)
    assert len(problems) == 1
    assert "not trusted" in problems[0]


def test_manifest_state_may_advance_but_its_signed_part_may_not_change(
    go_job: Job, job_copy: Callable[[Job], Path]
) -> None:
    folder = job_copy(go_job)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["state"] = "aborted"
    manifest["history"].append({"state": "aborted", "by": "kari", "at": "2026-11-28T00:00:00+00:00"})
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert _verify(go_job, folder) == []
    manifest["history"][0]["by"] = "someone else"
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert any(MANIFEST in p for p in _verify(go_job, folder))
    manifest["history"][0]["by"] = "Kari Nordmann"
    manifest["operator"] = "someone else"
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert any(MANIFEST in p for p in _verify(go_job, folder))


def test_clm_must_still_extend_the_analysed_bytes(go_job: Job, tmp_path: Path) -> None:
    grown = tmp_path / "grown.jsonl"
    grown.write_bytes(go_job.clm.read_bytes() + b'{"more": 1}\n')
    assert verify_job(go_job.dir, go_job.root / "trusted", clm_path=grown).ok
    changed = tmp_path / "changed.jsonl"
    changed.write_bytes(b"X" + go_job.clm.read_bytes()[1:])
    problems = verify_job(go_job.dir, go_job.root / "trusted", clm_path=changed).problems
    assert len(problems) == 1
    assert "no longer an extension" in problems[0]
    short = tmp_path / "short.jsonl"
    short.write_bytes(go_job.clm.read_bytes()[:-10])
    assert "shorter" in verify_job(go_job.dir, go_job.root / "trusted", clm_path=short).problems[0]


def test_changed_policy_test_file_fails(go_job: Job, job_copy: Callable[[Job], Path], tmp_path: Path) -> None:
    folder = job_copy(go_job)
    for name in (STATEMENT, SIGNATURE):
        (folder / name).unlink()
    extra_test = tmp_path / "test_site_rule.py"
    extra_test.write_text("def test_x():\n    assert True\n", encoding="utf-8")
    sign_job(folder, go_job.root / "keys" / "signing.key", clm_path=go_job.clm, config_json=config_json(go_job.config),
             policy_test_files=[*default_policy_test_files(), extra_test])  # fmt: skip
    assert _verify(go_job, folder) == []
    extra_test.write_text("def test_x():\n    assert False\n", encoding="utf-8")
    problems = _verify(go_job, folder)
    assert problems == [f"policy test file {extra_test} differs from the one that ran for this job"]


def test_signing_refuses_a_clm_that_is_not_the_analysed_one(
    go_job: Job, job_copy: Callable[[Job], Path], tmp_path: Path
) -> None:
    folder = job_copy(go_job)
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"Y" * 100)
    with pytest.raises(SigningError, match="no longer starts with the bytes this job analysed"):
        sign_job(folder, go_job.root / "keys" / "signing.key", clm_path=other, config_json=config_json(go_job.config),
                 policy_test_files=[])  # fmt: skip


def test_keygen_makes_a_0600_key_and_refuses_to_overwrite(tmp_path: Path) -> None:
    private = tmp_path / "keys" / "signing.key"
    public = generate_keypair(private, tmp_path / "trusted")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert public.parent == tmp_path / "trusted"
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    before = private.read_bytes()
    with pytest.raises(SigningError, match="refusing to overwrite"):
        generate_keypair(private, tmp_path / "trusted")
    assert private.read_bytes() == before


def test_cli_keygen_verify_abort(go_job: Job, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The commands' exit codes and what they print: one real child process, the variants in-process."""
    config = str(go_job.config_file)
    keys = ["--private-key", str(tmp_path / "k.key"), "--trusted-dir", str(tmp_path / "t")]
    ok = run_cli("--config", config, "verify", go_job.id)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("VERIFIED")

    def main(*args: str) -> tuple[int, str, str]:
        code = cli.main(["--config", config, *args])
        out, err = capsys.readouterr()
        return code, out, err

    assert main("keygen", *keys)[0] == 0
    code, out, _ = main("keygen", *keys)
    assert code == 2
    assert "refusing to overwrite" in out
    code, out, _ = main("verify", go_job.id, "--json")
    assert code == 0
    assert json.loads(out)["verdict"] == "GO"
    for bad in ("../etc", "cal_20990101_000000", "cal_20260102_030405/.."):
        code, _, err = main("verify", bad)
        assert code == 2, bad
        assert "calpolicy: error:" in err


def test_cli_verify_names_the_tampered_file_and_abort_changes_only_the_state(go_job: Job, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    shutil.copytree(go_job.dir, jobs / go_job.id)
    config = tmp_path / "calpolicy.toml"
    live = tmp_path / "config"  # abort records itself in the apply history beside the live config (docs/apply.md)
    live.mkdir()
    paths = f'jobs_dir = "{jobs}"\ncalibration_file = "{live / "calibration.json"}"\narchive_dir = "{live / "archive"}"'
    config.write_text(
        go_job.config_file.read_text(encoding="utf-8").replace(f'jobs_dir = "{go_job.root / "jobs"}"', paths),
        encoding="utf-8",
    )
    _flip(jobs / go_job.id / "proposal.json")
    bad = run_cli("--config", str(config), "verify", go_job.id)
    assert bad.returncode == 1
    assert bad.stdout.startswith("NOT VERIFIED")
    assert "FAIL proposal.json does not match the signed statement" in bad.stdout
    before = {p.name: p.read_bytes() for p in (jobs / go_job.id).iterdir() if p.name != MANIFEST}
    clm_before = go_job.clm.read_bytes()
    aborted = run_cli("--config", str(config), "abort", go_job.id, "--reason", "market halted", "--by", "kari")
    assert aborted.returncode == 0, aborted.stderr
    manifest = json.loads((jobs / go_job.id / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["state"] == "aborted"
    assert manifest["history"][-1]["by"] == "kari"
    assert manifest["history"][-1]["note"] == "market halted"
    assert {p.name: p.read_bytes() for p in (jobs / go_job.id).iterdir() if p.name != MANIFEST} == before
    assert go_job.clm.read_bytes() == clm_before
    assert sorted(p.name for p in jobs.iterdir() if not p.name.startswith(".")) == [go_job.id]  # .lock: the store's
    assert cli.main(["--config", str(config), "abort", go_job.id]) == 1  # already decided: a STOP, as approve


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(ARTIFACTS),
    position=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    mask=st.integers(min_value=1, max_value=255),
)
def test_any_changed_byte_anywhere_fails_by_name(go_job: Job, name: str, position: float, mask: int) -> None:
    """Property: whichever file, byte and bit pattern, verify fails and names the file."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / go_job.id
        shutil.copytree(go_job.dir, folder)
        path = folder / name
        data = bytearray(path.read_bytes())
        data[int(position * len(data))] ^= mask
        path.write_bytes(bytes(data))
        problems = _verify(go_job, folder)
    assert problems
    assert any(name in p for p in problems), problems


def test_a_symlink_in_place_of_an_artifact_fails(go_job: Job, job_copy: Callable[[Job], Path], tmp_path: Path) -> None:
    """A symlink to an identical copy still is not the file that was signed."""
    folder = job_copy(go_job)
    elsewhere = tmp_path / "report.md"
    elsewhere.write_bytes((folder / "report.md").read_bytes())
    (folder / "report.md").unlink()
    (folder / "report.md").symlink_to(elsewhere)
    assert _verify(go_job, folder) == ["report.md is not a regular file (a symlink or a folder was put in its place)"]
    with pytest.raises(SigningError, match="not a regular file"):
        sign_job(
            folder,
            go_job.root / "keys" / "signing.key",
            clm_path=go_job.clm,
            config_json=config_json(go_job.config),
            policy_test_files=[],
        )


# ------------------------------------------------------------------- issue 21 §3: what verify must not let by

NOT_SIGNED = " (not in the signed statement)"


def test_a_renamed_job_folder_fails_naming_both_ids(go_job: Job, tmp_path: Path) -> None:
    renamed = tmp_path / "cal_20260102_030406"
    shutil.copytree(go_job.dir, renamed)
    problems = _verify(go_job, renamed)
    assert problems == [
        "the statement was signed for job 'cal_20260102_030405', but this folder is 'cal_20260102_030406': "
        "a renamed or swapped job folder"
    ]


@pytest.mark.parametrize(
    ("add", "message"),
    [
        (lambda f: (f / ".owner").write_text("4242\n"), ".owner is an unexpected extra file" + NOT_SIGNED),
        (lambda f: (f / "notes").mkdir(), "notes is a folder: an unexpected extra entry" + NOT_SIGNED),
        (lambda f: os.mkfifo(f / "pipe"), "pipe is a FIFO (named pipe): an unexpected extra entry" + NOT_SIGNED),
    ],
    ids=["owner_file", "empty_folder", "fifo"],
)
def test_an_added_entry_fails_naming_it(
    go_job: Job, job_copy: Callable[[Job], Path], add: Callable[[Path], object], message: str
) -> None:
    folder = job_copy(go_job)
    add(folder)
    assert _verify(go_job, folder) == [message]


@pytest.mark.parametrize("where", ["envelope", "signature"])
def test_an_extra_key_in_statement_sig_fails(go_job: Job, job_copy: Callable[[Job], Path], where: str) -> None:
    from calpolicy.review.signing import canonical_json

    folder = job_copy(go_job)
    envelope = json.loads((folder / SIGNATURE).read_bytes())
    if where == "envelope":
        envelope["note"] = "harmless?"
    else:
        envelope["signatures"][0]["cert"] = "x"
    (folder / SIGNATURE).write_bytes(canonical_json(envelope))
    problems = _verify(go_job, folder)
    assert len(problems) == 1
    assert problems[0].startswith(f"{SIGNATURE} is damaged: not a DSSE envelope with one signature (unexpected")


def test_trusted_keys_follow_sshs_strict_modes(go_job: Job, tmp_path: Path) -> None:
    trusted = tmp_path / "trusted"
    shutil.copytree(go_job.root / "trusted", trusted)
    assert _verify(go_job, go_job.dir, trusted=trusted) == []
    os.chmod(trusted, 0o777)
    problems = _verify(go_job, go_job.dir, trusted=trusted)
    assert "the trusted keys folder is refused" in problems[0]
    assert "writable by its group or others (mode 777)" in problems[0]
    os.chmod(trusted, 0o755)
    pub = next(trusted.glob("*.pub"))
    os.chmod(pub, 0o666)
    assert "writable by its group or others (mode 666)" in _verify(go_job, go_job.dir, trusted=trusted)[0]
    os.chmod(pub, 0o644)
    os.chown(pub, 4242, 4242)  # another user, not root, not us
    assert "is owned by uid 4242" in _verify(go_job, go_job.dir, trusted=trusted)[0]
    os.chown(pub, 0, 0)
    assert _verify(go_job, go_job.dir, trusted=trusted) == []


def test_a_private_key_others_can_read_does_not_sign(
    go_job: Job, job_copy: Callable[[Job], Path], tmp_path: Path
) -> None:
    key = tmp_path / "k" / "signing.key"
    generate_keypair(key, tmp_path / "pub")
    os.chmod(key, 0o640)
    folder = job_copy(go_job)
    with pytest.raises(SigningError, match=r"refusing to sign with the private key: .* \(mode 640\); chmod 600 it"):
        sign_job(folder, key, clm_path=go_job.clm, config_json=config_json(go_job.config),
                 policy_test_files=default_policy_test_files())  # fmt: skip


def test_a_fifo_as_statement_sig_or_statement_never_blocks(go_job: Job, job_copy: Callable[[Job], Path]) -> None:
    folder = job_copy(go_job)
    (folder / SIGNATURE).unlink()
    os.mkfifo(folder / SIGNATURE)
    assert _verify(go_job, folder) == [f"{SIGNATURE} is a FIFO (named pipe)"]
    (folder / SIGNATURE).unlink()
    (folder / SIGNATURE).symlink_to("/dev/zero")
    assert _verify(go_job, folder) == [f"{SIGNATURE} is a symbolic link"]


def test_verify_survives_a_manifest_whose_history_is_a_number(go_job: Job, job_copy: Callable[[Job], Path]) -> None:
    folder = job_copy(go_job)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["history"] = 7
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    problems = _verify(go_job, folder)
    assert len(problems) == 1
    assert problems[0].startswith(f"{MANIFEST} does not match the signed statement")


def test_a_manifest_changed_without_a_new_history_entry_fails(go_job: Job, job_copy: Callable[[Job], Path]) -> None:
    """Only a transition (a history entry appended) may change the manifest's mutable keys."""
    folder = job_copy(go_job)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["state"] = "aborted"  # the mutable key alone, history as signed
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    problems = _verify(go_job, folder)
    assert len(problems) == 1
    assert problems[0].startswith(f"{MANIFEST} does not match the signed statement")
