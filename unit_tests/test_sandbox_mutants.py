"""The sandbox's parent side where the mutation run of issue 21 §5 found it untested (see docs/mutation.md).

Each test runs on real parts: a real file tree built like a host *without* merged ``/usr`` (real folders,
real symlinks: this Debian, where ``/lib`` is a link, never runs those branches), a real pseudo-terminal
opened by a real session leader (a fork), a host that names another multiarch triple or another machine
(the interpreter's own ``sysconfig`` values and ``os.uname``, as ``test_sandbox_inprocess.py`` sets
``sys.base_prefix``), a real stand-in ``bwrap`` on a real ``PATH``, and real bubblewrap runs of a task
that garbles its report.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

from calpolicy.lockdown import sandbox, seccomp
from calpolicy.lockdown.sandbox import SandboxError, run_sandboxed

ATTEMPTS = "policy_tests.phase1.attempts"


def host_tree(root: Path, arch: str, merged: bool) -> Path:
    """A host root as the linker sees it. ``merged``: ``/lib`` and ``/lib64`` are links into ``/usr``
    (Debian 12); else real folders, ``/lib32`` a link, ``/libx32`` a folder (an older multilib host)."""
    (root / "usr" / "lib" / arch).mkdir(parents=True)
    (root / "usr" / "lib32").mkdir()
    (root / "etc").mkdir()
    (root / "etc" / "ld.so.cache").write_bytes(b"ld.so-1.7.0")
    if merged:
        (root / "usr" / "lib64").mkdir()
        (root / "lib").symlink_to("usr/lib")
        (root / "lib64").symlink_to("usr/lib64")
    else:
        (root / "lib" / arch).mkdir(parents=True)
        (root / "lib64").mkdir()
        (root / "lib32").symlink_to("usr/lib32")
        (root / "libx32").mkdir()
        (root / "usr" / "lib64").symlink_to("lib")  # a link: never bound (bwrap would follow it)
    return root


def test_a_host_without_merged_usr_gets_its_library_folders_bound_and_its_links_recreated(tmp_path: Path) -> None:
    arch = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    root = host_tree(tmp_path, arch, merged=False)
    binds, links = sandbox.linker_paths(str(root))
    assert binds == [root / "lib" / arch, root / "lib64", root / "libx32", root / "usr" / "lib" / arch,
                     root / "etc" / "ld.so.cache"]  # fmt: skip
    assert links == [("usr/lib32", str(root / "lib32"))]


def test_a_merged_usr_host_gets_its_links_and_only_the_folders_that_exist(tmp_path: Path) -> None:
    arch = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    root = host_tree(tmp_path, arch, merged=True)
    binds, links = sandbox.linker_paths(str(root))
    assert binds == [root / "usr" / "lib" / arch, root / "usr" / "lib64", root / "etc" / "ld.so.cache"]
    assert links == [("usr/lib", str(root / "lib")), ("usr/lib64", str(root / "lib64"))]
    (root / "etc" / "ld.so.cache").unlink()  # a host without a linker cache: nothing missing is bound
    assert sandbox.linker_paths(str(root))[0] == [root / "usr" / "lib" / arch, root / "usr" / "lib64"]


def test_the_library_folder_is_the_one_pythons_multiarch_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interpreter built for another triple (``MULTIARCH``) reads that folder; one that names none
    (a non-Debian build) reads ``<machine>-linux-gnu``."""
    for arch in ("arm-linux-gnueabihf", f"{os.uname().machine}-linux-gnu"):
        host_tree(tmp_path / arch, arch, merged=False)
    config = sysconfig.get_config_vars()
    monkeypatch.setitem(config, "MULTIARCH", "arm-linux-gnueabihf")
    root = tmp_path / "arm-linux-gnueabihf"
    binds, _ = sandbox.linker_paths(str(root))
    assert root / "lib" / "arm-linux-gnueabihf" in binds
    assert root / "usr" / "lib" / "arm-linux-gnueabihf" in binds
    monkeypatch.delitem(config, "MULTIARCH")
    root = tmp_path / f"{os.uname().machine}-linux-gnu"
    binds, _ = sandbox.linker_paths(str(root))
    assert root / "usr" / "lib" / f"{os.uname().machine}-linux-gnu" in binds


def test_a_machine_without_a_seccomp_filter_is_told_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel whose machine has no filter table (here named ``sparc64``): the run is still locked down by
    the namespaces, and the operator reads that no seccomp filter is in place — never the filter's claim."""
    folder = tmp_path / "bin"
    folder.mkdir()
    bwrap = folder / "bwrap"
    bwrap.write_text("#!/bin/sh\nexit 0\n")  # a bwrap whose probe succeeds
    bwrap.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    real = os.uname()
    monkeypatch.setattr(os, "uname", lambda: os.uname_result((*real[:4], "sparc64")))
    assert seccomp.program() is None
    assert sandbox._seccomp_fd() is None
    assert sandbox.os_guard() == (str(bwrap), sandbox.OS_GUARD + sandbox.NO_SECCOMP_NOTE)
    assert sandbox.OS_GUARD.endswith("only the job folder writable")
    assert sandbox.NO_SECCOMP_NOTE == "; no seccomp filter for this architecture"


