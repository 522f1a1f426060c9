"""Checklist 1.1 and 1.2 — the calibration writes nothing, restarts nothing, reads only the CLM log.

Each test attempts the forbidden operation inside the real sandbox (``calpolicy.lockdown.sandbox``, the same
child the run uses) and must see it refused, with the operation and the path or address named; the
decoy it aimed at must be unchanged. The digest test checks the protected paths around a real run:
the job's own run (``--job``: the digests recorded in its manifest, and again now) or, without a job,
a sandboxed calibration of the configured CLM log run here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calpolicy.lockdown.protected import compare, digest_all, summary
from calpolicy.lockdown.sandbox import SandboxResult, run_sandboxed
from calpolicy.plugin import CouldNotCheck
from calpolicy.vocabulary.config import Config
from policy_tests.phase1.conftest import DECOY_CONTENT, assert_refused

pytestmark = pytest.mark.lockdown
Attempt = Callable[..., SandboxResult]


def _unchanged(path: Path) -> None:
    __tracebackhide__ = True
    assert path.read_bytes() == DECOY_CONTENT, f"{path} was changed"


@pytest.mark.control("P1.1.a")
def test_no_model_weights_written(attempt: Attempt, decoys: dict[str, Path]) -> None:
    """Opening a model weight file for writing is refused."""
    target = decoys["model_weights"]
    assert_refused(attempt("write_file", target=str(target), mode="r+b"), "open for writing", str(target))
    _unchanged(target)


@pytest.mark.control("P1.1.b")
def test_no_ensemble_weights_changed(attempt: Attempt, decoys: dict[str, Path]) -> None:
    """Rewriting the ensemble weights with a low-level ``os.open(O_WRONLY | O_TRUNC)`` is refused."""
    target = decoys["ensemble_weights"]
    assert_refused(attempt("os_open_write", target=str(target)), "open for writing", str(target))
    _unchanged(target)


@pytest.mark.control("P1.1.c")
def test_no_config_files_updated(attempt: Attempt, decoys: dict[str, Path]) -> None:
    """Swapping a new calibration.json in from the job folder, or reaching libc's write() via ctypes."""
    target = decoys["calibration_config"]
    assert_refused(attempt("replace_file", target=str(target)), "os.rename")
    assert_refused(attempt("load_c_library"), "ctypes.dlopen")
    _unchanged(target)


@pytest.mark.control("P1.1.d")
def test_no_meta_agent_parameters_changed(attempt: Attempt, decoys: dict[str, Path]) -> None:
    """Removing the Meta-Agent/RL parameters or adding a folder beside them is refused."""
    target = decoys["meta_agent"]
    assert_refused(attempt("remove_file", target=str(target)), "os.remove", str(target))
    new_dir = target.parent / "v2"
    assert_refused(attempt("make_dir", target=str(new_dir)), "os.mkdir", str(new_dir))
    assert not new_dir.exists()
    _unchanged(target)


@pytest.mark.control("P1.1.e")
@pytest.mark.parametrize(
    ("task", "operation"),
    [
        ("restart_service", "subprocess.Popen"),
        ("shell_command", "os.system"),
        ("fork_process", "os.fork"),
    ],
)
def test_no_restart_triggered(attempt: Attempt, task: str, operation: str) -> None:
    """No process can be started: no ``systemctl restart``, no shell, no exec, no fork."""
    assert_refused(attempt(task, unit="quantum-ai-engine"), operation)


@pytest.mark.control("P1.1.e")
def test_no_process_signalled() -> None:
    """Signalling a process (the engine, say) is refused; the victim here is still alive afterwards."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_sandboxed("policy_tests.phase1.attempts:kill_process", Path(tmp), [], {"pid": victim.pid})
        assert_refused(result, "os.kill", str(victim.pid))
        assert victim.poll() is None, "the process was signalled"
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.control("P1.2.a")
def test_reads_only_the_clm_log(attempt: Attempt, decoys: dict[str, Path], calpolicy_config: Config) -> None:
    """The CLM log can be read; a config file cannot, nor can a folder be listed."""
    clm = calpolicy_config.paths.clm_file
    allowed = attempt("read_clm", target=str(clm))
    if allowed.violation is not None or allowed.result is None:
        raise CouldNotCheck(f"the sandbox could not read the CLM log {clm}: {allowed.violation or allowed.error}")
    assert allowed.result["clm_lines"] > 0
    target = decoys["calibration_config"]
    assert_refused(attempt("read_file", target=str(target)), "open for reading", str(target))
    assert_refused(attempt("list_dir", target=str(target.parent)), "os.listdir", str(target.parent))


@pytest.mark.control("P1.2.b")
def test_no_live_market_data(attempt: Attempt) -> None:
    """No TCP connection to a (here: local, listening) market-data feed."""
    with socket.socket() as feed:
        feed.bind(("127.0.0.1", 0))
        feed.listen()
        feed.settimeout(0.2)
        host, port = feed.getsockname()
        assert_refused(attempt("connect_tcp", host=host, port=port), "socket.connect", f"{host}:{port}")
        with pytest.raises(TimeoutError):
            feed.accept()  # nobody got through


@pytest.mark.control("P1.2.c")
def test_no_redis_stream_consumed(attempt: Attempt, calpolicy_config: Config) -> None:
    """An XREAD on the configured Redis is refused at the connection, naming Redis's address."""
    from urllib.parse import urlparse

    url = urlparse(calpolicy_config.redis.url)
    result = attempt("consume_redis_stream", url=calpolicy_config.redis.url, stream="quantum:stream:trade.closed")
    if url.scheme == "unix":
        assert_refused(result, "socket.connect", url.path)
    else:
        assert_refused(result, "socket.connect", f"{url.hostname}:{url.port or 6379}")


