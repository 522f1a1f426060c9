"""The sandbox's parts, tested in this process on real files, pipes, descriptors and forks (issue 21 §5).

``test_sandbox.py`` and ``test_sandbox_bypasses.py`` run the whole sandbox; what happens in its child is
invisible to a mutation tool that judges the tests of this process. So each part is also pinned here:
the guard's every rule and message, the bubblewrap command line, the read-only view, what the parent
does with a job folder the task left behind, and the child's main function — run for real in a *fork*
of this process (its own audit hook, its own limits, its report on a real pipe), which inherits the code
under test as it is here. Nothing is replaced: where bubblewrap's behaviour is the point, a real
``bwrap`` runs; where the point is what the parent makes of a broken one, a real executable stands in.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import socket
import stat
import sys
import sysconfig
import threading
import time
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

import calpolicy
import policy_tests
from calpolicy.lockdown import sandbox, seccomp
from calpolicy.lockdown.sandbox import (
    EXIT_TASK_ERROR,
    EXIT_VIOLATION,
    FILE_SIZE_LIMIT,
    Guard,
    SandboxError,
    SandboxResult,
    run_sandboxed,
)

ATTEMPTS = "policy_tests.phase1.attempts"


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A job folder, a library folder, the CLM log and a file outside all of them."""
    job, lib = tmp_path / "job", tmp_path / "lib"
    job.mkdir()
    lib.mkdir()
    (tmp_path / "clm.jsonl").write_text("{}\n")
    (tmp_path / "outside.json").write_text("{}")
    return {"root": tmp_path, "job": job, "lib": lib, "clm": tmp_path / "clm.jsonl",
            "outside": tmp_path / "outside.json"}  # fmt: skip


@pytest.fixture
def guard(layout: dict[str, Path]) -> Guard:
    return Guard(layout["job"], [layout["clm"]], [layout["lib"]], result_fd=None)


# ============================================================================================ the guard


def test_open_is_judged_by_mode_characters_and_flags(guard: Guard, layout: dict[str, Path]) -> None:
    """Every write mode character and every write flag alone makes an open a write; a read of a readable
    file is allowed whatever the mode says about binary or text."""
    lib_file = str(layout["lib"] / "x.py")
    for mode in ("w", "a", "x", "r+", "wb", "ab"):
        assert guard.check("open", (lib_file, mode, 0)) == ("open for writing", lib_file), mode
    for flag in (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND):
        assert guard.check("open", (lib_file, None, flag)) == ("open for writing", lib_file), flag
    for mode, flags in (("r", 0), ("rb", os.O_RDONLY), (None, os.O_RDONLY), (None, None), ("r", "w")):
        assert guard.check("open", (lib_file, mode, flags)) is None, (mode, flags)
    assert guard.check("open", (lib_file,)) is None  # a bare path: a read
    assert guard.check("open", (lib_file, "w")) == ("open for writing", lib_file)  # no flags given
    assert guard.check("open", (lib_file, "r")) is None
    assert guard.check("open", ()) is None  # nothing named: nothing to judge (an audited fd open)
    assert guard.check("open", (None, "w", os.O_WRONLY)) is None
    assert guard.check("open", (7, "w", os.O_WRONLY)) is None
    job_file = str(layout["job"] / "proposal.json")
    assert guard.check("open", (job_file, "w", os.O_WRONLY | os.O_CREAT)) is None
    assert guard.check("open", (job_file, "r", 0)) is None  # the job folder is readable too
    outside = str(layout["outside"])
    assert guard.check("open", (outside, "r", 0)) == ("open for reading", outside)
    assert guard.check("open", (outside.encode(), "r", 0)) == ("open for reading", outside)
    assert guard.check("open", (layout["outside"], "r", 0)) == ("open for reading", outside)


def test_the_job_folder_is_the_only_writable_place(guard: Guard, layout: dict[str, Path]) -> None:
    root, job = layout["root"], layout["job"]
    assert guard.check("os.mkdir", (str(job), 0o777, None)) is None  # the folder itself
    assert guard.check("os.mkdir", (str(job / "a" / "b"), 0o777, None)) is None
    for target in (root, root / "job2", root / "jo", layout["lib"] / "x.py", layout["clm"]):
        assert guard.check("os.mkdir", (str(target), 0o777, None)) == ("os.mkdir", str(target)), target
    (root / "job2").mkdir()  # a sibling whose name starts with the job folder's
    assert guard.check("open", (str(root / "job2" / "x"), "w", 0)) == ("open for writing", str(root / "job2" / "x"))
    assert guard.check("os.mkdir", ("job/sub", 0o777, None)) == ("os.mkdir", "job/sub")


def test_a_change_event_checks_each_path_it_names(guard: Guard, layout: dict[str, Path]) -> None:
    """``os.rename(a, b)`` changes two paths: a source inside the job does not make a target outside fine,
    and the reverse; ``None`` (no second path given) is skipped; a one-path event looks only at the first."""
    job, outside = layout["job"], str(layout["outside"])
    inside = str(job / "a")
    assert guard.check("os.rename", (inside, outside, None, None)) == ("os.rename", outside)
    assert guard.check("os.rename", (outside, inside, None, None)) == ("os.rename", outside)
    assert guard.check("os.rename", (inside, str(job / "b"), None, None)) is None
    assert guard.check("shutil.copyfile", (inside, outside)) == ("shutil.copyfile", outside)
    assert guard.check("os.symlink", (inside, None, None)) is None
    assert guard.check("os.remove", (inside, outside)) is None  # the second argument is a dir_fd, not a path
    assert guard.check("os.remove", (outside, None)) == ("os.remove", outside)
    assert guard.check("os.setxattr", (outside, "user.x", b"1", 0, True)) == ("os.setxattr", outside)


