"""Run a task (the calibration) in a child the kernel locks down; an audit hook inside names what it tried.

**The wall: bubblewrap (``bwrap``).** The child runs in its own user, mount, PID, network, IPC, UTS and
cgroup namespaces, with every capability dropped, ``no_new_privs``, a new session, and
``--die-with-parent``. Its file system is a read-only tmpfs holding only:

- the interpreter and its packages (the venv, the base Python it points to, calpolicy's own code),
- what the dynamic linker needs (``/etc/ld.so.cache`` and the system library folders),
- the zone database (``zoneinfo.TZPATH``, e.g. ``/usr/share/zoneinfo``), read-only,
- a private, read-only copy of each input file (the CLM log) at its usual path, copied by bwrap from a
  descriptor the parent opened: the child never holds a handle on the live file,
- a read-only ``/proc`` of its own PID namespace,
- and one writable folder: the job's.

No keys, no config folder, no ``/run`` or ``/var/run``, no device nodes, no host process; the network
namespace has only a downed-then-private loopback, so no TCP, no abstract Unix socket, and no filesystem
socket (none is in view). When the task's process ends, the namespace's init ends and the kernel kills
everything left in it: nothing the task started outlives the run.

**The explanation: an audit hook** (``sys.addaudithook``) installed before the task runs turns an attempt
into a finding in the checklist's words (P1.x, see ``calpolicy.run.findings.violation_id``) and ends the child at once
(``EXIT_VIOLATION``, so no ``except`` can swallow it). It is not the wall: Python documents audit hooks as
no sandbox, and code in the child can turn them off or go around them (C code, ``_posixsubprocess``); the
kernel then refuses the same operation anyway. If bubblewrap is missing or cannot create its namespaces,
``run_sandboxed`` raises ``SandboxError`` (the run is could-not-check, exit 3): there is no fallback to the
hook alone. docs/lockdown.md says what each layer covers and what is still not protected.

This module stays whole although long (~700 lines): the parent's argv, the child's entry point (it is
started as ``python -I -B -c <boot>``, importing this very module from the parent's own folders:
``child_argv``) and the audit hook are one protocol across a pipe, and are read and changed together.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calpolicy.files.strict_json import parse_json
from calpolicy.lockdown import seccomp

EXIT_VIOLATION = 86
EXIT_TASK_ERROR = 87
SANDBOX_UID = 65534  # the child's uid and gid inside its user namespace ("nobody"); mapped to the caller's
FILE_SIZE_LIMIT = 1 << 30  # RLIMIT_FSIZE: no single file the task writes can exceed 1 GiB
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_NAMESPACES = (
    "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
    "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
    "--die-with-parent", "--new-session", "--cap-drop", "ALL",
)  # fmt: skip

# events whose first argument(s) are paths that get changed
_CHANGE_EVENTS = {
    "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.truncate": 1,
    "os.utime": 1, "os.chflags": 1, "os.lchflags": 1, "os.mkfifo": 1, "os.mknod": 1,
    "os.rename": 2, "os.link": 2, "os.symlink": 2, "shutil.rmtree": 1, "shutil.move": 2,
    "shutil.copyfile": 2, "shutil.copymode": 2, "shutil.copystat": 2, "shutil.chown": 1,
    "os.setxattr": 1, "os.removexattr": 1,
}  # fmt: skip
_READ_EVENTS = ("os.listdir", "os.scandir", "glob.glob", "os.listxattr", "os.getxattr")
_NET_EVENTS = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg")
_PROCESS_EVENTS = (
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "signal.pthread_kill", "os.startfile", "pty.spawn", "os.pidfd_open",
)  # fmt: skip
_CTYPES_EVENTS = ("ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "ctypes.addressof")


class SandboxError(Exception):
    """The sandbox could not run the task (no bubblewrap, no namespaces, timeout, no result)."""


# ============================================================================================ the guard


class Guard:
    """The audit hook's decisions, as a plain object so its rules can be read and tested in one place.

    It explains; the kernel enforces. Anything it cannot judge for sure (a path relative to an unknown
    ``dir_fd``, a descriptor it cannot name) is refused rather than guessed.
    """

    def __init__(self, write_root: Path, read_files: list[Path], read_roots: list[Path], result_fd: int | None) -> None:
        self.write_root = _real(write_root)
        self.read_files = {_real(p) for p in read_files}
        self.read_roots = [_real(p) for p in read_roots] + [self.write_root]
        self.result_fd = result_fd
        self.violation: dict[str, str] | None = None
        self._busy = False

    # ---------------------------------------------------------------------------------- decisions

    def check(self, event: str, args: tuple[Any, ...]) -> tuple[str, str] | None:
        """``(operation, target)`` when ``event`` is forbidden, else None."""
        if event == "open":
            return self._check_open(args)
        if event in _CHANGE_EVENTS:
            for raw in args[: _CHANGE_EVENTS[event]]:
                if raw is None:
                    continue
                if isinstance(raw, int):  # os.chmod(fd), os.chown(fd), os.truncate(fd), os.utime(fd)
                    named = _fd_path(raw)
                    if named is None or not self._may_write(named):
                        return (event, f"fd {raw} ({named or 'unnamed'})")
                    continue
                if not self._may_write(raw):
                    return (event, _show(raw))
            return None
        if event in _READ_EVENTS:
            raw = args[0] if args else "."
            if isinstance(raw, (str, bytes, os.PathLike)) and not self._may_read(raw):
                return (event, _show(raw))
            return None
        if event in _NET_EVENTS:
            address = args[1] if len(args) > 1 else None
            return (event, _address(address))
        if event in _PROCESS_EVENTS:
            return (event, _show(args[0] if args else ""))
        if event in _CTYPES_EVENTS:
            return (event, _show(args[0] if args else ""))
        return None

    def _check_open(self, args: tuple[Any, ...]) -> tuple[str, str] | None:
        path = args[0] if args else None
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if path is None or isinstance(path, int):  # an fd that an audited open produced
            return None
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writes:
            return None if self._may_write(path) else ("open for writing", _show(path))
        return None if self._may_read(path) else ("open for reading", _show(path))

    def _may_write(self, raw: Any) -> bool:
        text = os.fsdecode(raw)
        if not os.path.isabs(text):  # relative to an unknown dir_fd: refuse rather than guess
            return False
        return _within(_real(text), self.write_root)

    def _may_read(self, raw: Any) -> bool:
        text = os.fsdecode(raw)
        if not os.path.isabs(text):  # the kernel resolves it against a dir_fd the event does not show
            return False
        real = _real(text)
        return real in self.read_files or any(_within(real, root) for root in self.read_roots)

    # ---------------------------------------------------------------------------------- the hook

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self._busy:  # the hook's own path resolution raises events: never judge those
            return
        self._busy = True
        try:
            refused = self.check(event, args)
        finally:
            self._busy = False
        if refused is not None:
            self.refuse(*refused)

    def refuse(self, operation: str, target: str) -> None:
        """Record the attempt, report it, and end the child now — no ``except`` can continue the run."""
        self.violation = {"operation": operation, "target": target}
        if self.result_fd is not None:
            _send(self.result_fd, {"violation": self.violation})
            os._exit(EXIT_VIOLATION)
        raise PermissionError(f"calpolicy lockdown: {operation} {target} is not allowed")


def _real(path: Any) -> Path:
    return Path(os.path.realpath(os.fsdecode(path)))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _fd_path(fd: int) -> str | None:
    """What an open descriptor names (``/proc/self/fd``), or None when it names no path we can judge."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return target if target.startswith("/") and not target.endswith(" (deleted)") else None


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_show(v) for v in value)
    try:
        return os.fsdecode(value) if isinstance(value, (str, bytes, os.PathLike)) else str(value)
    except TypeError:
        return repr(value)


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return _show(address)


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message, default=str) + "\n").encode()
    while data:
        written = os.write(fd, data)
        data = data[written:]


