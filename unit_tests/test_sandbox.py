"""The sandbox's rules, its OS-level guard, and the CLM prefix rule (analyse exactly what was judged)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calpolicy.calibrate.task import ClmChanged, read_judged_prefix
from calpolicy.localenv.sample_log import write_sample_log
from calpolicy.lockdown.sandbox import SANDBOX_UID, Guard, SandboxError, run_sandboxed
from calpolicy.run.findings import violation_id
from calpolicy.vocabulary.config import Config
from unit_tests.conftest import with_recorder_stamps


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    (tmp_path / "job").mkdir()
    (tmp_path / "lib").mkdir()
    return Guard(tmp_path / "job", [tmp_path / "clm.jsonl"], [tmp_path / "lib"], result_fd=None)


def test_guard_rules(guard: Guard, tmp_path: Path) -> None:
    job, lib = tmp_path / "job", tmp_path / "lib"
    allowed = [
        ("open", (str(job / "proposal.json"), "w", os.O_WRONLY | os.O_CREAT)),
        ("open", (str(tmp_path / "clm.jsonl"), "r", os.O_RDONLY)),
        ("open", (str(lib / "x.py"), "rb", os.O_RDONLY)),
        ("open", (3, "rb", 0)),
        ("os.mkdir", (str(job / "sub"), 0o777, None)),
        ("os.listdir", (str(lib),)),
        ("import", ("json", None, [], [], [])),
    ]
    for event, args in allowed:
        assert guard.check(event, args) is None, (event, args)
    refused = [
        ("open", (str(tmp_path / "clm.jsonl"), "a", os.O_WRONLY | os.O_APPEND), "open for writing"),
        ("open", (str(tmp_path / "other.json"), "r", os.O_RDONLY), "open for reading"),
        ("open", ("relative.json", None, os.O_WRONLY | os.O_CREAT), "open for writing"),
        ("os.rename", (str(job / "a"), str(tmp_path / "config.json"), None, None), "os.rename"),
        ("os.remove", (str(lib / "x.py"), None), "os.remove"),
        ("socket.connect", (None, ("127.0.0.1", 6379)), "socket.connect"),
        ("subprocess.Popen", ("systemctl", ("systemctl", "restart"), None, None), "subprocess.Popen"),
        ("os.kill", (1, 15), "os.kill"),
        ("ctypes.dlopen", ("libc.so.6",), "ctypes.dlopen"),
    ]
    for event, args, operation in refused:
        assert guard.check(event, args) is not None, (event, args)
        assert guard.check(event, args)[0] == operation
    with pytest.raises(PermissionError, match=r"calpolicy lockdown: socket\.connect 127\.0\.0\.1:6379"):
        guard("socket.connect", (None, ("127.0.0.1", 6379)))


def test_relative_paths_and_descriptors_are_judged_not_guessed(guard: Guard, tmp_path: Path) -> None:
    """A relative path may be resolved by the kernel against a ``dir_fd`` the audit event does not carry:
    refused for reading too (issue 21: the signing key read that way). A change through a descriptor
    (``os.chmod(fd)``) is judged by the file the descriptor names."""
    assert guard.check("open", ("clm.jsonl", "r", os.O_RDONLY)) == ("open for reading", "clm.jsonl")
    assert guard.check("os.listdir", ("keys",)) == ("os.listdir", "keys")
    outside = tmp_path / "config.json"
    outside.write_text("{}")
    inside = tmp_path / "job" / "proposal.json"
    inside.write_text("{}")
    with open(outside, "rb") as read_only, open(inside, "rb") as own:
        fd = read_only.fileno()
        assert guard.check("os.chmod", (fd, 0o644, None)) == ("os.chmod", f"fd {fd} ({outside})")
        assert guard.check("os.chown", (fd, 0, 0, None)) == ("os.chown", f"fd {fd} ({outside})")
        assert guard.check("os.utime", (fd, None, None, None)) == ("os.utime", f"fd {fd} ({outside})")
        assert guard.check("os.chmod", (own.fileno(), 0o644, None)) is None
    assert guard.check("os.chmod", (9999, 0o644, None)) == ("os.chmod", "fd 9999 (unnamed)")


def test_a_symlink_out_of_the_job_folder_is_followed(guard: Guard, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "job" / "link.json").symlink_to(tmp_path / "config.json")
    assert guard.check("open", (str(tmp_path / "job" / "link.json"), "w", os.O_WRONLY)) == (
        "open for writing",
        str(tmp_path / "job" / "link.json"),
    )


def test_violations_map_to_checklist_items() -> None:
    config = Config().with_overrides(
        {"redis.url": "redis://127.0.0.1:6390/0", "paths.model_weights": ["/srv/models"]}, "test"
    )
    assert violation_id("socket.connect", "127.0.0.1:6390", config) == "P1.2.c"
    assert violation_id("socket.connect", "203.0.113.5:443", config) == "P1.2.b"
    assert violation_id("open for reading", "/etc/passwd", config) == "P1.2.a"
    assert violation_id("subprocess.Popen", "systemctl restart", config) == "P1.1.e"
    assert violation_id("open for writing", "/srv/models/xgb.bin", config) == "P1.1.a"
    assert violation_id("open for writing", "/var/tmp/x", config) == "P1.1.c"


def test_the_child_runs_in_its_own_namespaces_without_capabilities(tmp_path: Path) -> None:
    """bubblewrap: another user, mount, PID and network namespace; no capability, no_new_privs, only loopback."""
    result = run_sandboxed("calpolicy.lockdown.sandbox:describe", tmp_path, [])
    assert result.ok, result.error or result.violation
    assert "(bubblewrap)" in result.os_guard
    seen = result.result
    for kind in ("net", "mnt", "pid", "user"):
        assert seen[f"{kind}ns"] != os.stat(f"/proc/self/ns/{kind}").st_ino, kind
    assert seen["interfaces"] == ["lo"]
    assert seen["pid"] == 2  # bwrap's init is 1: no process of the host is visible or reachable
    assert seen["uid"] == SANDBOX_UID
    assert seen["cap_eff"] == seen["cap_bnd"] == "0000000000000000"
    assert seen["no_new_privs"] == "1"
    assert seen["seccomp"] == "2"  # a filter (calpolicy.lockdown.seccomp) is in place
    assert "seccomp: no set-id bits" in result.os_guard


def test_no_bubblewrap_is_could_not_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without bwrap the task is not run at all: a SandboxError (exit 3 in ``run``), never the hook alone."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match=r"bubblewrap \(bwrap\) is not installed"):
        run_sandboxed("calpolicy.lockdown.sandbox:describe", tmp_path, [])


def test_no_user_namespaces_is_could_not_check(tmp_path: Path) -> None:
    """Where bwrap cannot create its namespaces (here: inside a user namespace that allows no more of
    them, a real kernel refusal), the run is could-not-check with bwrap's reason, and nothing ran."""
    marker = tmp_path / "ran"
    code = (
        "import sys\nfrom pathlib import Path\nfrom calpolicy.lockdown.sandbox import SandboxError, run_sandboxed\n"
        "try:\n    run_sandboxed('policy_tests.phase1.attempts:touch', Path(sys.argv[1]), [], {'name': 'ran'})\n"
        "except SandboxError as error:\n    print('SandboxError:', error)\n    sys.exit(3)\n"
    )
    script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'
    argv = ["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", sys.executable, "-c", code, str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "bubblewrap cannot create the sandbox here" in done.stdout
    assert not marker.exists()


def test_the_guard_ignores_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable reaches the child: whatever the caller's environment says, the guard is on."""
    for name in ("CALPOLICY_SANDBOX", "CALPOLICY_LOCKDOWN", "PYTHONPATH", "PYTHONSTARTUP"):
        monkeypatch.setenv(name, "off")
    result = run_sandboxed("policy_tests.phase1.attempts:read_file", tmp_path, [], {"target": "/etc/hostname"})
    assert result.violation == {"operation": "open for reading", "target": "/etc/hostname"}


# ------------------------------------------------------------------------------------ the judged prefix


@pytest.fixture
def judged_log(tmp_path: Path) -> tuple[Path, int, str]:
    path = write_sample_log(tmp_path / "clm.jsonl", n_trades=300)
    data = path.read_bytes()
    return path, len(data), hashlib.sha256(data).hexdigest()


def test_growth_after_the_preflight_is_left_out(judged_log: tuple[Path, int, str], tmp_path: Path) -> None:
    path, size, digest = judged_log
    appended = path.read_bytes().splitlines(keepends=True)[-1]
    with open(path, "ab") as handle:
        handle.write(appended)
    job = tmp_path / "job"
    job.mkdir()
    args = {"clm_path": str(path), "clm_bytes": size, "clm_sha256": digest, "config": Config().as_dict()}
    result = run_sandboxed("calpolicy.calibrate.task:calibrate", job, [path], args)
    assert result.ok, result.error or result.violation
    assert result.result["clm"] == {"path": str(path), "bytes": size, "lines": 300, "sha256": digest}
    assert result.result["grown_bytes"] == len(appended)
    assert (job / "proposal.json").is_file()


def test_a_shrunk_log_is_a_stop(judged_log: tuple[Path, int, str]) -> None:
    path, size, digest = judged_log
    os.truncate(path, size - 10)
    with pytest.raises(ClmChanged, match="shrank"):
        read_judged_prefix(path, size, digest)


def test_a_rewritten_log_is_a_stop(judged_log: tuple[Path, int, str]) -> None:
    path, size, digest = judged_log
    data = bytearray(path.read_bytes())
    data[10:11] = b"X"
    path.write_bytes(bytes(data) + b"\n")
    with pytest.raises(ClmChanged, match="rewritten, not appended"):
        read_judged_prefix(path, size, digest)


# ------------------------------------------------------------------------------------ the zone database


def test_the_zone_database_is_in_view_and_allowed(tmp_path: Path) -> None:
    """A ``+00:00`` stamp can make pandas read /usr/share/zoneinfo/UTC: that read is allowed (issue 20.4)."""
    assert Path("/usr/share/zoneinfo/UTC").is_file(), "the tests need the system zone database (tzdata)"
    result = run_sandboxed("policy_tests.phase1.attempts:read_file", tmp_path, [],
                           {"target": "/usr/share/zoneinfo/UTC"})  # fmt: skip
    assert result.ok, result.violation or result.error
    assert result.result == {"went_through": True}  # read_file reports any read that got through


def test_a_recorder_log_with_utc_offsets_is_calibrated(tmp_path: Path) -> None:
    """The calibration of a recorder-format log (``+00:00`` offsets) makes its proposal: no P1.2.a STOP."""
    path = with_recorder_stamps(write_sample_log(tmp_path / "clm_trades.jsonl"))
    assert b"+00:00" in path.read_bytes()
    data = path.read_bytes()
    job = tmp_path / "job"
    job.mkdir()
    args = {"clm_path": str(path), "clm_bytes": len(data), "clm_sha256": hashlib.sha256(data).hexdigest(),
            "config": Config().as_dict()}  # fmt: skip
    result = run_sandboxed("calpolicy.calibrate.task:calibrate", job, [path], args)
    assert result.ok, result.violation or result.error
    assert "stop" not in result.result, result.result
    assert "error" not in result.result, result.result
    assert (job / "proposal.json").is_file()


def test_a_log_only_its_owner_may_read_is_copied_in_by_the_parent(judged_log: tuple[Path, int, str]) -> None:
    """On the real host the log belongs to the trading system's user. The child (no capabilities) could
    not open such a file itself; the parent opens it and bubblewrap copies it in, read-only."""
    path = judged_log[0]
    os.chown(path, 12345, 12345)
    path.chmod(0o600)
    job = path.parent / "job"
    job.mkdir()
    result = run_sandboxed("policy_tests.phase1.attempts:read_clm", job, [path], {"target": str(path)})
    assert result.ok, result.violation or result.error
    assert result.result["clm_lines"] == 300
    info = os.stat(path)
    assert (info.st_uid, oct(info.st_mode & 0o777)) == (12345, "0o600")