def test_every_path_of_a_change_is_judged_whatever_comes_before_it(guard: Guard, layout: dict[str, Path]) -> None:
    """A first argument that is no path (None, or a descriptor of the job's own) does not end the check:
    the path after it is still judged."""
    outside = str(layout["outside"])
    assert guard.check("shutil.move", (None, outside)) == ("shutil.move", outside)
    own = layout["job"] / "own.txt"
    own.write_text("x")
    with open(own, "rb") as mine:
        assert guard.check("os.link", (mine.fileno(), outside, None, None, True)) == ("os.link", outside)
        assert guard.check("os.link", (mine.fileno(), str(layout["job"] / "b"), None, None, True)) is None


def test_a_descriptor_is_judged_by_the_file_it_names(guard: Guard, layout: dict[str, Path]) -> None:
    own = layout["job"] / "own.txt"
    own.write_text("x")
    with open(own, "rb") as mine, open(layout["outside"], "rb") as theirs:
        assert guard.check("os.truncate", (mine.fileno(), 0)) is None
        fd = theirs.fileno()
        assert guard.check("os.truncate", (fd, 0)) == ("os.truncate", f"fd {fd} ({layout['outside']})")
    read_end, write_end = os.pipe()
    try:  # a pipe names no path: refused, and said so
        assert guard.check("os.chmod", (read_end, 0o600, None)) == ("os.chmod", f"fd {read_end} (unnamed)")
    finally:
        os.close(read_end)
        os.close(write_end)


def test_reads_listings_and_their_defaults(guard: Guard, layout: dict[str, Path]) -> None:
    lib, outside = layout["lib"], str(layout["root"])
    assert guard.check("os.scandir", (str(lib),)) is None
    assert guard.check("glob.glob", (str(lib / "*.py"), False)) is None
    assert guard.check("os.listdir", (outside,)) == ("os.listdir", outside)
    assert guard.check("os.listdir", ()) == ("os.listdir", ".")  # no argument: the working folder
    assert guard.check("os.scandir", (5,)) is None  # a descriptor an audited open produced
    assert guard.check("os.getxattr", (str(layout["clm"]), "user.x")) is None  # the CLM log itself
    assert guard.check("os.listxattr", (outside,)) == ("os.listxattr", outside)


def test_network_process_and_ctypes_events_name_their_target(guard: Guard) -> None:
    assert guard.check("socket.bind", (None, ("0.0.0.0", 8080))) == ("socket.bind", "0.0.0.0:8080")
    assert guard.check("socket.sendto", (None, ("::1", 53, 0, 0))) == ("socket.sendto", "::1:53")
    assert guard.check("socket.connect", (None, "/run/redis.sock")) == ("socket.connect", "/run/redis.sock")
    assert guard.check("socket.connect", (None, b"\0abstract")) == ("socket.connect", "\0abstract")
    assert guard.check("socket.connect", (None, ("lonely",))) == ("socket.connect", "lonely")
    assert guard.check("socket.sendmsg", (None,)) == ("socket.sendmsg", "None")
    assert guard.check("os.exec", ("/bin/sh", ["sh", "-c", "id"], None)) == ("os.exec", "/bin/sh")
    assert guard.check("os.system", (b"systemctl restart x",)) == ("os.system", "systemctl restart x")
    assert guard.check("os.posix_spawn", (["a", "b"],)) == ("os.posix_spawn", "a b")
    assert guard.check("os.fork", ()) == ("os.fork", "")
    assert guard.check("os.kill", (1, 9)) == ("os.kill", "1")
    assert guard.check("ctypes.dlsym", (("lib", 3),)) == ("ctypes.dlsym", "lib 3")
    assert guard.check("ctypes.call_function", ()) == ("ctypes.call_function", "")
    for harmless in ("import", "exec", "compile", "object.__getattr__", "socket.gethostname", "os.walk"):
        assert guard.check(harmless, ("x",)) is None, harmless


def test_what_cannot_be_shown_as_a_path_is_shown_as_its_repr() -> None:
    class Odd(os.PathLike[str]):
        def __fspath__(self) -> Any:
            return 42

        def __repr__(self) -> str:
            return "<odd>"

    assert sandbox._show(Odd()) == "<odd>"

    class Named:
        def __str__(self) -> str:
            return "named"

        def __repr__(self) -> str:
            return "<Named>"

    assert sandbox._show(Named()) == "named"  # what is no path is shown as its str
    assert sandbox._show(None) == "None"
    assert sandbox._show([b"a", Path("/b"), 3]) == "a /b 3"
    assert sandbox._show(("x",)) == "x"
    assert sandbox._address(("h", 1, "extra")) == "h:1"