def install_roots() -> list[Path]:
    """The Python installation: the standard library, site-packages, the import path, calpolicy's own code.

    Not the whole interpreter prefix: for a system Python that would be all of ``/usr``.
    """
    import calpolicy
    import policy_tests

    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots |= {entry for entry in sys.path if entry}  # the import path, also entries that do not exist
    roots |= {str(Path(calpolicy.__file__).parent), str(Path(policy_tests.__file__).parent)}
    return [Path(r) for r in sorted(roots)]


def zone_roots() -> list[Path]:
    """The system zone database (``zoneinfo.TZPATH``): a ``+00:00`` timestamp may make pandas read it."""
    import zoneinfo

    return [Path(p) for p in zoneinfo.TZPATH if os.path.isdir(p)]


# ============================================================================================ the view


def package_roots() -> list[str]:
    """The folders holding the ``calpolicy`` and ``policy_tests`` this process imported, in that order.

    The child imports exactly these: the code that was judged and is running here is the code the child
    runs, whatever the venv's editable install or a site path would resolve to (a second checkout, mutmut's
    ``mutants/`` copy). Derived from the modules' own ``__file__`` in the parent, never from the
    environment or anything the child controls; ``python_paths`` binds both packages read-only.
    """
    import calpolicy
    import policy_tests

    roots = [str(Path(module.__file__).resolve().parent.parent) for module in (calpolicy, policy_tests)]
    return list(dict.fromkeys(roots))