@pytest.mark.control("P1.1.c", "P1.2.a", "P1.2.b", "P1.2.c")
def test_the_kernel_holds_when_the_hook_is_turned_off(
    attempt: Attempt, decoys: dict[str, Path], calpolicy_config: Config
) -> None:
    """The audit hook is not the wall. Turned off from inside (through ``gc``), the task still cannot
    write a decoy, start a shell, fork, read the signing key, list its folder, or reach Redis, a Unix socket
    file or an abstract socket listening here: bubblewrap's namespaces, read-only view and seccomp filter
    refuse them."""
    from urllib.parse import urlparse

    redis = urlparse(calpolicy_config.redis.url)
    name = f"calpolicy-lockdown-{os.getpid()}-{time.monotonic_ns()}"
    with contextlib.ExitStack() as stack:
        # a short folder: a socket path has at most 107 bytes, and pytest's tmp_path can be longer
        short = tempfile.mkdtemp(prefix="calpolicy-", dir="/tmp" if os.access("/tmp", os.W_OK) else None)
        stack.callback(shutil.rmtree, short, True)
        unix = stack.enter_context(socket.socket(socket.AF_UNIX))
        unix.bind(os.path.join(short, "listening.sock"))
        abstract = stack.enter_context(socket.socket(socket.AF_UNIX))
        abstract.bind(b"\0" + name.encode())
        for server in (unix, abstract):
            server.listen()
        unix_path = redis.path if redis.scheme == "unix" else os.path.join(short, "listening.sock")
        for address in (unix_path, b"\0" + name.encode()):  # the control: reachable from outside the sandbox
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(address)
        for server in (unix, abstract):
            if redis.scheme != "unix" or server is abstract:
                server.accept()[0].close()
            server.setblocking(False)
        result = attempt(
            "disarmed_everything", target=str(decoys["calibration_config"]),
            key=str(calpolicy_config.signing.private_key), unix_socket=unix_path, abstract_socket=name,
            tcp_host=redis.hostname or "127.0.0.1", tcp_port=redis.port or 6379,
        )  # fmt: skip
        if result.result is None:
            raise CouldNotCheck(f"the disarmed attempt did not complete: {result.violation or result.error}")
        seen = result.result
        if not seen.get("guards_disarmed"):
            raise CouldNotCheck("the attempt found no audit hook to turn off, so it proves nothing")
        through = sorted(k for k, v in seen.items() if isinstance(v, str) and v.startswith("ok"))
        if through:
            pytest.fail(f"LOCKDOWN BROKEN: with the hook off, {through} went through: {seen}")
        for server in (unix, abstract):
            with pytest.raises(BlockingIOError):
                server.accept()
    _unchanged(decoys["calibration_config"])


def _digest_run_without_job(config: Config) -> tuple[list[dict[str, str]], list[dict[str, str]], Any]:
    """A real sandboxed calibration of the configured log, with the protected paths digested around it."""
    clm = Path(config.paths.clm_file)
    try:
        data = clm.read_bytes()
    except OSError as error:
        raise CouldNotCheck(f"cannot read the CLM log {clm}: {error.strerror}") from None
    before = digest_all(config)
    with tempfile.TemporaryDirectory(prefix="calpolicy-lockdown-") as tmp:
        args = {"clm_path": str(clm.resolve()), "clm_bytes": len(data), "clm_sha256": hashlib.sha256(data).hexdigest(),
                "config": config.as_dict()}  # fmt: skip
        result = run_sandboxed("calpolicy.calibrate.task:calibrate", Path(tmp), [clm], args)
    after = digest_all(config)
    if not result.ok:
        raise CouldNotCheck(f"the sandboxed calibration did not complete: {result.violation or result.error}")
    return summary(before), summary(after), compare(before, after)


@pytest.mark.control("P1.1.a", "P1.1.b", "P1.1.c", "P1.1.d")
def test_protected_paths_unchanged_by_a_real_run(calpolicy_config: Config, job_manifest: dict[str, Any] | None) -> None:
    """The protected paths (calibration config and archive, config dir, weights, Meta-Agent parameters)
    have the same digest after the calibration run as before it — and, for a job, still now."""
    if job_manifest is not None:
        lockdown = job_manifest.get("lockdown") or {}
        before, after = lockdown.get("protected_before"), lockdown.get("protected_after")
        if not before or after is None:
            raise CouldNotCheck("the job's manifest records no protected-path digests")
        now = summary(digest_all(calpolicy_config))
    else:
        before, after, _ = _digest_run_without_job(calpolicy_config)
        now = after
    assert _roots(before) == _roots(after), "the run digested different protected paths before and after"
    changed = sorted(path for path, digest in _roots(before).items() if _roots(after)[path] != digest)
    assert not changed, f"changed during the calibration run: {changed}"
    missing = sorted(set(_roots(now)) - set(_roots(before)))
    assert not missing, f"protected now but not digested by the run (config changed since?): {missing}"
    since = sorted(path for path, digest in _roots(now).items() if _roots(before)[path] != digest)
    assert not since, f"changed since the run (before review): {since}"


def _roots(digests: list[dict[str, str]]) -> dict[str, str]:
    return {d["path"]: d["sha256"] for d in digests}
