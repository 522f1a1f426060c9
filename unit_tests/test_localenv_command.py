"""``calpolicy localenv up|down``, and the operator guide's walk-through on it, run exactly as written.

The walk-through's lines are read from docs/operator-guide.md and run through bash (with HOME pointing at a
folder the systemd namespace can see, so ``~/calpolicy-practice`` is a fresh environment): if the guide
and the commands drift apart, this fails.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from unit_tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "operator-guide.md"
# under the checkout, not /tmp: the namespace's units see the real filesystem except /tmp and /var/tmp
WORK = ROOT / ".test-work"


@pytest.fixture
def home() -> Iterator[Path]:
    WORK.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="localenv-", dir=WORK))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def walkthrough() -> tuple[str, list[str]]:
    """The guide's walk-through: the ``localenv up`` line, then the second terminal's lines."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Walk-through on a local environment", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the walk-through has its two shell blocks (terminal 1, terminal 2)"
    (up,) = blocks[0].strip().splitlines()
    return up, [line.split("  #")[0].strip() for line in blocks[1].strip().splitlines()]


def _lines(stream: object) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_the_guides_walkthrough_brings_up_an_environment_where_preflight_says_go(home: Path) -> None:
    up_line, second = walkthrough()
    assert up_line.startswith("calpolicy localenv up ")
    wanted = [line for line in second if line.startswith(("export ", "UNTIL=", "calpolicy preflight"))]
    down_line = next(line for line in second if line.startswith("calpolicy localenv down"))
    assert len(wanted) == 3, second
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "HOME": str(home), "USER": "kari", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CALPOLICY_CONFIG", None)
    up = subprocess.Popen(
        ["bash", "-c", f"exec {up_line}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        lines, seen = _lines(up.stdout), []
        while not any("use --config" in line for line in seen):
            line = lines.get(timeout=180)
            assert line, "localenv up ended before it was up:\n" + "".join(seen)
            seen.append(line)
        practice = (home / "calpolicy-practice").resolve()
        assert f"localenv: use --config {practice / 'calpolicy.toml'}" in "".join(seen)
        assert (practice / "localenv.pid").is_file()

        again = run_cli("localenv", "up", str(practice))
        assert again.returncode == 2, again.stdout + again.stderr
        assert f"already up in {practice}" in again.stderr

        flow = subprocess.run(["bash", "-ec", "\n".join(wanted)], capture_output=True, text=True, env=env, timeout=300)
        assert flow.returncode == 0, flow.stdout + flow.stderr
        assert flow.stdout.startswith("GO — preflight"), flow.stdout
        assert "all 30 items passed" in flow.stdout.splitlines()[0]
        assert f"calpolicy: config {practice / 'calpolicy.toml'} (from CALPOLICY_CONFIG)" in flow.stderr

        down = subprocess.run(["bash", "-c", down_line], capture_output=True, text=True, env=env, timeout=180)
        assert down.returncode == 0, down.stdout + down.stderr
        assert down.stdout.startswith(f"localenv: DOWN — stopped the environment in {practice}")
        assert up.wait(timeout=60) == 0
        rest = []
        while (line := lines.get(timeout=10)) != "":
            rest.append(line)
        assert "localenv: DOWN — nothing of it runs any more" in "".join(rest)
        assert not (practice / "localenv.pid").exists()
        assert str(practice) not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout

        twice = run_cli("localenv", "down", str(practice))
        assert twice.returncode == 0
        assert twice.stdout.strip() == f"localenv: nothing is up in {practice} (no localenv.pid): nothing to stop"
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(timeout=120)


def test_down_removes_a_stale_pid_file_and_never_signals_a_reused_pid(home: Path) -> None:
    """A pid file whose process is gone, or whose PID now belongs to another process, is stale."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        (home / "localenv.pid").write_text(f'{{"pid": {other.pid}, "start_ticks": 1, "config": "x"}}\n')
        result = run_cli("localenv", "down", str(home))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"was already down (pid {other.pid} is gone); removed its stale localenv.pid" in result.stdout
        assert other.poll() is None, "down signalled a process that was not its environment"
        assert not (home / "localenv.pid").exists()
    finally:
        other.kill()
        other.wait()


def test_an_unreadable_pid_file_is_not_taken_for_nothing_running(home: Path) -> None:
    (home / "localenv.pid").write_text("not json")
    result = run_cli("localenv", "down", str(home))
    assert result.returncode == 3
    assert "localenv.pid is unreadable" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_up_refuses_a_folder_the_namespace_cannot_see() -> None:
    from calpolicy.localenv.systemd_ns import unavailable_reason

    if unavailable_reason() is not None:
        pytest.fail(f"this test needs root and systemd (as CI has): {unavailable_reason()}")
    result = run_cli("localenv", "up", "/tmp/calpolicy-practice-never-made")
    assert result.returncode == 2
    assert "is under /tmp or /var/tmp" in result.stderr
    assert not Path("/tmp/calpolicy-practice-never-made").exists()


def test_a_kept_demo_says_its_services_are_stopped_and_how_to_bring_them_up(home: Path) -> None:
    """``demo --keep``/``--dir`` keeps files only; running a command on them gave 13 unexplained could-not-checks."""
    kept = home / "demo"
    result = run_cli("demo", "--dir", str(kept), "--trades", "2")  # too few trades: it stops early, quickly
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"demo: kept the files in {kept}; its redis-server, readiness API and systemd namespace "
                           "are STOPPED")  # fmt: skip
    assert "calpolicy localenv up DIR" in last


def test_one_trade_is_a_usage_error_not_a_traceback(home: Path) -> None:
    for command in (["demo", "--dir", str(home / "d")], ["localenv", "up", str(home / "l")]):
        result = run_cli(*command, "--trades", "1")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "--trades must be at least 2" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
