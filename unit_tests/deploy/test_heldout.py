"""Held-out cases of issue 21's classes: files that hang, crash, are followed or are hard links (issue 21).

The cases of issue 21 itself are in test_trust.py. These are new variants of the same classes, found by
attacking the after-decision half again: a history or lock line nested 100,000 deep or with an id that
is a list, the jobs folder's own lock as a FIFO or a symlink, the apply lock or history as a hard link
to another file, a manifest whose history is not a list, a job folder swapped for a symlink, a NUL byte
or deep nesting in the config, and `run`'s look at the live file. Every case runs on real files, FIFOs,
links and the real CLI in a child process (exit codes and tracebacks are what is judged).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from calpolicy.apply.deploy.approve import approve_job
from calpolicy.apply.deploy.live import DeployError
from calpolicy.apply.deploy.rollback import rollback
from calpolicy.jobs import DECISIONS_FILE, LOCK_FILE, JobStore
from calpolicy.run.job import _approve_blocker
from unit_tests.conftest import run_cli
from unit_tests.deploy.site import EXISTING_VERSION, Site, make_site, write_toml
from unit_tests.deploy.test_trust import JOB, no_hang, no_traceback, quiet

OTHER = "cal_20261101_130000"
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def site(tmp_path: Path, proposal_json: str) -> Site:
    site = make_site(tmp_path)
    site.add_job(JOB, proposal_json)
    site.add_job(OTHER, proposal_json)
    return site


def applied(site: Site) -> Path:
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    return write_toml(site)


@pytest.mark.parametrize(
    "line",
    [
        DEEP,
        b'{"phase": "begin", "id": [1], "event": "approve", "to": "x"}',
        b'{"phase": "done", "id": {"a": 1}}',
    ],
    ids=["nested-100000-deep", "id-is-a-list", "id-is-an-object"],
)
def test_an_odd_history_line_breaks_no_view_and_not_the_emergency_exit(site: Site, line: bytes) -> None:
    """Was: RecursionError / "unhashable type" tracebacks (exit 3) from status, jobs, history and rollback."""
    toml = applied(site)
    with site.paths.history.open("ab") as handle:
        handle.write(line + b"\n")
    for command in (("status",), ("jobs",), ("history",)):
        done = run_cli("--config", str(toml), *command)
        no_traceback(done)
        assert done.returncode == 0, done.stdout + done.stderr
    jobs = run_cli("--config", str(toml), "jobs")
    assert f"{JOB}      applied" in jobs.stdout, jobs.stdout
    back = run_cli("--config", str(toml), "rollback", "--by", "bob")
    no_traceback(back)
    assert "ROLLED BACK" in back.stdout, back.stdout + back.stderr
    assert json.loads(site.live.read_bytes())["version"] == EXISTING_VERSION


def test_a_lock_holder_record_nested_deep_is_no_holder(site: Site) -> None:
    """Was: RecursionError traceback from rollback (a stale lock file 3000 '[' long closed the emergency exit)."""
    toml = applied(site)
    (site.paths.folder / ".calpolicy.lock").write_bytes(b"[" * 3000)
    back = run_cli("--config", str(toml), "rollback", "--by", "bob")
    no_traceback(back)
    assert "ROLLED BACK" in back.stdout, back.stdout + back.stderr


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_the_jobs_folder_lock_is_never_waited_on_or_followed(site: Site, kind: str) -> None:
    """Was: `abort` hung forever on a FIFO as jobs/.lock, and created/opened the target of a symlink as root."""
    toml = write_toml(site)
    lock = site.jobs / LOCK_FILE
    lock.unlink(missing_ok=True)
    target = site.root / "created_by_root"
    if kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.symlink_to(target)
    done = no_hang(lambda: run_cli("--config", str(toml), "abort", OTHER, "--by", "bob"))
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not aborted" in done.stdout
    assert str(lock) in done.stdout
    assert not target.exists()
    assert site.manifest(OTHER)["state"] == "proposed"


@pytest.mark.parametrize("name", [".calpolicy.lock", "history"])
def test_a_hard_link_is_never_truncated_or_appended_to(site: Site, name: str) -> None:
    """Was: rollback truncated a file hard-linked as .calpolicy.lock (the other name's content was lost)."""
    toml = applied(site)
    victim = site.root / "victim.txt"
    victim.write_bytes(b"precious\n")
    link = site.paths.folder / ".calpolicy.lock" if name != "history" else site.paths.history
    link.unlink()
    os.link(victim, link)
    before = site.live_bytes()
    target = "none" if name == "history" else "previous"  # `none` needs no recorded target: it reaches the append
    done = run_cli("--config", str(toml), "rollback", target, "--by", "bob")
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "hard links" in done.stdout + done.stderr, done.stdout + done.stderr
    assert victim.read_bytes() == b"precious\n"
    assert site.live_bytes() == before


def test_a_manifest_whose_history_is_not_a_list_is_a_clear_stop(site: Site) -> None:
    """Was: `abort` crashed ("Value after * must be an iterable"), after its decision was already recorded."""
    path = site.jobs / OTHER / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["history"] = 5
    path.write_text(json.dumps(manifest))
    decisions = site.jobs / DECISIONS_FILE
    before = decisions.read_bytes() if decisions.exists() else b""
    done = run_cli("--config", str(write_toml(site)), "abort", OTHER, "--by", "bob")
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "history that is int, not a list" in done.stdout
    assert (decisions.read_bytes() if decisions.exists() else b"") == before  # nothing recorded


def test_a_job_folder_swapped_for_a_symlink_is_never_rewritten(site: Site) -> None:
    """Was: `abort` followed jobs/<id> -> elsewhere and rewrote the manifest it found there."""
    elsewhere = site.root / "elsewhere"
    shutil.move(site.jobs / OTHER, elsewhere)
    (site.jobs / OTHER).symlink_to(elsewhere)
    before = (elsewhere / "manifest.json").read_bytes()
    toml = write_toml(site)
    done = run_cli("--config", str(toml), "abort", OTHER, "--by", "bob")
    no_traceback(done)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is a symbolic link" in done.stderr
    assert (elsewhere / "manifest.json").read_bytes() == before
    listing = run_cli("--config", str(toml), "jobs")
    assert f"{OTHER}      UNREADABLE" in listing.stdout, listing.stdout


@pytest.mark.parametrize(
    "line",
    ['jobs_dir = "/tmp/a\\u0000b"', "deep = " + "[" * 5000 + "]" * 5000],
    ids=["nul-in-a-path", "nested-5000-deep"],
)
def test_a_config_with_a_nul_byte_or_deep_nesting_is_a_usage_error(tmp_path: Path, line: str) -> None:
    """Was: "embedded null byte" / RecursionError tracebacks (exit 3) from every command."""
    toml = tmp_path / "calpolicy.toml"
    section = "[paths]\n" if line.startswith("jobs_dir") else ""
    toml.write_text(section + line + "\n")
    for command in (("status",), ("jobs",), ("rollback", "--by", "bob")):
        done = run_cli("--config", str(toml), *command)
        no_traceback(done)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("calpolicy: error: ")


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_runs_look_at_the_live_file_never_hangs(site: Site, kind: str) -> None:
    """Was: `run`'s closing check read the live file with a plain read: a FIFO hung it, /dev/zero filled memory."""
    site.live.unlink()
    if kind == "fifo":
        os.mkfifo(site.live)
    else:
        site.live.symlink_to("/dev/zero")
    assert no_hang(lambda: _approve_blocker(site.config), 10.0) is None  # approve says what is wrong with it


def test_a_live_file_hard_linked_to_a_secret_is_never_copied_into_the_archive(site: Site) -> None:
    """Was: a calibration.json hard-linked to the private key (mode 600) was archived as unparsable_<hash>,
    mode 644: the key became readable by every user of the host."""
    toml = applied(site)
    secret = site.root / "signing.key"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
    secret.chmod(0o600)
    site.live.unlink()
    os.link(secret, site.live)
    status = run_cli("--config", str(toml), "status")
    no_traceback(status)
    back = run_cli("--config", str(toml), "rollback", "--by", "bob")
    no_traceback(back)
    assert "hard links" in back.stdout + back.stderr, back.stdout + back.stderr
    assert "ROLLED BACK" in back.stdout, back.stdout + back.stderr
    assert json.loads(site.live.read_bytes())["version"] == EXISTING_VERSION
    for archived in site.paths.archive_dir.iterdir():
        assert b"PRIVATE KEY" not in archived.read_bytes(), archived
    assert secret.read_bytes().startswith(b"-----BEGIN PRIVATE KEY")


def test_a_rollback_cut_out_of_the_apply_history_does_not_make_the_job_live_again(site: Site) -> None:
    """Was: with the rollback's two lines removed from the (unchained) apply history, the rolled-back job read
    as `applied` and `rollback JOB` put its version live again, past approve's fresh preflight and on-call."""
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    rollback(site.config, by="bob", wait=False, say=quiet)
    entries = [json.loads(line) for line in site.paths.history.read_text().splitlines()]
    rollback_ids = {e["id"] for e in entries if e.get("event") == "rollback"}
    kept = [e for e in entries if e.get("id") not in rollback_ids]
    site.paths.history.write_text("".join(json.dumps(e) + "\n" for e in kept))
    store = JobStore(site.jobs, site.paths.history)
    assert store.state(JOB) == "rolled_back"
    before = site.live_bytes()
    with pytest.raises(DeployError, match="which was rolled back"):
        rollback(site.config, JOB, by="eve", wait=False, say=quiet)
    assert site.live_bytes() == before


@pytest.mark.parametrize(
    ("section", "key", "commands"),
    [
        ("systemd", "command_timeout_s", (("status",), ("rollback", "--by", "bob"), ("confirm",))),
        ("operator", "min_on_call_hours", (("approve", OTHER, "--approver", "bob", "--reviewed", "--yes",
                                            "--on-call-until", "2099-01-01T00:00:00+00:00"),)),
        ("deploy", "preflight_timeout_s", (("approve", OTHER, "--approver", "bob", "--reviewed", "--yes",
                                            "--on-call-until", "2099-01-01T00:00:00+00:00"),)),
        ("watch", "hours", (("status",),)),
    ],
)  # fmt: skip
def test_a_length_of_time_beyond_a_year_is_a_usage_error(
    site: Site, section: str, key: str, commands: tuple[tuple[str, ...], ...]
) -> None:
    """Was: 1e308 seconds or hours crashed status, rollback, confirm and approve (OverflowError, exit 3)."""
    toml = applied(site)
    toml.write_text(toml.read_text() + f"\n[{section}]\n{key} = 1e308\n" if f"[{section}]" not in toml.read_text()
                    else toml.read_text().replace(f"[{section}]", f"[{section}]\n{key} = 1e308", 1))  # fmt: skip
    before = site.live_bytes()
    for command in commands:
        done = run_cli("--config", str(toml), *command)
        no_traceback(done)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"'{section}.{key}'" in done.stderr
        assert "a year" in done.stderr
    assert site.live_bytes() == before


@pytest.mark.parametrize("timeout", ["nan", "inf", "1e308"])
def test_run_refuses_a_timeout_that_is_not_a_number_of_seconds(site: Site, timeout: str) -> None:
    done = run_cli("--config", str(write_toml(site)), "run", "--timeout", timeout)
    no_traceback(done)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--timeout must be a number of seconds" in done.stderr


def test_control_characters_in_files_others_write_are_shown_not_obeyed(site: Site) -> None:
    """Was: a history line's `by`, a manifest's `operator`/`verdict` and a file name planted in a job folder
    reached the terminal raw: `GO\\rSTOP`, an ANSI "erase line" or a window-title sequence rewrote the view."""
    toml = applied(site)
    entries = [json.loads(line) for line in site.paths.history.read_text().splitlines()]
    entries[0]["by"] = "alice\r\x1b[2KAPPROVED by the risk committee\x1b]0;owned\x07"
    site.paths.history.write_text("".join(json.dumps(e) + "\n" for e in entries))
    path = site.jobs / OTHER / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["operator"], manifest["verdict"] = "eve\x1b[1A\x1b[2K", "STOP\rGO  \u202e"
    path.write_text(json.dumps(manifest))
    (site.jobs / OTHER / "x\x1b[2Ky.json").write_bytes(b"{}")
    for command in (("history",), ("jobs",), ("status",), ("verify", OTHER)):
        done = run_cli("--config", str(toml), *command)
        no_traceback(done)
        shown = done.stdout
        assert not any(c in shown for c in "\x1b\r\x07\u202e"), (command, shown)
    history = run_cli("--config", str(toml), "history")
    assert "by alice\\r\\x1b[2KAPPROVED" in history.stdout, history.stdout


def test_a_planted_test_name_in_approves_answer_is_shown_not_obeyed(site: Site) -> None:
    """approve quotes the job's policy results: a test name with `\\r` or ANSI codes must not rewrite its STOP."""
    rows = site.jobs / OTHER / "policy_results.jsonl"
    rows.write_text(json.dumps({"nodeid": "t\r\x1b[2KAPPROVED\x1b[0m", "ids": ["P2.2.a"], "outcome": "fail"}) + "\n")
    done = run_cli("--config", str(write_toml(site)), "approve", OTHER, "--approver", "bob", "--reviewed", "--yes",
                   "--on-call-until", "2099-01-01T00:00:00+00:00")  # fmt: skip
    no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "\\r\\x1b[2KAPPROVED" in done.stdout, done.stdout
    assert not any(c in done.stdout for c in "\x1b\r"), done.stdout


def test_a_planted_copy_is_not_restored_in_place_of_a_recorded_one_that_is_gone(site: Site) -> None:
    """Was: with the copy the history recorded deleted, plain `rollback` restored any other archive file that
    claimed the version (here: the same map moved up by 0.05), unchecked; the history knew its sha256."""
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)
    recorded = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}.json"
    doc = json.loads(recorded.read_bytes())
    mapping = doc["confidence_calibration"]["mapping"]
    for key, value in mapping.items():
        mapping[key] = min(1.0, value + 0.05)
    recorded.unlink()
    planted = site.paths.archive_dir / f"calibration_{EXISTING_VERSION}_b.json"
    planted.write_text(json.dumps(doc))
    before = site.live_bytes()
    with pytest.raises(DeployError, match="that the history recorded are gone"):
        rollback(site.config, by="bob", wait=False, say=quiet)
    with pytest.raises(DeployError, match="that the history recorded are gone"):
        rollback(site.config, EXISTING_VERSION, by="bob", wait=False, say=quiet)
    assert site.live_bytes() == before
    outcome = rollback(site.config, planted.stem, by="bob", wait=False, say=quiet)  # named explicitly: restored
    assert outcome.to_version == EXISTING_VERSION
    assert site.live_bytes() == planted.read_bytes()


def test_an_archived_file_that_does_not_validate_is_named_with_its_reason(site: Site) -> None:
    """Was: "no archived config for version V (archived versions: V, …)": the refusal contradicted itself."""
    archive = site.paths.archive_dir
    archive.mkdir(parents=True)
    invalid = '{"version": "cal_20250101_000000", "confidence_calibration": {"enabled": true}}'  # no mapping
    (archive / "calibration_cal_20250101_000000.json").write_text(invalid)
    with pytest.raises(DeployError, match=r"that validates.*calibration_cal_20250101_000000\.json: .*no mapping"):
        rollback(site.config, "cal_20250101_000000", "bob", wait=False, say=quiet)