def test_the_hook_refuses_once_and_is_not_fooled_by_its_own_events(guard: Guard, layout: dict[str, Path]) -> None:
    """Called as the audit hook: a forbidden event raises (no result pipe here) and is recorded; an
    allowed one returns; while the hook is judging, the events its own path lookups raise are not judged."""
    assert guard.violation is None
    assert guard("open", (str(layout["lib"] / "x.py"), "r", 0)) is None
    assert guard.violation is None
    target = str(layout["outside"])
    with pytest.raises(PermissionError) as refused:
        guard("open", (target, "w", os.O_WRONLY))
    assert str(refused.value) == f"calpolicy lockdown: open for writing {target} is not allowed"
    assert guard.violation == {"operation": "open for writing", "target": target}
    with pytest.raises(PermissionError):  # not left busy by the first refusal
        guard("os.remove", (target, None))
    assert guard.violation == {"operation": "os.remove", "target": target}
    guard._busy = True  # what the hook sets while it resolves a path
    assert guard("os.remove", (target, None)) is None


def test_descriptors_name_their_file_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert sandbox._fd_path(fd) == str(path)
        path.unlink()
        assert sandbox._fd_path(fd) is None  # "(deleted)": no path to judge
    finally:
        os.close(fd)
    assert sandbox._fd_path(fd) is None  # closed
    with socket.socket() as sock:
        assert sandbox._fd_path(sock.fileno()) is None  # "socket:[…]"


def test_a_message_is_one_json_line_written_whole() -> None:
    """``_send`` writes every byte, even a message larger than a pipe's buffer (several writes)."""
    read_end, write_end = os.pipe()
    big = "x" * 200_000
    try:
        reader = os.fdopen(read_end, "rb")
        pid = os.fork()
        if pid == 0:  # a second process writes, so the pipe's 64 KiB buffer is drained while it writes
            try:
                reader.close()
                sandbox._send(write_end, {"result": {"path": Path("/a"), "big": big}})
            finally:
                os._exit(0)
        os.close(write_end)
        data = reader.read()
        reader.close()
        os.waitpid(pid, 0)
    except BaseException:
        os.close(write_end)
        raise
    assert data == (json.dumps({"result": {"path": "/a", "big": big}}) + "\n").encode()
    read_end, write_end = os.pipe()
    sandbox._send(write_end, {"violation": {"operation": "os.kill", "target": "1"}})
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b'{"violation": {"operation": "os.kill", "target": "1"}}\n'


# ============================================================================================ the view


def test_the_install_roots_are_the_interpreter_and_both_packages() -> None:
    roots = sandbox.install_roots()
    paths = sysconfig.get_paths()
    expected = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    expected |= {entry for entry in sys.path if entry}
    expected |= {str(Path(calpolicy.__file__).parent), str(Path(policy_tests.__file__).parent)}
    assert roots == sorted(Path(p) for p in expected)
    assert Path("") not in roots
    assert Path(".") not in roots


def test_the_zone_roots_are_the_existing_tzpath_folders() -> None:
    assert sandbox.zone_roots() == [Path(p) for p in zoneinfo.TZPATH if os.path.isdir(p)]
    assert Path("/usr/share/zoneinfo") in sandbox.zone_roots()


def test_the_view_holds_the_interpreter_and_both_packages_never_all_of_usr() -> None:
    shown = sandbox.python_paths()
    assert shown == sorted(set(shown), key=str)
    assert all(path.exists() for path in shown)
    assert Path(os.path.realpath(sys.prefix)) in shown
    assert Path(os.path.realpath(sys.executable)) in shown
    assert Path(calpolicy.__file__).resolve().parent in shown
    assert Path(policy_tests.__file__).resolve().parent in shown
    for broad in ("/", "/usr", "/usr/local", "/usr/lib"):
        assert Path(broad) not in shown
    base = os.path.realpath(sys.base_prefix)
    if base in ("/", "/usr", "/usr/local"):
        assert Path(sysconfig.get_paths()["stdlib"]) in shown
        assert Path(os.path.realpath(sys._base_executable)) in shown
    else:
        assert Path(base) in shown  # e.g. pyenv's prefix, shown whole


def test_a_system_python_is_shown_by_its_standard_library_never_its_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """A venv made from a system Python (base prefix ``/usr``): its standard library and executable are
    shown, never all of ``/usr`` (this interpreter's own paths stand in for the system's)."""
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    shown = sandbox.python_paths()
    paths = sysconfig.get_paths()
    assert Path(paths["stdlib"]) in shown
    assert Path(paths["platstdlib"]) in shown
    assert Path(os.path.realpath(sys._base_executable)) in shown
    assert Path(os.path.realpath(sys.prefix)) in shown  # the venv itself, as for any other base
    assert Path("/usr") not in shown
    monkeypatch.setattr(sys, "base_prefix", "/usr/local")
    assert Path("/usr/local") not in sandbox.python_paths()
    monkeypatch.setattr(sys, "base_prefix", "/")
    assert Path("/") not in sandbox.python_paths()
    assert Path(paths["stdlib"]) in sandbox.python_paths()


def test_the_linker_sees_its_cache_and_the_library_folders() -> None:
    binds, links = sandbox.linker_paths()
    arch = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    assert Path("/etc/ld.so.cache") in binds
    assert Path("/usr/lib") / arch in binds
    assert not any(os.path.islink(path) or not os.path.exists(path) for path in binds)
    for top in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            assert (os.readlink(top), top) in links
            assert Path(top) not in binds
        elif os.path.isdir(top):
            assert (Path(top) / arch if top == "/lib" else Path(top)) in binds
    assert len(links) == len(set(links))


