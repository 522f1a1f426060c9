"""``calpolicy doctor`` on real parts: a booted systemd namespace with the engine units, a real redis-server
seeded like the host, real files and modes, and a child process that has dropped to an unprivileged user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calpolicy.cli.doctor import Check, check_config_dir, check_execution_logs, check_keys, diagnose, exit_code
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.localenv.systemd_ns import unit_interpreter
from calpolicy.vocabulary.config import load_config

NOBODY = 65534


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("doctor"), systemd=True) as environment:
        yield environment


@pytest.fixture(scope="module")
def loader_python() -> Iterator[str]:
    """An interpreter that imports a ``calpolicy_loader``: a wrapper outside /tmp (the namespace hides /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="calpolicy-doctor-", dir="/dev/shm"))
    try:
        package = folder / "site" / "calpolicy_loader"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text('__version__ = "0.0-test"\n', encoding="utf-8")
        wrapper = folder / "python"
        wrapper.write_text(
            f'#!/bin/sh\nPYTHONPATH={folder / "site"} exec {unit_interpreter()} "$@"\n', encoding="utf-8"
        )
        wrapper.chmod(0o755)
        yield str(wrapper)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def bare_python() -> Iterator[Path]:
    """An interpreter without site-packages (``-S``), so without calpolicy_loader, outside /tmp."""
    folder = Path(tempfile.mkdtemp(prefix="calpolicy-bare-", dir="/dev/shm"))
    try:
        bare = folder / "python"
        bare.write_text(f'#!/bin/sh\nexec {unit_interpreter()} -S "$@"\n', encoding="utf-8")
        bare.chmod(0o755)
        yield bare
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def healthy(env: LocalEnvironment) -> LocalEnvironment:
    if env.redis.process is None or env.redis.process.poll() is not None:
        env.redis.start()
    env.make_healthy()
    return env


def _by_item(checks: list[Check]) -> dict[str, list[Check]]:
    found: dict[str, list[Check]] = {}
    for check in checks:
        found.setdefault(check.item, []).append(check)
    return found


def _not_ok(checks: list[Check]) -> list[str]:
    return [f"{c.item}: {c.status}: {c.detail}" for c in checks if c.status != "ok"]