def test_a_terminal_given_as_input_is_refused_and_never_becomes_the_controlling_terminal(tmp_path: Path) -> None:
    """``O_NOCTTY``: a session leader without a terminal (a run started from a service) that opens a
    terminal device would take it as its controlling terminal, and a hang-up there would kill the run.
    The input is refused as not a regular file, and the run still has no terminal afterwards."""
    master, follower = os.openpty()
    name = Path(os.ttyname(follower))
    os.close(follower)
    try:
        with pytest.raises(SandboxError, match=f"^the input {name} is not a regular file$"):
            sandbox._open_inputs([name])
        pid = os.fork()
        if pid == 0:  # the child: a new session, so no controlling terminal; report through the exit code
            code = 9
            try:
                os.setsid()
                try:
                    sandbox._open_inputs([name])
                    code = 2
                except SandboxError:
                    try:
                        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
                        code = 3  # the input became this session's terminal
                    except OSError:
                        code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "2: not refused, 3: took the terminal"
    finally:
        os.close(master)


# ------------------------------------------------------------------------ a garbled report, for real


def test_a_report_that_is_neither_utf8_nor_json_is_no_result_and_says_no_output(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 and not JSON on the result pipe, a clean exit, nothing on stderr: the run
    has no result, and the operator reads exactly that, not a traceback."""
    args = {"result_hex": b"\xff\xfe not json\n".hex(), "exit": 0}
    result = run_sandboxed(f"{ATTEMPTS}:garbled_report", tmp_path, [], args, timeout_s=60)
    assert (result.result, result.violation, result.returncode) == (None, None, 0)
    assert result.error == "the sandbox ended without a result (exit 0): no output"
    assert result.stderr_tail == ""


def test_stderr_that_is_not_utf8_is_shown_with_replacement_characters(tmp_path: Path) -> None:
    args = {"stderr_hex": b"first\n\xffbroken \xc3\n".hex(), "exit": 5}
    result = run_sandboxed(f"{ATTEMPTS}:garbled_report", tmp_path, [], args, timeout_s=60)
    assert (result.result, result.violation, result.returncode) == (None, None, 5)
    assert result.stderr_tail == "first\n\ufffdbroken \ufffd"
    assert result.error == "the sandbox ended without a result (exit 5): first\n\ufffdbroken \ufffd"


def test_no_true_to_probe_with_is_a_problem_named_as_such(tmp_path: Path) -> None:
    """A host whose search path holds no ``true`` (here an empty folder): bubblewrap cannot be probed,
    so it is not trusted — the run is could-not-check, with this reason."""
    bwrap = tmp_path / "bin" / "bwrap"
    bwrap.parent.mkdir()
    bwrap.write_text("#!/bin/sh\nexit 0\n")
    bwrap.chmod(0o755)
    assert sandbox._probe(str(bwrap), search=str(tmp_path / "empty")) == "no true(1) to probe bubblewrap with"
    assert sandbox._probe(str(bwrap)) is None  # the same bwrap, with true where the probe looks for it


def test_a_bwrap_that_hangs_is_a_problem_not_a_wait(tmp_path: Path) -> None:
    """The probe's time limit: a stand-in bwrap that never ends is stopped and reported (its path named),
    instead of holding every run at its start."""
    bwrap = tmp_path / "bin" / "bwrap"
    bwrap.parent.mkdir()
    bwrap.write_text("#!/bin/sh\nexec sleep 3600\n")
    bwrap.chmod(0o755)
    problem = sandbox._probe(str(bwrap), timeout_s=0.5)
    assert problem is not None
    assert str(bwrap) in problem


def test_a_bwrap_that_dies_before_reading_the_spec_is_its_own_refusal_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec larger than a pipe holds (a 256 KiB argument) and a stand-in bwrap that passes the probe
    but closes its standard input unread and refuses: the parent's write fails with a broken pipe, which
    must not escape — the operator reads bwrap's own reason."""
    folder = tmp_path / "bin"
    folder.mkdir()
    bwrap = folder / "bwrap"
    bwrap.write_text('#!/bin/sh\nfor last; do :; done\ncase "$last" in */true) exit 0;; esac\n'
                     'exec 0<&-\necho "bwrap: cannot read the spec" >&2\nexit 1\n')  # fmt: skip
    bwrap.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    job = tmp_path / "job"
    job.mkdir()
    with pytest.raises(SandboxError) as refused:
        run_sandboxed(f"{ATTEMPTS}:touch", job, [], {"name": "x" * (256 << 10)}, timeout_s=60)
    assert str(refused.value) == "bubblewrap could not set up the sandbox: cannot read the spec"
    assert os.listdir(job) == []