def test_the_bubblewrap_command_line(tmp_path: Path) -> None:
    """Namespaces first, then the filter, the linker's links, the read-only view, /proc, the job folder,
    each input's private copy, and the cleared environment — exactly as docs/lockdown.md lists them."""
    job = tmp_path / "job"
    argv = sandbox.bwrap_argv("/usr/bin/bwrap", job, {"/srv/b.jsonl": 9, "/srv/a.jsonl": 8}, seccomp_fd=7)
    assert argv[:17] == ["/usr/bin/bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                         "--unshare-uts", "--unshare-cgroup-try", "--disable-userns", "--uid", "65534", "--gid",
                         "65534", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--seccomp"]  # fmt: skip
    assert argv[17] == "7"
    binds, links = sandbox.linker_paths()
    position = 18
    for target, link in links:
        assert argv[position : position + 3] == ["--symlink", target, link]
        position += 3
    shown = sorted({*binds, *sandbox.python_paths(), *sandbox.zone_roots()}, key=str)
    for path in shown:
        assert argv[position : position + 3] == ["--ro-bind", str(path), str(path)]
        position += 3
    venv_bin = os.path.dirname(sys.executable)
    assert argv[position:] == [
        "--proc", "/proc", "--remount-ro", "/proc", "--bind", str(job), str(job),
        "--perms", "0444", "--ro-bind-data", "8", "/srv/a.jsonl",
        "--perms", "0444", "--ro-bind-data", "9", "/srv/b.jsonl",
        "--remount-ro", "/", "--chdir", str(job), "--clearenv", "--setenv", "PATH", venv_bin,
        "--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", str(job), "--setenv", "HOME", str(job), "--",
    ]  # fmt: skip
    with_info = sandbox.bwrap_argv("/usr/bin/bwrap", job, {}, seccomp_fd=7, info_fd=12)
    assert with_info[16:20] == ["--seccomp", "7", "--info-fd", "12"]
    assert sandbox.bwrap_argv("/usr/bin/bwrap", job, {}, info_fd=12)[16:18] == ["--info-fd", "12"]
    without = sandbox.bwrap_argv("/usr/bin/bwrap", job, {})
    assert "--info-fd" not in without
    assert "--seccomp" not in without
    assert without[16:19] == (["--symlink", *links[0]] if links else ["--ro-bind", str(shown[0]), str(shown[0])])


def test_the_child_imports_the_packages_this_process_imported() -> None:
    """The child's command: an isolated interpreter that puts the folders of *this* process's calpolicy and
    policy_tests first on its path, imports them, and takes the folders off again before the hook."""
    roots = sandbox.package_roots()
    assert roots == list(dict.fromkeys([str(Path(calpolicy.__file__).resolve().parents[1]),
                                        str(Path(policy_tests.__file__).resolve().parents[1])]))  # fmt: skip
    argv = sandbox.child_argv(11)
    assert argv[:4] == [sys.executable, "-I", "-B", "-c"]
    assert argv[5:] == ["--result-fd", "11"]
    boot = argv[4]
    assert f"roots = {roots!r}\n" in boot
    compile(boot, "<boot>", "exec")
    lines = boot.splitlines()
    assert lines.index("sys.path[:0] = roots") < lines.index("import calpolicy.lockdown.sandbox, policy_tests")
    assert lines.index("import calpolicy.lockdown.sandbox, policy_tests") < lines.index("del sys.path[:len(roots)]")
    assert lines[-1] == "sys.exit(calpolicy.lockdown.sandbox._child_main())"


# ============================================================================================ the child


def test_describe_reports_this_process_as_it_is(tmp_path: Path) -> None:
    seen = sandbox.describe({}, tmp_path)
    status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":\t" in line)
    for kind in ("net", "mnt", "pid", "user"):
        assert seen[f"{kind}ns"] == os.stat(f"/proc/self/ns/{kind}").st_ino
    assert seen["interfaces"] == [name for _, name in socket.if_nameindex()]
    assert (seen["pid"], seen["uid"]) == (os.getpid(), os.getuid())
    for key, field in (("cap_eff", "CapEff"), ("cap_bnd", "CapBnd"), ("no_new_privs", "NoNewPrivs"),
                       ("seccomp", "Seccomp")):  # fmt: skip
        assert seen[key] == status[field].strip(), key
    assert len(seen["cap_eff"]) == 16
    assert seen["package"] == str(Path(sandbox.__file__).resolve().parents[1])
    assert {0, 1, 2} <= set(seen["fds"])
    assert seen["limits"] == {name: list(resource.getrlimit(getattr(resource, name)))
                              for name in ("RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_CPU")}  # fmt: skip


def test_the_limits_are_hard_and_follow_the_timeout() -> None:
    """Set in the child (see the fork tests below, which read them back); this process cannot give up its
    own limits and raise them again (no CAP_SYS_RESOURCE in a container, even as root)."""
    assert sandbox._limits(30.9) == (("RLIMIT_CORE", 0), ("RLIMIT_FSIZE", 1 << 30), ("RLIMIT_CPU", 35))
    assert sandbox._limits(0.01) == (("RLIMIT_CORE", 0), ("RLIMIT_FSIZE", FILE_SIZE_LIMIT), ("RLIMIT_CPU", 5))