# the child's first lines: import calpolicy and policy_tests from the parent's folders, then take those
# folders off the import path again (the hook's readable roots are the import path: not the repository)
_CHILD_BOOT = """import sys
roots = {roots!r}
sys.path[:0] = roots
import calpolicy.lockdown.sandbox, policy_tests
del sys.path[:len(roots)]
sys.exit(calpolicy.lockdown.sandbox._child_main())
"""


def child_argv(result_fd: int) -> list[str]:
    """The interpreter command bwrap runs: isolated (``-I``: no environment, no user site, no cwd on the
    path), no bytecode written, calpolicy from ``package_roots``, the result pipe's descriptor."""
    boot = _CHILD_BOOT.format(roots=package_roots())
    return [sys.executable, "-I", "-B", "-c", boot, "--result-fd", str(result_fd)]


def python_paths() -> list[Path]:
    """What the interpreter needs to start and import calpolicy: venv, base install, the package folders.

    A base install under its own prefix (pyenv, /opt/python) is shown whole; a system Python (prefix
    ``/usr``) only by its standard library and executable, never all of ``/usr``.
    """
    import calpolicy
    import policy_tests

    paths: set[str] = {os.path.realpath(sys.prefix)}
    base = os.path.realpath(sys.base_prefix)
    if base in ("/", "/usr", "/usr/local"):
        config = sysconfig.get_paths()
        paths |= {config[k] for k in ("stdlib", "platstdlib") if k in config}
        paths.add(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    else:
        paths.add(base)
    paths.add(os.path.realpath(sys.executable))
    paths |= {str(Path(calpolicy.__file__).resolve().parent), str(Path(policy_tests.__file__).resolve().parent)}
    return sorted((Path(p) for p in paths if os.path.exists(p)), key=str)


def linker_paths(root: str = "/") -> tuple[list[Path], list[tuple[str, str]]]:
    """What the dynamic linker reads: its cache and the system library folders; top-level links (merged /usr).

    ``root`` is the host's root folder: a test passes a real tree built like a host without merged ``/usr``
    (``/lib`` a folder, ``/lib32`` a link), the branches this Debian, where ``/lib`` is a link, never runs.
    """
    arch = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    binds: list[Path] = []
    links: list[tuple[str, str]] = []
    for top in ("lib", "lib64", "lib32", "libx32"):
        path = os.path.join(root, top)
        if os.path.islink(path):
            links.append((os.readlink(path), path))
        elif os.path.isdir(path):
            binds += [Path(path, arch)] if top == "lib" else [Path(path)]
    binds += [Path(root, "usr", "lib", arch), Path(root, "usr", "lib64"), Path(root, "etc", "ld.so.cache")]
    return [p for p in binds if os.path.exists(p) and not os.path.islink(p)], links


def bwrap_argv(
    bwrap: str, workdir: Path, inputs: dict[str, int], seccomp_fd: int | None = None, info_fd: int | None = None
) -> list[str]:
    """The bubblewrap command line: namespaces, the read-only view, the inputs and the one writable folder."""
    binds, links = linker_paths()
    shown = sorted({*binds, *python_paths(), *zone_roots()}, key=str)
    argv = [bwrap, *_NAMESPACES]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    if info_fd is not None:  # bwrap writes {"child-pid": N, ...}: the PID namespace's init (see _sandbox_init)
        argv += ["--info-fd", str(info_fd)]
    for target, link in links:
        argv += ["--symlink", target, link]
    for path in shown:
        argv += ["--ro-bind", str(path), str(path)]
    argv += ["--proc", "/proc", "--remount-ro", "/proc"]  # the PID namespace's own /proc, read-only
    argv += ["--bind", str(workdir), str(workdir)]
    for path, fd in sorted(inputs.items()):
        argv += ["--perms", "0444", "--ro-bind-data", str(fd), path]
    venv_bin = os.path.dirname(sys.executable)
    argv += ["--remount-ro", "/", "--chdir", str(workdir), "--clearenv", "--setenv", "PATH", venv_bin,
             "--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", str(workdir), "--setenv", "HOME", str(workdir),
             "--"]  # fmt: skip
    return argv


# ============================================================================================ the child


def describe(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """A harmless task that reports what the child sees: namespaces, interfaces, uid, capabilities, its
    limits, and which calpolicy it runs (the folder it was imported from)."""
    import resource
    import socket

    status = Path("/proc/self/status").read_text(encoding="utf-8").splitlines()
    fields = dict(line.split(":\t", 1) for line in status if ":\t" in line)
    return {
        "netns": os.stat("/proc/self/ns/net").st_ino,
        "mntns": os.stat("/proc/self/ns/mnt").st_ino,
        "pidns": os.stat("/proc/self/ns/pid").st_ino,
        "userns": os.stat("/proc/self/ns/user").st_ino,
        "interfaces": [name for _, name in socket.if_nameindex()],
        "pid": os.getpid(),
        "uid": os.getuid(),
        "cap_eff": fields.get("CapEff", "").strip(),
        "cap_bnd": fields.get("CapBnd", "").strip(),
        "no_new_privs": fields.get("NoNewPrivs", "").strip(),
        "seccomp": fields.get("Seccomp", "").strip(),  # 2: a filter is in place
        "limits": {name: list(resource.getrlimit(getattr(resource, name))) for name, _ in _limits(0)},
        "package": str(Path(__file__).resolve().parents[1]),  # the calpolicy folder this child imported
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),  # with the one listing them
    }


def _limits(timeout_s: float) -> tuple[tuple[str, int], ...]:
    """The hard limits for a task with ``timeout_s``: no core dump, bounded files, CPU a little past the time."""
    return (("RLIMIT_CORE", 0), ("RLIMIT_FSIZE", FILE_SIZE_LIMIT), ("RLIMIT_CPU", int(timeout_s) + 5))


def _limit(timeout_s: float) -> None:
    """Set ``_limits`` as hard limits the task cannot raise (no CAP_SYS_RESOURCE)."""
    import resource

    for name, value in _limits(timeout_s):
        with contextlib.suppress(ValueError, OSError):  # already lower: keep the lower one
            resource.setrlimit(getattr(resource, name), (value, value))


def _child_main() -> int:
    started = time.time()
    result_fd = int(sys.argv[sys.argv.index("--result-fd") + 1])
    spec = parse_json(sys.stdin.read())
    _limit(float(spec.get("timeout_s", 600.0)))
    module_name, _, function_name = spec["task"].partition(":")
    task = getattr(importlib.import_module(module_name), function_name)  # code, not data: read before the hook
    workdir = Path(spec["workdir"])
    roots = [*install_roots(), *zone_roots(), Path("/proc/self")]  # its own /proc entry: private, read-only
    guard = Guard(workdir, [Path(p) for p in spec["read_files"]], roots, result_fd)
    sys.addaudithook(guard)
    hooked = time.time()
    try:
        value = task(spec.get("args", {}), workdir)
    except Exception as error:  # the task failed (bad input, no space): reported, never a pass
        _send(result_fd, {"error": f"{type(error).__name__}: {error}", "started_at": started, "hooked_at": hooked})
        return EXIT_TASK_ERROR
    if guard.violation is not None:
        return EXIT_VIOLATION
    _send(result_fd, {"result": value, "started_at": started, "hooked_at": hooked, "finished_at": time.time()})
    return 0


# ============================================================================================ the parent


@dataclass(frozen=True)
class SandboxResult:
    """What came back: a result, a lockdown violation, or an error — and how the child was guarded."""

    result: dict[str, Any] | None
    violation: dict[str, str] | None
    error: str | None
    os_guard: str
    returncode: int | None
    spawned_at: float
    started_at: float | None = None
    hooked_at: float | None = None
    finished_at: float | None = None
    stderr_tail: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.violation is None and self.error is None

    @property
    def startup_s(self) -> float | None:
        """Spawn until the hook was in place and the task began (bwrap + interpreter + imports)."""
        return None if self.hooked_at is None else self.hooked_at - self.spawned_at


OS_GUARD = (
    "private network namespace and private user, mount, PID, IPC and UTS namespaces (bubblewrap), no "
    "capabilities, a read-only view of the interpreter, its packages, the linker's libraries and the zone "
    "database; only the job folder writable"
)
SECCOMP_NOTE = "; seccomp: no set-id bits, keyrings, ptrace, bpf, io_uring or mounts, no new process (threads only)"
NO_SECCOMP_NOTE = "; no seccomp filter for this architecture"
_probed: dict[str, str | None] = {}
_probe_lock = threading.Lock()


def os_guard() -> tuple[str, str]:
    """``(bwrap path, description)`` when bubblewrap works here; else ``SandboxError`` saying why.

    Probed once per process and bwrap path with the same namespaces the task gets, running ``true``.
    """
    bwrap = shutil.which("bwrap", path=os.environ.get("PATH", os.defpath))
    if bwrap is None:
        raise SandboxError(
            "bubblewrap (bwrap) is not installed: the calibration cannot be locked down, so it is not run "
            "(install the Debian package bubblewrap; ./install.sh does)"
        )
    with _probe_lock:
        if bwrap not in _probed:
            _probed[bwrap] = _probe(bwrap)
    problem = _probed[bwrap]
    if problem is not None:
        raise SandboxError(f"bubblewrap cannot create the sandbox here, so the calibration is not run: {problem}")
    return bwrap, OS_GUARD + (NO_SECCOMP_NOTE if seccomp.program() is None else SECCOMP_NOTE)


def true_in_sandbox_argv(bwrap: str, true: str) -> list[str]:
    """bubblewrap running ``true`` in the sandbox's namespaces, read-only root and linker: the probe that the
    sandbox can be built here (and what benchmarks/bench_sandbox_startup.py times)."""
    binds, links = linker_paths()
    argv = [bwrap, *_NAMESPACES]
    for target, link in links:
        argv += ["--symlink", target, link]
    for path in [*binds, Path(os.path.realpath(true))]:
        argv += ["--ro-bind", str(path), str(path)]
    return [*argv, "--proc", "/proc", "--remount-ro", "/proc", "--remount-ro", "/", "--", os.path.realpath(true)]


def _probe(bwrap: str, search: str = "/usr/bin:/bin", timeout_s: float = 30.0) -> str | None:
    """Why bubblewrap cannot build the sandbox here, or None. ``search``: where ``true`` is looked for;
    ``timeout_s``: a bwrap that hangs is a problem, not a wait (both given by a test, never by callers)."""
    true = shutil.which("true", path=search)
    if true is None:
        return "no true(1) to probe bubblewrap with"
    argv = true_in_sandbox_argv(bwrap, true)
    try:
        probe = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        return lines[-1] if lines else f"bwrap exited {probe.returncode}"
    return None


def _open_inputs(read_files: list[Path]) -> dict[str, int]:
    """Open each input for the copy bwrap makes; a missing, special or unreadable file is a SandboxError."""
    inputs: dict[str, int] = {}
    try:
        for path in read_files:
            name = os.path.abspath(path)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
            except OSError as error:
                raise SandboxError(f"cannot open the input {name}: {error.strerror}") from None
            inputs[name] = fd
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SandboxError(f"the input {name} is not a regular file")
            os.set_blocking(fd, True)
    except SandboxError:
        _close_all(inputs.values())
        raise
    return inputs


def _defuse_job(workdir: Path, mode_before: int) -> dict[str, str] | None:
    """What the task left in its folder that the parent must not trust; made harmless on the spot.

    The child's files belong to the caller's uid (root, for a root run): a setuid copy of the interpreter
    would be a root shell for anyone who reaches the jobs folder; a symlink named ``proposal.json`` would
    make the parent read a file the child could not; a FIFO would hang it. Such entries are removed (setuid
    and setgid bits cleared, the folder's own mode put back) and the first one is reported as a violation.
    """
    found: dict[str, str] | None = None
    info = os.lstat(workdir)
    if stat.S_IMODE(info.st_mode) != mode_before:
        os.chmod(workdir, mode_before)
        found = {"operation": "changed the job folder's mode", "target": str(workdir)}
    for root, dirs, files in os.walk(workdir):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            entry = os.lstat(path)
            kind = stat.S_IFMT(entry.st_mode)
            if kind not in (stat.S_IFREG, stat.S_IFDIR):
                os.unlink(path)
                what = "a symlink" if kind == stat.S_IFLNK else "a special file"
                found = found or {"operation": f"left {what} in the job folder", "target": path}
                continue
            if entry.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(entry.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
                found = found or {"operation": "left a setuid or setgid file in the job folder", "target": path}
    return found


def _seccomp_fd() -> int | None:
    """A pipe holding the seccomp program for ``bwrap --seccomp`` (read end), or None on an unknown machine."""
    filter_program = seccomp.program()
    if filter_program is None:
        return None
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, filter_program)  # a few hundred bytes: far below a pipe's buffer
    finally:
        os.close(write_end)
    return read_end


def _sandbox_init(info_fd: int, wait_s: float) -> int | None:
    """The PID of the sandbox's init, from bwrap's ``--info-fd`` report, waiting up to ``wait_s`` for it.

    Why: bwrap's child sets ``--die-with-parent`` (``PR_SET_PDEATHSIG``) only after it is cloned; bwrap
    killed in that first instant leaves it running on its own (seen: a task "stopped" at 10 ms still ran
    to its end and wrote into the job folder). Killing the PID namespace's init takes everything in it.
    """
    deadline = time.monotonic() + wait_s
    data = b""
    while (found := re.search(rb'"child-pid":\s*(\d+)', data)) is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([info_fd], [], [], remaining)[0]:
            return None
        chunk = os.read(info_fd, 4096)
        if not chunk:  # bwrap ended without naming a child: there is none
            return None
        data += chunk
    return int(found.group(1))


def _close_all(fds: Any) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


STDERR_KEEP_BYTES = 64 * 1024  # what is kept of the task's stderr: the last lines explain a failure
STDERR_TAIL_CHARS = 4000  # at most this much of it goes into the result (and so into the job's report)


RESULT_KEEP_BYTES = 4 << 20  # what is kept of the result pipe: its last line is the result (a few KiB)


class _TailReader:
    """Drain one of the task's pipes in a thread, keeping only its last ``keep`` bytes.

    Why not ``communicate`` or one read after the task ended: it keeps all of it, and the task is hostile:
    200 MiB written to stderr grew the parent (root) by 600 MiB and put a 200 MiB "tail" into the result.
    And a pipe nobody reads holds 64 KiB: a task that wrote more to its result pipe blocked until the
    run's timeout (600 s). Draining while the task runs means it never blocks on a full pipe.
    """

    def __init__(self, stream: Any, keep: int = STDERR_KEEP_BYTES) -> None:
        self.kept = bytearray()
        self.keep = keep
        self.stream = stream
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := self.stream.read1(1 << 16):
                self.kept += chunk
                del self.kept[: -self.keep]

    def join(self, timeout: float | None = None) -> bytes:
        """What was kept; ``timeout``: stop waiting then (a process that escaped the kill may hold the pipe).

        The stream is closed only once the drain has ended: closing a buffered stream waits for a read in
        progress, so closing it under a reader that is still blocked would hang the parent after all."""
        self.thread.join(timeout)
        if not self.thread.is_alive():
            with contextlib.suppress(OSError):
                self.stream.close()
        return bytes(self.kept)


def _send_spec(child: subprocess.Popen[bytes], spec: bytes) -> None:
    """Hand the task its spec on stdin and close it (a child that died early is no error here)."""
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError):
        child.stdin.write(spec)
    with contextlib.suppress(BrokenPipeError, OSError):
        child.stdin.close()


