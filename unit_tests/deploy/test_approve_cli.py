"""The approve/rollback/history commands as an operator runs them, and approve's preconditions."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calpolicy.cli import main
from calpolicy.preflight import PreflightRun
from calpolicy.review.approval import approval_preconditions
from calpolicy.review.signing import default_policy_test_files, generate_keypair, sign_job
from calpolicy.run.context import config_json
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Finding, Verdict
from unit_tests.conftest import run_cli
from unit_tests.deploy.site import EXISTING_VERSION, Site, go_preflight, site_with_one_job
from unit_tests.deploy.site import write_toml as site_toml

JOB = "cal_20261101_120000"
UNTIL = "2099-01-01T00:00:00+00:00"


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    return site_with_one_job(tmp_path, proposal_json, JOB)


write_toml = site_toml


@pytest.fixture
def signing(site: Site) -> Callable[[bool], Config]:
    """Sign the job for real (Ed25519, calpolicy.review.signing); ``trusted=False`` signs with a key whose public
    half is not in the trusted folder, as a job signed on another host would be."""

    def sign(trusted: bool) -> Config:
        key = site.root / "keys" / "signing.key"
        trusted_dir = site.root / "trusted"
        trusted_dir.mkdir(exist_ok=True)
        generate_keypair(key, trusted_dir if trusted else site.root / "elsewhere")
        job = site.jobs / JOB
        manifest = site.manifest(JOB)
        effective = config_json(site.config)
        manifest["config_digest"] = hashlib.sha256(effective.encode("utf-8")).hexdigest()  # as `run` records it
        (job / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        clm = Path(manifest["clm"]["path"])
        sign_job(job, key, clm_path=clm, config_json=effective, policy_test_files=default_policy_test_files())
        return site.config.model_copy(
            update={"signing": site.config.signing.model_copy(update={"trusted_keys_dir": trusted_dir})}
        )

    return sign


def stop_preflight() -> PreflightRun:
    return PreflightRun(
        Verdict((Finding("S.e", "fail", "HALT is set: quantum:global:kill_switch = 1"),)), [], 1, 0.1, ""
    )


def test_signature_unavailable_fails_closed(monkeypatch: pytest.MonkeyPatch, site: Site) -> None:
    monkeypatch.setitem(sys.modules, "calpolicy.review.signing", None)  # import raises ImportError
    problems = approval_preconditions(site.jobs / JOB, site.config, preflight=go_preflight)
    assert any(p.startswith("signature verification unavailable") for p in problems), problems


def test_all_preconditions_hold(signing: Any, site: Site) -> None:
    assert approval_preconditions(site.jobs / JOB, signing(True), preflight=go_preflight) == []


def test_each_precondition_can_refuse(signing: Any, site: Site) -> None:
    config = signing(False)
    job = site.jobs / JOB
    (job / "policy_results.jsonl").write_text(
        json.dumps({"nodeid": "t::bounds", "ids": ["P2.2.b"], "outcome": "fail", "message": "4% < 5%"}) + "\n"
    )
    manifest = site.manifest(JOB)
    Path(manifest["clm"]["path"]).write_bytes(b'{"a": 9}\n{"a": 2}\n{"a": 3}\n')  # rewritten, not appended
    manifest["state"] = "aborted"
    (job / "manifest.json").write_text(json.dumps(manifest))
    problems = approval_preconditions(job, config, preflight=go_preflight)
    text = "\n".join(problems)
    assert "signature: statement.sig: the signer" in text
    assert "is not trusted" in text
    assert "is 'aborted'; only a proposed job can be approved" in text
    assert "policy test t::bounds did not pass (fail): 4% < 5%" in text
    assert "not an append-only extension" in text


def test_an_appended_clm_log_is_accepted_a_truncated_one_is_not(signing: Any, site: Site) -> None:
    config = signing(True)
    clm = Path(site.manifest(JOB)["clm"]["path"])
    with clm.open("ab") as handle:
        handle.write(b'{"a": 3}\n')
    assert approval_preconditions(site.jobs / JOB, config, preflight=go_preflight) == []
    clm.write_bytes(b'{"a": 1}\n')
    assert "shorter than" in approval_preconditions(site.jobs / JOB, config, preflight=go_preflight)[0]
    clm.write_bytes(b'{"a": 1}\n{"a": 2}\n')
    assert hashlib.sha256(clm.read_bytes()).hexdigest() == site.manifest(JOB)["clm"]["sha256"]


def test_a_stop_preflight_refuses(signing: Any, site: Site) -> None:
    problems = approval_preconditions(site.jobs / JOB, signing(True), preflight=stop_preflight)
    assert problems == ["fresh preflight is STOP: S.e fail: HALT is set: quantum:global:kill_switch = 1"]


def test_cli_approve_refuses_without_signature_and_touches_nothing(site: Site) -> None:
    toml = write_toml(site)
    before = site.live.read_bytes()
    args = ("--config", str(toml), "approve", JOB, "--approver", "alice", "--reviewed", "--on-call-until", UNTIL)
    done = run_cli(*args, "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "STOP — job cal_20261101_120000 is NOT applied; the live config is unchanged" in done.stdout
    assert "signature: statement.sig is missing: the job was never signed" in done.stdout
    assert site.live.read_bytes() == before
    assert site.manifest(JOB)["state"] == "proposed"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--on-call-until", UNTIL, "--yes"], "--reviewed is required"),
        (["--on-call-until", UNTIL, "--reviewed"], "--yes is required"),
        (["--on-call-until", "tomorrow", "--reviewed", "--yes"], "must be an ISO-8601 instant"),
    ],
)
def test_cli_approve_usage_errors(
    site: Site, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(write_toml(site)), "approve", JOB, "--approver", "alice", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("job", ["../../etc", "cal_20261101_120000/../x", "x"])
def test_cli_approve_refuses_odd_job_ids(site: Site, job: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["approve", job, "--approver", "a", "--reviewed", "--on-call-until", UNTIL, "--yes"]
    assert main(["--config", str(write_toml(site)), *args]) == 2
    assert "invalid job ID" in capsys.readouterr().err


def test_cli_rollback_refuses_odd_versions(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(write_toml(site)), "rollback", "../x"]) == 2
    assert "invalid version" in capsys.readouterr().err


def test_cli_rollback_and_history(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    from calpolicy.apply.deploy import approve_job

    toml = write_toml(site)
    approve_job(site.config, JOB, "alice", wait=False, say=lambda _: None)
    done = run_cli("--config", str(toml), "rollback", "--by", "bob")
    assert done.returncode == 1  # rolled back, but no engine unit can be seen here to confirm it
    assert f"ROLLED BACK, NOT CONFIRMED — version {EXISTING_VERSION} is written" in done.stdout
    assert "NOT CONFIRMED: cannot see the AI engine unit" in done.stdout
    assert main(["--config", str(toml), "rollback", EXISTING_VERSION, "--by", "bob"]) == 0
    assert "is live already; nothing to do" in capsys.readouterr().out
    history = run_cli("--config", str(toml), "history")
    assert history.returncode == 0
    assert f"live: {EXISTING_VERSION}" in history.stdout
    assert f"approve  {EXISTING_VERSION} → {JOB}  by alice job {JOB}" in history.stdout
    assert f"rollback {JOB} → {EXISTING_VERSION}  by bob" in history.stdout
    assert main(["--config", str(toml), "history", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["history"]
    assert [r["event"] for r in rows] == ["approve", "rollback"]


def test_an_on_call_window_too_short_is_a_stop_as_in_the_preflight(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """One rule for approve and preflight (S.d): a window too short is a policy STOP (exit 1), nothing applied."""
    before = site.live.read_bytes()
    argv = ["--config", str(write_toml(site)), "approve", JOB, "--approver", "alice", "--reviewed", "--yes",
            "--on-call-until", "2000-01-01T00:00:00"]  # fmt: skip
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"STOP — job {JOB} is NOT applied; the live config is unchanged:"
    assert "P3.2.c FAIL: --on-call-until 2000-01-01T00:00:00 does not cover the 24 h watch after apply" in out
    assert site.live.read_bytes() == before
    assert site.manifest(JOB)["state"] == "proposed"


def test_approve_answers_on_the_first_line_of_stdout(site: Site) -> None:
    """The guide's claim: the verdict is the first line; the progress line goes to stderr."""
    toml = write_toml(site)
    done = run_cli("--config", str(toml), "approve", JOB, "--approver", "alice", "--reviewed",
                   "--on-call-until", UNTIL, "--yes")  # fmt: skip
    first = done.stdout.splitlines()[0]
    assert first.startswith(("APPLIED", "STOP")), done.stdout
    assert "checking signature, state, policy results" in done.stderr
    assert "checking" not in done.stdout