def enter_the_child_functions_here() -> None:
    """Call ``_child_main``, ``_limit`` and ``Guard.refuse`` here, in ways that stop before they touch anything.

    Why: a mutation tool (mutmut) credits a function only to the tests that run it in the test process;
    what a fork runs is invisible to its bookkeeping, though the fork does run the code under test. Each
    fork test enters both functions here first, so it is counted as a test of them: without a
    ``--result-fd`` the child stops at once (ValueError), and without a timeout no limit is set (TypeError).
    """
    argv = sys.argv
    try:
        sys.argv = ["-c"]
        with pytest.raises(ValueError, match="--result-fd"):
            sandbox._child_main()
    finally:
        sys.argv = argv
    with pytest.raises(TypeError):
        sandbox._limit(None)  # type: ignore[arg-type]
    with pytest.raises(PermissionError):  # no result pipe: raises here instead of ending the process
        Guard(Path("/nonexistent"), [], [], result_fd=None).refuse("entered", "here")


def child_main_in_a_fork(spec: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Run ``_child_main`` in a fork of this process with ``spec`` on its stdin; its exit status and the
    JSON lines it wrote on the result pipe. The fork installs its own audit hook and limits, never ours."""
    enter_the_child_functions_here()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.close(read_end)
            sys.argv = ["-c", "--result-fd", str(write_end)]
            sys.stdin = io.StringIO(json.dumps(spec))
            code = sandbox._child_main()
        except BaseException:  # the fork must never return into pytest
            code = 98
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        lines = pipe.read().decode().splitlines()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), [json.loads(line) for line in lines]


def test_the_child_needs_its_result_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started without ``--result-fd`` the child fails before it reads anything (no silent default)."""
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("{}"))
    with pytest.raises(ValueError, match="--result-fd"):
        sandbox._child_main()


def test_the_child_reports_its_result_with_its_times(tmp_path: Path) -> None:
    code, messages = child_main_in_a_fork({"task": "calpolicy.lockdown.sandbox:describe", "workdir": str(tmp_path),
                                           "read_files": [], "args": {}, "timeout_s": 30.0})  # fmt: skip
    assert code == 0
    assert len(messages) == 1
    message = messages[0]
    assert set(message) == {"result", "started_at", "hooked_at", "finished_at"}
    assert message["started_at"] <= message["hooked_at"] <= message["finished_at"]
    limits = message["result"]["limits"]
    assert limits == {"RLIMIT_CORE": [0, 0], "RLIMIT_FSIZE": [1 << 30, 1 << 30], "RLIMIT_CPU": [35, 35]}


def test_the_child_without_a_timeout_gets_the_default_cpu_limit(tmp_path: Path) -> None:
    (tmp_path / "job").mkdir()
    code, messages = child_main_in_a_fork({"task": f"{ATTEMPTS}:touch", "workdir": str(tmp_path / "job"),
                                           "read_files": [], "args": {"name": "made"}})  # fmt: skip
    assert (code, messages[0]["result"]) == (0, {"went_through": False})
    assert (tmp_path / "job" / "made").read_text() == "written inside the job\n"
    code, messages = child_main_in_a_fork({"task": "calpolicy.lockdown.sandbox:describe", "workdir": str(tmp_path),
                                           "read_files": []})  # fmt: skip
    assert code == 0
    assert messages[0]["result"]["limits"]["RLIMIT_CPU"] == [605, 605]


def test_the_child_ends_at_the_first_refused_attempt(tmp_path: Path) -> None:
    """The hook is on before the task runs: the first forbidden read ends the child with EXIT_VIOLATION and
    one violation line, though the task swallows every exception; the listed input is readable."""
    allowed = tmp_path / "clm.jsonl"
    allowed.write_text("{}\n")
    spec = {"task": f"{ATTEMPTS}:read_file", "workdir": str(tmp_path), "read_files": [str(allowed)]}
    code, messages = child_main_in_a_fork({**spec, "args": {"target": str(allowed)}})
    assert (code, messages[0]["result"]) == (0, {"went_through": True})
    code, messages = child_main_in_a_fork({**spec, "args": {"target": "/etc/hostname"}})
    assert code == EXIT_VIOLATION == 86
    assert messages == [{"violation": {"operation": "open for reading", "target": "/etc/hostname"}}]
    code, messages = child_main_in_a_fork({**spec, "args": {"target": "relative.txt"}})
    assert messages == [{"violation": {"operation": "open for reading", "target": "relative.txt"}}]


def test_a_task_that_silences_the_hook_still_ends_as_a_violation(tmp_path: Path) -> None:
    """The task closes the result pipe, so the refusal cannot be written (the hook's write fails inside the
    task, which swallows it); the child still exits EXIT_VIOLATION, never 0."""
    code, messages = child_main_in_a_fork({"task": f"{ATTEMPTS}:close_result_pipe_then_read",
                                           "workdir": str(tmp_path), "read_files": [],
                                           "args": {"target": "/etc/hostname"}})  # fmt: skip
    assert (code, messages) == (EXIT_VIOLATION, [])