def run_sandboxed(
    task: str,
    workdir: Path,
    read_files: list[Path],
    args: dict[str, Any] | None = None,
    timeout_s: float = 600.0,
) -> SandboxResult:
    """Run ``module:function(args, workdir)`` in the locked-down child; it may write only inside ``workdir``.

    ``read_files`` are the only data files the task may read (for the calibration: the CLM log); it sees
    a private read-only copy of each at its usual path. Raises ``SandboxError`` when bubblewrap is missing
    or cannot set up, when the task runs past ``timeout_s``, or when the child could not start.
    """
    bwrap, guard_note = os_guard()
    workdir = Path(os.path.abspath(workdir))
    mode_before = stat.S_IMODE(os.lstat(workdir).st_mode)
    inputs = _open_inputs(read_files)
    filter_fd = _seccomp_fd()
    read_end, write_end = os.pipe()
    info_read, info_write = os.pipe()
    spec = {"task": task, "workdir": str(workdir), "read_files": list(inputs), "args": args or {},
            "timeout_s": timeout_s}  # fmt: skip
    argv = [*bwrap_argv(bwrap, workdir, inputs, filter_fd, info_write), *child_argv(write_end)]
    passed = [fd for fd in (write_end, info_write, filter_fd, *inputs.values()) if fd is not None]
    spawned = time.time()
    try:
        child = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=tuple(passed), cwd=workdir, env={"LANG": "C.UTF-8"}, close_fds=True,
        )  # fmt: skip
    except OSError as error:
        _close_all([read_end, info_read, *passed])
        raise SandboxError(f"cannot start the sandbox: {error}") from None
    _close_all(passed)
    stderr_box = _TailReader(child.stderr)
    result_box = _TailReader(os.fdopen(read_end, "rb"), RESULT_KEEP_BYTES)
    try:
        _send_spec(child, json.dumps(spec).encode())
        child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        init = _sandbox_init(info_read, 5.0)  # bwrap names it within milliseconds of its start
        if init is not None:  # first, while bwrap (its parent) is alive and the PID cannot be reused
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGKILL)  # the PID namespace ends: the kernel kills all in it
        child.kill()
        child.wait()
        stderr_box.join(5.0)  # bounded: if bwrap died before naming its child, a survivor may hold stderr
        result_box.join(5.0)
        _close_all([info_read])
        raise SandboxError(f"the sandboxed task did not finish within {timeout_s:g} s and was stopped") from None
    os.close(info_read)
    stderr = stderr_box.join(5.0)  # the task has ended; only a survivor could keep these open
    lines = [ln for ln in result_box.join(5.0).decode("utf-8", "replace").splitlines() if ln.strip()]
    message: dict[str, Any] = {}
    with contextlib.suppress(ValueError, IndexError):
        message = parse_json(lines[-1])
    message = message if isinstance(message, dict) else {}  # a task can write the last line: a list is no result
    err_lines = stderr.decode("utf-8", "replace").strip().splitlines()
    tail = "\n".join(err_lines[-8:])[-STDERR_TAIL_CHARS:]
    if not message and err_lines and err_lines[0].startswith("bwrap: "):
        raise SandboxError(f"bubblewrap could not set up the sandbox: {err_lines[0][len('bwrap: ') :]}")
    error = message.get("error")
    if not message:
        error = f"the sandbox ended without a result (exit {child.returncode}): {tail or 'no output'}"
    left = _defuse_job(workdir, mode_before)  # always, also after a violation: the folder is defused first
    violation = message.get("violation") or left
    return SandboxResult(
        result=None if violation else message.get("result"),
        violation=violation,
        error=error,
        os_guard=guard_note,
        returncode=child.returncode,
        spawned_at=spawned,
        started_at=message.get("started_at"),
        hooked_at=message.get("hooked_at"),
        finished_at=message.get("finished_at"),
        stderr_tail=tail,
    )


if __name__ == "__main__":
    sys.exit(_child_main())
