"""systemd 252 booted as PID 1 of a private PID + mount namespace (recipe: SYSTEMD_IN_TESTS.md).

It gives the probes real unit states, real ``systemctl`` exit codes and a real journal. THE HAZARD: at
boot systemd's tmpfiles set-up empties ``/tmp`` and ``/var/tmp`` of the shared filesystem, so fresh tmpfs
is mounted on both inside the namespace before systemd starts; ``/var/log/journal`` gets one too, so that
the namespace's journald neither writes into the host's persistent journal nor reads an earlier
namespace's entries for the same unit names. Boot stops at ``sysinit.target``, so services installed on
the machine are not started. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from calpolicy.localenv.ports import wait_for

SYSTEMD = "/lib/systemd/systemd"
QUANTUM_UNITS = ("quantum-ai-engine", "quantum-execution", "quantum-learning-monitor", "quantum-learning-api")

_HEALTHY = (
    "import json, time\n"
    "print(json.dumps({'ts': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'level': 'INFO',"
    " 'service': '{unit}', 'event': 'LOG', 'msg': 'started'}), flush=True)\n"
    "time.sleep(86400)\n"
)


_UNIT_DIR = "/run/systemd/system"
_CGROUP_HIERARCHIES = ("systemd", "unified")  # the hybrid layout's named v1 and v2 trees, where present


class SystemdUnavailable(RuntimeError):
    """This machine cannot boot a private systemd (not root, no unshare/nsenter, no systemd binary)."""


HIDDEN_IN_NAMESPACE = ("/tmp", "/var/tmp")


def _hidden(path: str) -> bool:
    return any(path == top or path.startswith(top + "/") for top in HIDDEN_IN_NAMESPACE)


def unit_interpreter(executable: str = sys.executable, which: Callable[[str], str | None] = shutil.which) -> str:
    """A Python the namespace's units can run: the namespace mounts a fresh, empty /tmp and /var/tmp.

    A venv under /tmp is common; its ``bin/python`` is a symlink, so the real interpreter behind it (or
    the system's ``python3``) is used instead — the units only need the standard library. When every
    candidate lives under /tmp, the reason is said plainly instead of a raw ``systemd-run`` error.
    """
    candidates = [executable, os.path.realpath(executable), which("python3")]
    for candidate in candidates:
        if candidate and not _hidden(os.path.abspath(candidate)) and os.access(candidate, os.X_OK):
            return str(candidate)
    raise SystemdUnavailable(
        f"the Python interpreter {executable} lives under /tmp or /var/tmp, which the systemd namespace "
        "replaces with an empty tmpfs, and no python3 outside them was found: "
        "install calpolicy (its venv) outside /tmp"
    )


def unavailable_reason() -> str | None:
    """Why a namespace cannot be booted here, or None when it can."""
    if os.geteuid() != 0:
        return "booting systemd in a namespace needs root"
    for tool in ("unshare", "nsenter", "systemctl", "systemd-run", "journalctl"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    if not Path(SYSTEMD).exists():
        return f"{SYSTEMD} does not exist"
    try:
        unit_interpreter()
    except SystemdUnavailable as error:
        return str(error)
    return None


def _child_pid(parent: int, name: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and comm == name:
            return int(entry.name)
    return None


class SystemdNamespace:
    """``boot()``/``shutdown()`` or ``with``; ``prefix`` is the command prefix the probes are given."""

    def __init__(self) -> None:
        self.pid = 0
        self._outer: subprocess.Popen[bytes] | None = None
        self._cgroup = ""

    @property
    def prefix(self) -> tuple[str, ...]:
        return ("nsenter", "-t", str(self.pid), "-a")

    def boot(self, timeout_s: float = 20.0) -> SystemdNamespace:
        reason = unavailable_reason()
        if reason:
            raise SystemdUnavailable(reason)
        # Each namespace gets its own cgroup in the host's named systemd (v1) and unified hierarchies:
        # without it, namespaces booted at the same time (parallel test runs) share
        # /sys/fs/cgroup/systemd/system.slice/<unit>.service, so one namespace's process keeps another's
        # stopped unit from being unloaded.
        self._cgroup = f"calpolicy-ns-{uuid.uuid4().hex[:12]}"
        script = (
            f"for h in {' '.join(_CGROUP_HIERARCHIES)}; do d=/sys/fs/cgroup/$h/{self._cgroup}; "
            '[ -d "/sys/fs/cgroup/$h" ] && mkdir -p "$d" && echo $$ > "$d/cgroup.procs"; done; '
            "mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp && "
            "{ [ ! -d /var/log/journal ] || mount -t tmpfs tmpfs /var/log/journal; } && "
            f"exec {SYSTEMD} --system --log-target=null --unit=sysinit.target"
        )
        self._outer = subprocess.Popen(
            ["unshare", "-fp", "--mount-proc", "-m", "--propagation", "private", "/bin/sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        outer = self._outer
        try:
            wait_for(
                lambda: _child_pid(outer.pid, "systemd") is not None or outer.poll() is not None,
                timeout_s,
                "systemd to start in the namespace",
            )
            found = _child_pid(outer.pid, "systemd")
            if found is None:
                raise SystemdUnavailable(f"systemd did not start in the namespace (exit {outer.poll()})")
            self.pid = found
            wait_for(lambda: self.state() in ("running", "degraded"), timeout_s, "systemd to finish booting")
        except BaseException:
            self.shutdown()
            raise
        return self

    def run(self, *argv: str, check: bool = True, timeout_s: float = 15.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, *argv],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=check,
            stdin=subprocess.DEVNULL,
        )

    def state(self) -> str:
        return self.run("systemctl", "is-system-running", check=False).stdout.strip()

    def start_unit(self, unit: str, argv: Sequence[str], properties: Sequence[str] = ()) -> None:
        """(Re)start ``unit`` as a transient service running ``argv``; any previous one is cleared first."""
        self.remove_unit(unit)
        props = [f"--property={p}" for p in properties]
        self.run("systemd-run", f"--unit={unit}", "--quiet", *props, *argv)

    def start_python(self, unit: str, code: str, properties: Sequence[str] = ()) -> None:
        self.start_unit(unit, [unit_interpreter(), "-u", "-c", code], properties)

    def start_healthy(self, unit: str) -> None:
        """A unit that logs one JSON INFO line (the AI engine's shape) and then runs quietly."""
        self.start_python(unit, _HEALTHY.replace("{unit}", unit))

    def start_failing(self, unit: str, code: int = 3) -> None:
        """A unit whose process exits non-zero at once: systemd marks it ``failed``."""
        # it says one line first, as a real service does: the namespace's systemd logs nothing itself
        # (--log-target=null), and a unit with no journal entry at all reads as "journal not visible"
        self.start_unit(unit, ["/bin/sh", "-c", f"echo '{unit}: exiting with status {code}'; exit {code}"])
        wait_for(lambda: self.active_state(unit) == "failed", 10, f"{unit} to fail")

    def start_restarting(self, unit: str) -> None:
        """A crashing unit with ``Restart=always``: it sits in ``activating (auto-restart)``."""
        argv = ["/bin/sh", "-c", f"echo '{unit}: exiting with status 1'; exit 1"]
        self.start_unit(unit, argv, ["Restart=always", "RestartSec=600"])
        wait_for(lambda: self.active_state(unit) == "activating", 10, f"{unit} to wait for its restart")

    def start_installed(self, unit: str, argv: Sequence[str]) -> None:
        """A unit backed by a unit file (in the namespace's private /run), like the real services.

        Transient units are garbage-collected once stopped (they turn ``not-found``); a stopped
        file-backed unit stays ``loaded``/``inactive``, which is what ``systemctl stop`` leaves on a host.
        """
        self.remove_unit(unit)
        body = f"[Service]\nExecStart={shlex.join(argv)}\n"
        self.run("/bin/sh", "-c", f"printf '%s' {shlex.quote(body)} > {_UNIT_DIR}/{unit}.service")
        self.run("systemctl", "daemon-reload")
        self.run("systemctl", "start", unit)

    def stop_unit(self, unit: str) -> None:
        """``systemctl stop``: a file-backed unit becomes ``inactive``, a transient one disappears."""
        self.run("systemctl", "stop", unit)

    def remove_unit(self, unit: str) -> None:
        """Forget a unit entirely (it becomes ``not-found``), whether transient or file-backed."""
        self.run("systemctl", "stop", unit, check=False)
        self.run("systemctl", "reset-failed", unit, check=False)
        if self.run("test", "-e", f"{_UNIT_DIR}/{unit}.service", check=False).returncode == 0:
            self.run("rm", "-f", f"{_UNIT_DIR}/{unit}.service")
            self.run("systemctl", "daemon-reload")
        # systemd collects a stopped transient unit only once its cgroup is reported empty; on a busy host
        # the first collection after boot has been seen to take ~45 s, so allow well beyond that
        wait_for(lambda: self.load_state(unit) == "not-found", 90, f"{unit} to be unloaded")

    def active_state(self, unit: str) -> str:
        return self.run("systemctl", "show", "-p", "ActiveState", "--value", unit).stdout.strip()

    def load_state(self, unit: str) -> str:
        return self.run("systemctl", "show", "-p", "LoadState", "--value", unit).stdout.strip()

    def log_to_journal(self, unit: str, lines: Sequence[str]) -> None:
        """A unit that prints ``lines`` to its journal and keeps running (so it stays active)."""
        code = "import time\n" + "".join(f"print({line!r}, flush=True)\n" for line in lines)
        code += "time.sleep(86400)\n"
        self.start_python(unit, code)

    def clear_journal(self) -> None:
        """Forget every journal entry so far (rotate, then vacuum the archived files)."""
        self.run("journalctl", "--rotate", "-q", check=False)
        self.run("journalctl", "--vacuum-size=1", "-q", check=False)

    def journal_count(self, unit: str, containing: str = "") -> int:
        out = self.run("journalctl", "-u", unit, "-o", "cat", "--no-pager", "-q", check=False).stdout
        return sum(1 for line in out.splitlines() if containing in line)

    def shutdown(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.pid = 0
        if self._outer is not None:
            try:
                self._outer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._outer.pid, signal.SIGKILL)
                self._outer.wait(timeout=10)
            self._outer = None
        self._remove_cgroups()

    def _remove_cgroups(self) -> None:
        """Remove this namespace's (now empty) cgroup folders, deepest first; retried while tasks exit."""
        if not self._cgroup:
            return
        for hierarchy in _CGROUP_HIERARCHIES:
            top = Path("/sys/fs/cgroup") / hierarchy / self._cgroup
            for _ in range(50):
                if not top.exists():
                    break
                folders = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
                for folder in [*folders, top]:
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                if top.exists():
                    time.sleep(0.05)
        self._cgroup = ""

    def __enter__(self) -> SystemdNamespace:
        return self.boot()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.shutdown()


def shell_line(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def wait_journal(ns: SystemdNamespace, unit: str, at_least: int, timeout_s: float = 10.0, containing: str = "") -> None:
    """Wait until journald holds ``at_least`` lines of ``unit`` (containing ``containing``, if given).

    A unit's stdout reaches the journal asynchronously, so tests wait for it rather than sleep.
    """
    deadline = time.monotonic() + timeout_s
    while ns.journal_count(unit, containing) < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{unit} has fewer than {at_least} journal lines after {timeout_s:g} s")
        time.sleep(0.05)