def test_a_failing_task_is_reported_as_an_error_not_a_result(tmp_path: Path) -> None:
    code, messages = child_main_in_a_fork({"task": f"{ATTEMPTS}:touch", "workdir": str(tmp_path),
                                           "read_files": [], "timeout_s": 30})  # fmt: skip
    assert code == EXIT_TASK_ERROR == 87
    assert len(messages) == 1
    assert messages[0]["error"] == "KeyError: 'name'"
    assert set(messages[0]) == {"error", "started_at", "hooked_at"}
    assert messages[0]["started_at"] <= messages[0]["hooked_at"]


# ============================================================================================ the parent


def test_a_result_is_ok_only_without_violation_or_error() -> None:
    base = {"os_guard": "g", "returncode": 0, "spawned_at": 100.0}
    assert SandboxResult(result={}, violation=None, error=None, **base).ok
    assert not SandboxResult(result=None, violation=None, error=None, **base).ok
    assert not SandboxResult(result={}, violation={"operation": "x", "target": "y"}, error=None, **base).ok
    assert not SandboxResult(result={}, violation=None, error="e", **base).ok
    assert SandboxResult(result={}, violation=None, error=None, **base).startup_s is None
    assert SandboxResult(result={}, violation=None, error=None, hooked_at=100.25, **base).startup_s == 0.25


def test_inputs_are_opened_by_the_parent_or_refused(tmp_path: Path) -> None:
    good = tmp_path / "clm.jsonl"
    good.write_text("{}\n")
    before = sorted(os.listdir("/proc/self/fd"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for bad, message in ((tmp_path / "missing", f"cannot open the input {tmp_path / 'missing'}: "),
                         (fifo, f"the input {fifo} is not a regular file"),
                         (tmp_path, f"the input {tmp_path} is not a regular file")):  # fmt: skip
        with pytest.raises(SandboxError) as refused:
            sandbox._open_inputs([good, bad])
        assert str(refused.value).startswith(message), str(refused.value)
        assert sorted(os.listdir("/proc/self/fd")) == before, "a descriptor was left open"
    os.chdir(tmp_path)
    inputs = sandbox._open_inputs([Path("clm.jsonl")])
    try:
        assert list(inputs) == [str(good)]
        fd = inputs[str(good)]
        assert os.get_blocking(fd)
        assert os.read(fd, 100) == b"{}\n"
        assert not os.get_inheritable(fd)
    finally:
        sandbox._close_all(inputs.values())
    sandbox._close_all([fd, 10_000])  # already closed, never open: no error
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_a_clean_job_folder_is_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "proposal.json").write_text("{}")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    mode = stat.S_IMODE(os.lstat(tmp_path).st_mode)
    assert sandbox._defuse_job(tmp_path, mode) is None
    assert (tmp_path / "sub" / "proposal.json").read_text() == "{}"
    assert stat.S_IMODE(os.lstat(tmp_path / "run.sh").st_mode) == 0o755


def test_each_kind_of_trap_is_defused_and_the_first_is_named(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir(mode=0o700)
    (job / "link.json").symlink_to(tmp_path)
    found = sandbox._defuse_job(job, 0o700)
    assert found == {"operation": "left a symlink in the job folder", "target": str(job / "link.json")}
    assert not os.path.lexists(job / "link.json")

    os.mkfifo(job / "pipe")
    assert sandbox._defuse_job(job, 0o700) == {"operation": "left a special file in the job folder",
                                               "target": str(job / "pipe")}  # fmt: skip
    assert not os.path.lexists(job / "pipe")

    (job / "deep").mkdir()
    shutil.copy(sys.executable, job / "deep" / "python")
    os.chmod(job / "deep" / "python", 0o6755)
    (job / "deep" / "group").mkdir()
    os.chmod(job / "deep" / "group", 0o2775)
    found = sandbox._defuse_job(job, 0o700)
    assert found is not None
    assert found["operation"] == "left a setuid or setgid file in the job folder"
    assert found["target"] in (str(job / "deep" / "python"), str(job / "deep" / "group"))
    assert stat.S_IMODE(os.lstat(job / "deep" / "python").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(job / "deep" / "group").st_mode) == 0o775

    os.chmod(job, 0o777)
    (job / "late").symlink_to("/etc/passwd")
    found = sandbox._defuse_job(job, 0o700)  # the folder's mode comes first, the symlink still goes
    assert found == {"operation": "changed the job folder's mode", "target": str(job)}
    assert stat.S_IMODE(os.lstat(job).st_mode) == 0o700
    assert not os.path.lexists(job / "late")
    assert sandbox._defuse_job(job, 0o700) is None


def test_the_filter_reaches_bubblewrap_on_a_pipe() -> None:
    fd = sandbox._seccomp_fd()
    assert fd is not None
    with os.fdopen(fd, "rb") as pipe:
        assert pipe.read() == seccomp.program()  # the whole program, then end of file: the write end is closed


def test_the_sandboxs_init_is_read_from_bwraps_report() -> None:
    """bwrap writes ``{"child-pid": N`` first and the rest of its report later: read until it is named."""
    pipes = [os.pipe() for _ in range(3)]
    try:
        (r1, w1), (r2, w2), (r3, w3) = pipes
        os.write(w1, b'{\n    "child-')
        assert sandbox._sandbox_init(r1, 0.05) is None  # not named in time: not guessed
        os.write(w2, b'{\n    "child-')
        later = threading.Timer(0.1, os.write, (w2, b'pid": 4242,\n "cgroup-namespace": 4026531835}'))
        later.start()
        assert sandbox._sandbox_init(r2, 30.0) == 4242  # a second read completes it
        later.join()
        os.write(w3, b'{"cgroup-namespace": 1}')
        os.close(w3)
        assert sandbox._sandbox_init(r3, 30.0) is None  # bwrap ended without naming one
    finally:
        sandbox._close_all([fd for pair in pipes for fd in pair])


# --------------------------------------------------------------------------------------- os_guard


def fake_bwrap(folder: Path, body: str) -> Path:
    """A stand-in ``bwrap`` executable (the real one works here): what the parent makes of a broken one."""
    folder.mkdir(exist_ok=True)
    path = folder / "bwrap"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_the_probe_runs_true_in_the_same_namespaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "argv"
    bwrap = fake_bwrap(tmp_path / "bin", f'printf "%s\\n" "$@" >> {log}\nexit 0\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    found, note = sandbox.os_guard()
    assert found == str(bwrap)
    assert note == sandbox.OS_GUARD + sandbox.SECCOMP_NOTE
    assert note.startswith("private network namespace and private user, mount, PID, IPC and UTS namespaces")
    true = os.path.realpath(shutil.which("true", path="/usr/bin:/bin") or "")
    argv = log.read_text().splitlines()
    assert argv[:15] == list(sandbox._NAMESPACES)
    binds, links = sandbox.linker_paths()
    expected = [*sandbox._NAMESPACES]
    for target, link in links:
        expected += ["--symlink", target, link]
    for path in [*binds, Path(true)]:
        expected += ["--ro-bind", str(path), str(path)]
    expected += ["--proc", "/proc", "--remount-ro", "/proc", "--remount-ro", "/", "--", true]
    assert argv == expected
    sandbox.os_guard()
    assert log.read_text().splitlines() == expected, "probed once per bwrap path, not on every run"


def test_a_bwrap_that_cannot_start_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bwrap(tmp_path / "a", 'echo "bwrap: starting" >&2\necho "bwrap: setting up uid map: Permission denied" >&2\n'
                               'echo "bwrap: No permissions to create new namespace" >&2\nexit 1\n')  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path / "a"))
    with pytest.raises(SandboxError) as refused:
        sandbox.os_guard()
    assert str(refused.value) == ("bubblewrap cannot create the sandbox here, so the calibration is not run: "
                                  "bwrap: No permissions to create new namespace")  # fmt: skip
    fake_bwrap(tmp_path / "b", "exit 3\n")
    monkeypatch.setenv("PATH", str(tmp_path / "b"))
    with pytest.raises(SandboxError, match=r"is not run: bwrap exited 3$"):
        sandbox.os_guard()
    assert sandbox._probe(str(tmp_path / "none" / "bwrap")) is not None  # cannot even be started
    assert str(tmp_path / "none" / "bwrap") in str(sandbox._probe(str(tmp_path / "none" / "bwrap")))


def test_no_bwrap_on_the_path_is_could_not_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError) as refused:
        sandbox.os_guard()
    assert str(refused.value) == (
        "bubblewrap (bwrap) is not installed: the calibration cannot be locked down, so it is not run "
        "(install the Debian package bubblewrap; ./install.sh does)"
    )
    monkeypatch.delenv("PATH")  # no PATH at all: the default search path (os.defpath), where bwrap is
    assert sandbox.os_guard()[0] == shutil.which("bwrap", path=os.defpath)