def test_a_host_set_up_as_the_guide_says_is_ok(healthy: LocalEnvironment, loader_python: str) -> None:
    config = healthy.write_config(overrides={"doctor.engine_python": loader_python})
    checks = diagnose(str(config), environ={})
    assert exit_code(checks) == 0, _not_ok(checks)
    items = _by_item(checks)
    assert items["config"][0].detail == f"{config} (found by --config)"
    assert items["engine loader"][0].detail.startswith(f"{loader_python} imports calpolicy_loader 0.0-test from ")
    assert items["units"][0].detail.startswith("4 unit(s) known to systemd: quantum-ai-engine")
    assert items["market source"][0].detail == "fresh market state for BTCUSDT, ETHUSDT"
    done = subprocess.run(
        [sys.executable, "-m", "calpolicy.cli", "doctor", "--config", str(config), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert {i["status"] for i in json.loads(done.stdout)["items"]} == {"ok"}


def test_the_engine_units_own_interpreter_without_the_loader_is_a_fix(
    healthy: LocalEnvironment, bare_python: Path
) -> None:
    """No override: the interpreter is read from the engine unit's ExecStart; it lacks calpolicy_loader (``-S``:
    no site-packages) and no engine loader sits in its WorkingDirectory either."""
    assert healthy.systemd is not None
    bare = bare_python
    try:
        healthy.systemd.remove_unit("quantum-ai-engine")
        healthy.systemd.start_unit("quantum-ai-engine", [str(bare), "-c", "import time; time.sleep(600)"])
        checks = diagnose(str(healthy.write_config()), environ={})
        (loader,) = _by_item(checks)["engine loader"]
        assert loader.status == "fix"
        assert loader.detail.startswith(f"the engine's interpreter {bare} cannot import calpolicy_loader")
        assert "one-line import change" in loader.fix
        assert exit_code(checks) == 1
    finally:
        healthy.systemd.remove_unit("quantum-ai-engine")
        healthy.make_healthy()


def test_the_real_engines_own_load_once_loader_is_found_and_its_restart_path_named(
    healthy: LocalEnvironment, bare_python: Path
) -> None:
    """An engine that has not adopted calpolicy_loader still has a loader: its own, in its WorkingDirectory."""
    assert healthy.systemd is not None
    folder = Path(tempfile.mkdtemp(prefix="calpolicy-engine-", dir="/dev/shm"))
    try:
        (folder / "ai_engine").mkdir()
        (folder / "ai_engine" / "calibration_loader.py").write_text("# the engine's own loader\n", encoding="utf-8")
        healthy.systemd.remove_unit("quantum-ai-engine")
        healthy.systemd.start_unit(
            "quantum-ai-engine",
            [str(bare_python), "-c", "import time; time.sleep(600)"],
            properties=[f"WorkingDirectory={folder}"],
        )
        (loader,) = _by_item(diagnose(str(healthy.write_config()), environ={}))["engine loader"]
        assert loader.status == "ok", loader
        assert loader.detail.startswith(f"the engine loads {folder}/ai_engine/calibration_loader.py once at start")
        assert "--allow-restart" in loader.detail
    finally:
        healthy.systemd.remove_unit("quantum-ai-engine")
        shutil.rmtree(folder, ignore_errors=True)
        healthy.make_healthy()


@pytest.mark.parametrize("adopted", [False, True])
def test_an_installed_loader_the_engine_does_not_import_is_not_called_adopted(
    healthy: LocalEnvironment, loader_python: str, adopted: bool
) -> None:
    """calpolicy_loader installed in the engine's venv, but its loader file still the real one (rehearsal)."""
    assert healthy.systemd is not None
    folder = Path(tempfile.mkdtemp(prefix="calpolicy-engine-", dir="/dev/shm"))
    try:
        (folder / "ai_engine").mkdir()
        text = "from calpolicy_loader import *  # noqa: F403\n" if adopted else "class CalibrationLoader: ...\n"
        (folder / "ai_engine" / "calibration_loader.py").write_text(text, encoding="utf-8")
        healthy.systemd.remove_unit("quantum-ai-engine")
        healthy.systemd.start_unit(
            "quantum-ai-engine", [loader_python, "-c", "import time; time.sleep(600)"],
            properties=[f"WorkingDirectory={folder}"],
        )  # fmt: skip
        config = healthy.write_config(overrides={"doctor.engine_python": loader_python})
        (loader,) = _by_item(diagnose(str(config), environ={}))["engine loader"]
        assert loader.status == "ok", loader
        if adopted:
            assert loader.detail.startswith(f"{loader_python} imports calpolicy_loader 0.0-test from ")
        else:
            own = folder / "ai_engine" / "calibration_loader.py"
            assert loader.detail.startswith(
                f"{loader_python} can import calpolicy_loader 0.0-test, but the engine still loads its own {own}"
            ), loader.detail
            assert "--allow-restart" in loader.detail
    finally:
        healthy.systemd.remove_unit("quantum-ai-engine")
        shutil.rmtree(folder, ignore_errors=True)
        healthy.make_healthy()


def test_a_unit_unknown_to_systemd_is_a_fix(healthy: LocalEnvironment, loader_python: str) -> None:
    assert healthy.systemd is not None
    healthy.systemd.remove_unit("quantum-learning-monitor")
    checks = diagnose(str(healthy.write_config(overrides={"doctor.engine_python": loader_python})), environ={})
    (units,) = _by_item(checks)["units"]
    assert (units.status, units.detail) == ("fix", "unknown to systemd: quantum-learning-monitor")
    assert _not_ok(checks) == [f"units: fix: {units.detail}"]


def test_redis_down_is_a_fix_and_the_market_is_not_checked(healthy: LocalEnvironment, loader_python: str) -> None:
    config = healthy.write_config(overrides={"doctor.engine_python": loader_python})
    healthy.redis.stop()
    checks = diagnose(str(config), environ={})
    items = _by_item(checks)
    assert items["redis"][0].status == "fix"
    assert items["redis"][0].detail.startswith("cannot connect to Redis at redis://127.0.0.1:")
    assert (items["market source"][0].status, items["market source"][0].detail) == (
        "unknown", "not checked: Redis is not reachable",
    )  # fmt: skip
    assert exit_code(checks) == 1


def test_a_stale_market_source_is_a_fix(healthy: LocalEnvironment, loader_python: str) -> None:
    healthy.market.pause()
    healthy.redis.client().hset("quantum:marketstate:ETHUSDT", "ts_timestamp", str(int(time.time() - 900)))
    checks = diagnose(str(healthy.write_config(overrides={"doctor.engine_python": loader_python})), environ={})
    (market,) = _by_item(checks)["market source"]
    assert market.status == "fix"
    assert market.detail.startswith("market state of quantum:marketstate:ETHUSDT is stale: written 9")


# ------------------------------------------------------------------------------------ without systemd


def test_no_config_file_is_said_plainly_and_is_a_fix(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "CALPOLICY_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "calpolicy.cli", "doctor"], capture_output=True, text=True, cwd=tmp_path,
        env=environ, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("FIX — ")
    assert (
        f"FIX  config           NO config file found: no --config, no $CALPOLICY_CONFIG, no ./calpolicy.toml in "
        f"{tmp_path}"
    ) in done.stdout


def test_a_config_that_cannot_be_used_is_a_fix_and_nothing_else_is_judged(tmp_path: Path) -> None:
    bad = tmp_path / "calpolicy.toml"
    bad.write_text("[redis]\nmax_latency_ms = true\n", encoding="utf-8")
    checks = diagnose(str(bad), environ={})
    assert [c.status for c in checks] == ["fix", "unknown"]
    assert "config key 'redis.max_latency_ms'" in checks[0].detail
    assert exit_code(checks) == 1


def _keys(tmp_path: Path) -> Any:
    from calpolicy.review.signing import generate_keypair

    key, trusted = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "trusted"
    generate_keypair(key, trusted)
    return (
        load_config(None, environ={}).with_overrides(
            {"signing.private_key": str(key), "signing.trusted_keys_dir": str(trusted)}, "test"
        ),
        key,
        trusted,
    )


def test_keys_with_safe_modes_are_ok_and_unsafe_ones_are_a_fix(tmp_path: Path) -> None:
    config, key, trusted = _keys(tmp_path)
    assert [c.status for c in check_keys(config)] == ["ok", "ok"]
    key.chmod(0o640)
    trusted.chmod(0o775)
    found = check_keys(config)
    assert [(c.status, c.fix) for c in found] == [("fix", f"chmod 600 {key}"), ("fix", f"chmod go-w {trusted}")]
    assert found[0].detail == f"signing key {key} has mode 0640: others than its owner can read it"


def test_no_keys_is_a_fix_naming_keygen(tmp_path: Path) -> None:
    config = load_config(None, environ={}).with_overrides(
        {"signing.private_key": str(tmp_path / "none.key"), "signing.trusted_keys_dir": str(tmp_path / "none")}, "t"
    )
    assert [(c.status, c.fix) for c in check_keys(config)] == [
        ("fix", "calpolicy keygen (--config as for every command)"), ("fix", "calpolicy keygen creates it"),
    ]  # fmt: skip


def _as_nobody(call: Any) -> list[dict[str, str]]:
    """Run ``call`` in a forked child that has dropped to uid/gid 65534: root reads everything."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                payload = [c.as_dict() for c in call()]
            except BaseException as error:  # the parent must hear about it, not read an empty pipe
                payload = [{"item": "child", "status": "crash", "detail": repr(error), "fix": ""}]
            os.write(write, json.dumps(payload).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder every user may traverse (pytest's tmp_path sits under a root-only 0700 parent)."""
    folder = Path(tempfile.mkdtemp(prefix="calpolicy-doctor-", dir="/dev/shm"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_log_the_user_cannot_read_and_a_folder_it_cannot_write_are_fixes(shared_dir: Path) -> None:
    tmp_path = shared_dir
    log = tmp_path / "execution.log"
    log.write_text("x\n", encoding="utf-8")
    log.chmod(0o600)  # root's, as /var/log/quantum/execution.log is before the operator is let in
    config_dir = tmp_path / "config"
    (config_dir / "calibration_archive").mkdir(parents=True)
    config_dir.chmod(0o755)
    config = load_config(None, environ={}).with_overrides(
        {
            "systemd.execution_log_files": [str(log)],
            "paths.config_dir": str(config_dir),
            "paths.archive_dir": str(config_dir / "calibration_archive"),
            "paths.jobs_dir": str(tmp_path / "jobs"),
        },
        "test",
    )
    assert {c.status for c in [*check_execution_logs(config), *check_config_dir(config)]} == {"ok"}  # as root
    found = _as_nobody(lambda: [*check_execution_logs(config), *check_config_dir(config)])
    assert found[0]["status"] == "fix"
    assert found[0]["detail"] == f"execution log {log} cannot be read by nobody: Permission denied"
    assert found[0]["fix"].startswith("sudo usermod -aG root nobody")
    assert found[1]["status"] == "fix"
    assert found[1]["detail"] == (
        f"the engine's config folder {config_dir} is not writable by nobody (approve and rollback write there)"
    )