# ------------------------------------------------------------------------------ run_sandboxed, for real


def test_a_task_that_fails_comes_back_as_its_error(tmp_path: Path) -> None:
    result = run_sandboxed(f"{ATTEMPTS}:touch", tmp_path, [], None, timeout_s=60)
    assert (result.result, result.violation, result.error) == (None, None, "KeyError: 'name'")
    assert result.returncode == EXIT_TASK_ERROR
    assert result.finished_at is None
    assert result.spawned_at <= result.started_at <= result.hooked_at  # type: ignore[operator]


def test_nothing_the_child_prints_reaches_the_operators_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """``import this`` prints to standard output before the task is found missing: that goes nowhere."""
    result = run_sandboxed("this:nothing", tmp_path, [], {}, timeout_s=60)
    assert result.error is not None
    assert result.stderr_tail.splitlines()[-1] == "AttributeError: module 'this' has no attribute 'nothing'"
    assert capfd.readouterr().out == ""


def test_a_result_comes_back_with_its_times(tmp_path: Path) -> None:
    result = run_sandboxed(f"{ATTEMPTS}:touch", tmp_path, [], {"name": "made"}, timeout_s=60)
    assert result.ok
    assert (result.result, result.returncode, result.stderr_tail) == ({"went_through": False}, 0, "")
    assert result.spawned_at <= result.started_at <= result.hooked_at <= result.finished_at  # type: ignore[operator]
    assert result.startup_s is not None
    assert result.startup_s > 0
    assert result.os_guard == sandbox.OS_GUARD + sandbox.SECCOMP_NOTE
    assert (tmp_path / "made").is_file()


def test_a_child_that_dies_before_its_task_is_an_error_with_its_last_words(tmp_path: Path) -> None:
    result = run_sandboxed("no_such_module_here:task", tmp_path, [], {}, timeout_s=60)
    assert result.result is None
    assert result.violation is None
    assert result.returncode == 1
    assert result.error is not None
    assert result.error == f"the sandbox ended without a result (exit 1): {result.stderr_tail}"
    assert result.stderr_tail.splitlines()[-1] == "ModuleNotFoundError: No module named 'no_such_module_here'"
    assert len(result.stderr_tail.splitlines()) == 8  # the traceback's last eight lines


def test_the_real_child_has_its_limits_and_runs_this_calpolicy(tmp_path: Path) -> None:
    """Also: it holds no descriptor of the parent's (here an inheritable one to the CLM log) but its
    standard streams and the result pipe, and the parent is left with no descriptor of the run."""
    clm = tmp_path / "clm.jsonl"
    clm.write_text("{}\n")
    leaked = os.open(clm, os.O_RDONLY)
    os.set_inheritable(leaked, True)
    try:
        before = sorted(os.listdir("/proc/self/fd"))
        result = run_sandboxed("calpolicy.lockdown.sandbox:describe", tmp_path, [clm], {}, timeout_s=60)
        assert sorted(os.listdir("/proc/self/fd")) == before
    finally:
        os.close(leaked)
    assert result.ok, result.error
    assert result.result is not None
    fds = result.result["fds"]
    assert fds[:3] == [0, 1, 2]
    assert leaked not in fds
    assert len(fds) == 5, fds  # 0, 1, 2, the result pipe, the listing's own
    assert result.result["limits"] == {"RLIMIT_CORE": [0, 0], "RLIMIT_FSIZE": [1 << 30, 1 << 30],
                                       "RLIMIT_CPU": [65, 65]}  # fmt: skip
    assert result.result["package"] == str(Path(sandbox.__file__).resolve().parents[1])


def test_a_violation_comes_back_without_a_result(tmp_path: Path) -> None:
    result = run_sandboxed(f"{ATTEMPTS}:read_file", tmp_path, [], {"target": "/etc/hostname"}, timeout_s=60)
    assert (result.result, result.error, result.returncode) == (None, None, EXIT_VIOLATION)
    assert result.violation == {"operation": "open for reading", "target": "/etc/hostname"}


def test_a_task_past_its_time_is_stopped(tmp_path: Path) -> None:
    """Stopped, not waited for: the task (which would write a file within a second of its start) never
    gets to run, and no descriptor of the run is left open."""
    before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(SandboxError) as stopped:
        run_sandboxed(f"{ATTEMPTS}:touch", tmp_path, [], {"name": "made"}, timeout_s=0.01)
    assert str(stopped.value) == "the sandboxed task did not finish within 0.01 s and was stopped"
    assert sorted(os.listdir("/proc/self/fd")) == before
    time.sleep(1.0)  # an interpreter left running would have imported calpolicy and written the file by now
    assert not (tmp_path / "made").exists()


def test_bubblewraps_own_refusal_is_a_sandbox_error(tmp_path: Path) -> None:
    """An input bwrap cannot place (this process's /proc entry: no such PID in the child's namespace)
    makes bwrap itself fail: its own message, not the child's."""
    with pytest.raises(SandboxError) as refused:
        run_sandboxed(
            "calpolicy.lockdown.sandbox:describe", tmp_path, [Path(f"/proc/{os.getpid()}/status")], {}, timeout_s=60
        )
    message = str(refused.value)
    assert message.startswith("bubblewrap could not set up the sandbox: ")
    assert f"/proc/{os.getpid()}/status" in message
    assert "bwrap: " not in message


def test_a_job_folder_that_is_no_folder_cannot_start(tmp_path: Path) -> None:
    before = sorted(os.listdir("/proc/self/fd"))
    (tmp_path / "file").write_text("")
    with pytest.raises(SandboxError, match=r"^cannot start the sandbox: "):
        run_sandboxed("calpolicy.lockdown.sandbox:describe", tmp_path / "file", [], {}, timeout_s=60)
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_the_child_runs_the_code_this_process_imported(tmp_path: Path) -> None:
    """A second copy of calpolicy, imported by a parent from elsewhere (as mutmut's ``mutants/`` copy is):
    the child must run that copy, not whatever the venv's editable install points at."""
    copy = tmp_path / "copy"
    for package in (calpolicy, policy_tests):
        folder = Path(package.__file__).resolve().parent
        shutil.copytree(folder, copy / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    job = tmp_path / "job"
    job.mkdir()
    code = (
        "import sys\nsys.path.insert(0, sys.argv[1])\nimport json\nfrom pathlib import Path\n"
        "import calpolicy.lockdown.sandbox as s\n"
        "r = s.run_sandboxed('calpolicy.lockdown.sandbox:describe', Path(sys.argv[2]), [], {}, timeout_s=60)\n"
        "print(json.dumps([s.__file__, r.result and r.result['package'], r.error]))\n"
    )
    import subprocess

    environment = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}  # none of this process's
    done = subprocess.run([sys.executable, "-I", "-c", code, str(copy), str(job)], capture_output=True, text=True,
                          timeout=120, check=False, env=environment, cwd=job)  # fmt: skip
    assert done.returncode == 0, done.stderr
    parent_file, child_package, error = json.loads(done.stdout.splitlines()[-1])
    assert Path(parent_file).resolve() == copy.resolve() / "calpolicy" / "lockdown" / "sandbox.py"
    assert error is None
    assert child_package == str(copy.resolve() / "calpolicy")
