"""The evidence rules of ``calpolicy.apply.confirmation``, decided on the gathered facts, without systemd.

``test_confirmation.py`` proves them end to end against a real engine unit (9 s a test). Here each rule
is a function of what was gathered — ``systemctl show``'s lines, a ``/proc/PID/stat`` text, the journal's
JSON records, the acknowledgement file — and is pinned on real inputs: real files, and for "is this PID
the engine's?" real processes of this machine (this test process stands for the engine's main process,
its children for the engine's workers). Fast and in-process, so the mutation test runs them (issue 21 §5).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calpolicy.apply.confirmation import (
    MAX_ANCESTRY,
    ConfirmError,
    Evidence,
    UnitRun,
    ack_evidence,
    epoch_seconds,
    judge,
    loader_lines,
    parent_of,
    process_problem,
    run_from_show,
    run_loader_lines,
    show_values,
    unit_run,
)
from calpolicy.vocabulary.config import Config

UNIT = "quantum-ai-engine"
START = 1_780_000_000.0  # 2026-05-28T20:26:40Z
LOADED = "[CalibrationLoader] ✅ Loaded calibration: "


def host_systemd(**overrides: object) -> object:
    """The config's systemd section with no command prefix: ``cat /proc/...`` runs on this machine."""
    values = {"systemd.command_prefix": [], "systemd.command_timeout_s": 10.0, **overrides}
    return Config().with_overrides(values, "test").systemd


def own_cgroup() -> str:
    """This process's cgroup path, as systemd's ``ControlGroup`` names a unit's."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    return next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))


def this_run(main_pid: int | None = None, cgroup: str | None = None, started_at: float | None = START) -> UnitRun:
    main = os.getpid() if main_pid is None else main_pid
    return UnitRun(UNIT, main, "inv-now", started_at, 5_000_000, 0, own_cgroup() if cgroup is None else cgroup)


@contextlib.contextmanager
def sleeping(*argv: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real child process (killed with SIGKILL and reaped on the way out)."""
    child = subprocess.Popen(argv or ("sleep", "60"), stdin=subprocess.DEVNULL)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def wait_for_file(path: Path) -> str:
    """The text of a file another process writes once (it renames it into place whole)."""
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.02)
    return path.read_text().strip()


# ------------------------------------------------------------------------------------------ systemctl show


SHOW = (
    "MainPID=4242\nInvocationID=0f1e2d3c4b5a69788796a5b4c3d2e1f0\nExecMainStartTimestamp=@1780000000\n"
    "ExecMainStartTimestampMonotonic=123456789\nNRestarts=2\nControlGroup=/system.slice/quantum-ai-engine.service\n"
)


def test_systemctl_shows_lines_become_the_units_run() -> None:
    values = show_values(SHOW + "Odd=a=b\n  Spaced  =  v  \nNoEquals\n")
    assert values["Odd"] == "a=b"
    assert values["Spaced"] == "v"
    assert values["NoEquals"] == ""
    run = run_from_show(UNIT, values)
    expected = UnitRun(UNIT, 4242, "0f1e2d3c4b5a69788796a5b4c3d2e1f0", 1_780_000_000.0, 123456789, 2,
                       "/system.slice/quantum-ai-engine.service")  # fmt: skip
    assert run == expected
    assert run.describe() == "quantum-ai-engine main PID 4242, started 2026-05-28T20:26:40+00:00"


def test_a_unit_without_a_main_process_is_not_running() -> None:
    for shown, said in (("MainPID=0\n", "0"), ("MainPID=\n", ""), ("MainPID=-3\n", "-3"), ("MainPID=x1\n", "x1")):
        with pytest.raises(ConfirmError) as caught:
            run_from_show(UNIT, show_values(shown))
        assert str(caught.value) == f"{UNIT} has no main process (MainPID={said}): it is not running"
    with pytest.raises(ConfirmError) as caught:
        run_from_show("engine.service", {})
    assert str(caught.value) == "engine.service has no main process (MainPID=?): it is not running"
    assert run_from_show(UNIT, {"MainPID": "1"}).main_pid == 1


def test_unreadable_fields_of_a_running_unit_are_unknown_not_zero() -> None:
    run = run_from_show(UNIT, {"MainPID": "7"})
    assert run == UnitRun(UNIT, 7, "", None, 0, None, "")
    assert run.describe() == "quantum-ai-engine main PID 7, started ?"
    odd = {"MainPID": "7", "ExecMainStartTimestamp": "Thu 2026", "NRestarts": "many",
           "ExecMainStartTimestampMonotonic": "soon"}  # fmt: skip
    assert run_from_show(UNIT, odd) == UnitRun(UNIT, 7, "", None, 0, None, "")
    bare = {"MainPID": "7", "ExecMainStartTimestamp": "1780000001.5", "NRestarts": "0",
            "ExecMainStartTimestampMonotonic": ""}  # fmt: skip
    assert run_from_show(UNIT, bare) == UnitRun(UNIT, 7, "", 1_780_000_001.5, 0, 0, "")
    assert UnitRun(UNIT, 7, "", 0.0, 0, None, "").describe() == "quantum-ai-engine main PID 7, started ?"


def test_a_command_that_fails_means_the_unit_cannot_be_seen() -> None:
    systemd = host_systemd(**{"systemd.command_prefix": ["false"]})
    with pytest.raises(ConfirmError) as caught:
        unit_run(systemd)
    assert str(caught.value).startswith("`false systemctl show -p MainPID,InvocationID,ExecMainStartTimestamp,")
    assert "--timestamp=unix quantum-ai-engine` exited with status 1" in str(caught.value)
    with pytest.raises(ConfirmError) as caught:
        run_loader_lines(this_run(), systemd)
    said = str(caught.value)
    assert said.startswith(
        f"cannot read {UNIT}'s journal: `false journalctl -u {UNIT} -o json --no-pager -q --since @1779999998` exited"
    )
    with pytest.raises(ConfirmError) as caught:
        run_loader_lines(this_run(started_at=None), systemd)
    assert f"`false journalctl -u {UNIT} -o json --no-pager -q -n 5000` exited with status 1" in str(caught.value)


# ------------------------------------------------------------------------------------------ whose process


def test_the_parent_is_read_after_the_last_parenthesis() -> None:
    own = Path(f"/proc/{os.getpid()}/stat").read_text()
    assert parent_of(own) == os.getppid()
    assert parent_of("321 (odd) name) S 77 321 321 0 -1") == 77
    assert parent_of("321 (a b) R 9") == 9
    for bad in (None, "", "321 odd S 77", "321 (x)", "321 (x) S", "321 (x) S abc 1"):
        assert parent_of(bad) is None, bad


def test_the_main_process_and_its_descendants_are_the_engines() -> None:
    run = this_run()
    assert process_problem(run, os.getpid(), host_systemd()) is None
    assert process_problem(run, str(os.getpid()), host_systemd()) is None
    with sleeping() as child:
        assert process_problem(run, child.pid, host_systemd()) is None


def test_a_grandchild_is_the_engines_too(tmp_path: Path) -> None:
    out = tmp_path / "pid"
    script = f"sleep 60 & echo $! > {out}.tmp; mv {out}.tmp {out}; wait"
    with sleeping("sh", "-c", script + "; :"):
        grandchild = int(wait_for_file(out))
        try:
            assert process_problem(this_run(), grandchild, host_systemd()) is None
        finally:
            os.kill(grandchild, 9)


def test_a_pid_that_is_not_a_number_is_refused_by_name() -> None:
    run = this_run()
    assert process_problem(run, "12a", host_systemd()) == "the PID '12a' is not a number"
    assert process_problem(run, None, host_systemd()) == "the PID None is not a number"
    assert process_problem(run, [1], host_systemd()) == "the PID [1] is not a number"


def test_a_process_that_ended_cannot_be_shown_to_be_the_engines() -> None:
    done = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    gone = int(done.stdout)
    assert not Path(f"/proc/{gone}").exists()
    said = process_problem(this_run(), gone, host_systemd())
    assert said == f"PID {gone} no longer runs, so it cannot be shown to belong to {UNIT}"


def test_a_process_outside_the_units_control_group_is_refused() -> None:
    run = this_run(cgroup="/system.slice/quantum-ai-engine.service")
    with sleeping() as child:
        said = process_problem(run, child.pid, host_systemd())
    assert said == f"PID {child.pid} is not in {UNIT}'s control group /system.slice/quantum-ai-engine.service"
    # systemd printing no control group: only the ancestry decides
    with sleeping() as child:
        assert process_problem(this_run(cgroup=""), child.pid, host_systemd()) is None


def test_a_sibling_in_the_same_control_group_is_not_a_child_of_the_main_process() -> None:
    with sleeping() as main, sleeping() as sibling:
        run = this_run(main_pid=main.pid)
        said = process_problem(run, sibling.pid, host_systemd())
        assert said == f"PID {sibling.pid} is neither {UNIT}'s main process (PID {main.pid}) nor a child of it"
        assert process_problem(run, main.pid, host_systemd()) is None
        # this process is the main one's parent, not its child
        said = process_problem(run, os.getpid(), host_systemd())
        assert said == f"PID {os.getpid()} is neither {UNIT}'s main process (PID {main.pid}) nor a child of it"


def test_a_process_whose_parent_is_pid_1_is_not_the_engines(tmp_path: Path) -> None:
    """A daemonised process, re-parented to PID 1: its ancestry stops there, even were PID 1 the main one."""
    out = tmp_path / "pid"
    subprocess.run(["sh", "-c", f"sleep 60 > /dev/null 2>&1 & echo $! > {out}"], check=True)
    orphan = int(out.read_text())
    try:
        # (a machine whose test runner is a child subreaper adopts it there: this test then says so)
        assert parent_of(Path(f"/proc/{orphan}/stat").read_text()) == 1, "the orphan was not adopted by PID 1"
        said = process_problem(this_run(main_pid=1), orphan, host_systemd())
        assert said == f"PID {orphan} is neither {UNIT}'s main process (PID 1) nor a child of it"
    finally:
        os.kill(orphan, 9)


def test_ancestry_is_followed_no_further_than_its_bound(tmp_path: Path) -> None:
    """A chain of nested shells: the engine's process MAX_ANCESTRY generations down is found, one more is not."""
    script = tmp_path / "nest.sh"
    out = tmp_path / "leaf"
    # `sh nest.sh N` starts N more shells below itself; the trailing ":" keeps each from exec-ing its child
    script.write_text(f'if [ "$1" -gt 0 ]; then sh {script} $(($1 - 1)); :; else echo $$ > {out}.tmp; '
                      f"mv {out}.tmp {out}; sleep 60; fi\n")  # fmt: skip
    for generations, found in ((MAX_ANCESTRY, True), (MAX_ANCESTRY + 1, False)):
        out.unlink(missing_ok=True)
        with sleeping("sh", str(script), str(generations)) as top:
            leaf = int(wait_for_file(out))
            try:
                said = process_problem(this_run(main_pid=top.pid), leaf, host_systemd())
            finally:
                os.kill(leaf, 9)  # the chain above it then ends by itself
        if found:
            assert said is None, (generations, said)
        else:
            assert said == f"PID {leaf} is neither {UNIT}'s main process (PID {top.pid}) nor a child of it"
    assert MAX_ANCESTRY == 64


def test_a_pids_answer_is_remembered_for_one_journal_read() -> None:
    cache: dict[int, str | None] = {}
    run = this_run()
    with sleeping() as child:
        assert process_problem(run, child.pid, host_systemd(), cache) is None
    assert cache == {child.pid: None}
    assert process_problem(run, child.pid, host_systemd(), cache) is None  # it ended, but the answer stands
    assert process_problem(run, child.pid, host_systemd()) is not None  # without the cache: it ended
    remembered = {child.pid: "remembered"}
    assert process_problem(run, child.pid, host_systemd(), remembered) == "remembered"
    assert process_problem(run, os.getpid(), host_systemd(), remembered) is None
    assert remembered == {child.pid: "remembered"}  # the main PID is never looked up
    fresh: dict[int, str | None] = {}
    assert process_problem(run, "x", host_systemd(), fresh) == "the PID 'x' is not a number"
    assert fresh == {}


# ------------------------------------------------------------------------------------------ the journal


def record(message: object, pid: object = 100, invocation: object = "inv-now", **more: object) -> bytes:
    entry: dict[str, object] = {"MESSAGE": message, "_PID": pid, **more}
    if invocation is not None:
        entry["_SYSTEMD_INVOCATION_ID"] = invocation
    return json.dumps(entry).encode() + b"\n"


def owned_by(*pids: int) -> object:
    return lambda pid: None if pid in pids else f"PID {pid} is not the engine's"


def test_only_the_current_runs_own_loader_lines_count() -> None:
    run = this_run()
    journal = b"".join([
        record(LOADED + "old", invocation="inv-before"),  # an earlier run
        record(LOADED + "v1"),
        record("engine started"),  # not a loader line
        b"not json at all\n",
        b"[1, 2]\n",  # JSON, not a record
        record({"x": 1}),  # a MESSAGE of no known shape
        record(LOADED + "outsider", pid=999),  # a process that is not the engine's
        record(list((LOADED + "v2   ").encode())),  # journald's byte-array form, trailing blanks
        record(json.dumps({"msg": LOADED + "v3"})),  # the engine's JSON envelope
        record("[CalibrationLoader] ❌ Failed to load config: bad", pid="101"),
    ])  # fmt: skip
    lines = loader_lines(run, journal, owned_by(100, "101"))
    assert lines == [
        (100, LOADED + "v1", "v1"),
        (100, LOADED + "v2", "v2"),
        (100, LOADED + "v3", "v3"),
        (101, "[CalibrationLoader] ❌ Failed to load config: bad", "?failed"),
    ]
    asked: list[object] = []
    loader_lines(run, journal, lambda pid: asked.append(pid))
    assert asked == [100, 999, 100, 100, "101"]  # only loader lines of this run are traced to a process


def test_a_line_without_an_invocation_counts_only_from_the_runs_start_on() -> None:
    run = this_run()  # started at monotonic 5,000,000 µs
    journal = b"".join([
        record(LOADED + "before", invocation=None, __MONOTONIC_TIMESTAMP="4999999"),
        record(LOADED + "at-start", invocation=None, __MONOTONIC_TIMESTAMP="5000000"),
        record(LOADED + "after", invocation=None, __MONOTONIC_TIMESTAMP=5000001),
        record(LOADED + "undated", invocation=None),
        record(LOADED + "odd-date", invocation=None, __MONOTONIC_TIMESTAMP="soon"),
    ])  # fmt: skip
    states = [state for _, _, state in loader_lines(run, journal, owned_by(100))]
    assert states == ["at-start", "after", "undated", "odd-date"]


def test_the_latest_line_of_the_run_says_what_is_served() -> None:
    run = this_run(main_pid=4242)
    head = f"{UNIT} main PID 4242, started 2026-05-28T20:26:40+00:00"
    loaded = [(4243, LOADED + "v1", "v1"), (4242, LOADED + "v2", "v2")]
    seen = judge(run, "v2", loaded, "rejected ack")
    assert seen == Evidence(True, "v2", f"{UNIT}'s own log line, from PID 4242 of its current run: {LOADED + 'v2'!r}")
    assert judge(run, "v1", loaded, None) == Evidence(
        False, "v2", f"{head}: its latest loader line says it serves v2: {LOADED + 'v2'!r}"
    )
    failed = [*loaded, (4242, "[CalibrationLoader] ❌ Failed to load config: x", "?failed")]
    assert judge(run, "v2", failed, None) == Evidence(
        False, None,
        f"{head}: its latest loader line says it serves a failed load (no calibration): "
        "'[CalibrationLoader] ❌ Failed to load config: x'",
    )  # fmt: skip
    none = [(4242, "[CalibrationLoader] No config at /x", "none")]
    assert judge(run, "none", none, None).confirmed is True
    assert judge(run, "v1", [], None) == Evidence(False, None, f"{head}: no loader line from its current run yet")
    assert judge(run, "v1", [], "calpolicy_loaded names v1, but no") == Evidence(
        False, None, f"{head}: no loader line from its current run yet; calpolicy_loaded names v1, but no"
    )
    assert judge(run, "v1", [], "").how == f"{head}: no loader line from its current run yet"


# ------------------------------------------------------------------------------------------ the acknowledgement


def write_ack(marker: Path, version: str = "v7", pid: object = None, at: str = "2026-05-28T20:26:40+00:00") -> None:
    marker.write_text(json.dumps({"version": version, "pid": os.getpid() if pid is None else pid, "at": at,
                                  "sha256": "0" * 64}))  # fmt: skip


def test_an_acknowledgement_from_the_engines_main_process_confirms(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    write_ack(marker)
    seen = ack_evidence(marker, this_run(), "v7", START, host_systemd())
    expected = f"the loader in {UNIT} (PID {os.getpid()}) acknowledged v7 at 2026-05-28T20:26:40+00:00"
    assert seen == Evidence(True, "v7", expected)


def test_an_acknowledgement_is_dated_after_the_change_and_the_runs_start(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    write_ack(marker, at="2026-05-28T20:26:40Z")
    systemd = host_systemd()
    assert ack_evidence(marker, this_run(), "v7", START + 0.5, systemd) is None  # written before `since`
    assert ack_evidence(marker, this_run(), "v7", START, systemd) is not None
    assert ack_evidence(marker, this_run(started_at=START + 1), "v7", 0.0, systemd) is not None  # 1 s of slack
    assert ack_evidence(marker, this_run(started_at=START + 1.5), "v7", 0.0, systemd) is None  # an earlier run's
    assert ack_evidence(marker, this_run(started_at=None), "v7", 0.0, systemd) is not None
    write_ack(marker, at="2026-05-28T20:26:39")  # naive: UTC
    assert ack_evidence(marker, this_run(), "v7", START - 1, systemd) is not None
    assert ack_evidence(marker, this_run(), "v7", START - 0.5, systemd) is None
    write_ack(marker, at="yesterday")  # no instant: never "after" a change
    assert ack_evidence(marker, this_run(started_at=None), "v7", 0.5, systemd) is None


def test_an_acknowledgement_of_another_version_or_none_at_all_says_nothing(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    systemd = host_systemd()
    assert ack_evidence(marker, this_run(), "v7", 0.0, systemd) is None  # absent
    write_ack(marker, version="v6")
    assert ack_evidence(marker, this_run(), "v7", 0.0, systemd) is None
    for body in ("[]", "{}", "not json", '"v7"', ""):
        marker.write_text(body)
        assert ack_evidence(marker, this_run(), "v7", 0.0, systemd) is None, body
    marker.unlink()
    os.mkfifo(marker)  # read as hostile: no blocking on a FIFO
    assert ack_evidence(marker, this_run(), "v7", 0.0, systemd) is None


def test_an_acknowledgement_from_another_process_is_rejected_by_name(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    with sleeping() as main, sleeping() as outsider:
        write_ack(marker, pid=outsider.pid)
        seen = ack_evidence(marker, this_run(main_pid=main.pid), "v7", 0.0, host_systemd())
    problem = f"PID {outsider.pid} is neither {UNIT}'s main process (PID {main.pid}) nor a child of it"
    assert seen == Evidence(False, None, f".calpolicy_loaded names v7, but it is NOT the engine's: {problem}")
    write_ack(marker, pid="me")
    seen = ack_evidence(marker, this_run(), "v7", 0.0, host_systemd())
    assert seen is not None
    assert seen.how.endswith("NOT the engine's: the PID 'me' is not a number")


def test_an_instant_is_read_as_unix_seconds() -> None:
    assert epoch_seconds("2026-05-28T20:26:40+00:00") == START
    assert epoch_seconds("2026-05-28T22:26:40+02:00") == START
    assert epoch_seconds("2026-05-28T20:26:40") == START
    assert epoch_seconds(datetime(2026, 5, 28, 20, 26, 40, tzinfo=UTC).isoformat()) == START
    for bad in ("", "yesterday", None, 12):
        assert epoch_seconds(bad) == 0.0, bad


def test_a_naive_instant_is_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot-reload loader writes UTC; an operator's shell in another zone must not shift "after the change"."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert epoch_seconds("2026-05-28T20:26:40") == START
        assert epoch_seconds("2026-05-28T20:26:40+00:00") == START
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_process_whose_name_is_not_utf8_is_still_traced(tmp_path: Path) -> None:
    """/proc/PID/stat holds the command name as raw bytes: a worker started through an odd file name."""
    odd = os.fsencode(tmp_path) + b"/\xff\xfe-worker"
    os.symlink(b"/bin/sleep", odd)
    with sleeping() as child:
        worker = subprocess.Popen([odd, b"60"], stdin=subprocess.DEVNULL)
        try:
            assert b"\xff\xfe-worker" in Path(f"/proc/{worker.pid}/stat").read_bytes()
            assert process_problem(this_run(), worker.pid, host_systemd()) is None
            with_main = this_run(main_pid=child.pid)
            said = process_problem(with_main, worker.pid, host_systemd())
            assert said == f"PID {worker.pid} is neither {UNIT}'s main process (PID {child.pid}) nor a child of it"
        finally:
            worker.kill()
            worker.wait()


def test_a_proc_read_slower_than_the_command_timeout_is_no_proof(tmp_path: Path) -> None:
    """Each /proc read through the prefix (``ssh HOST``...) has the configured deadline: past it, the PID is
    not shown to be the engine's (fail closed), however long the prefix would have taken."""
    slow = host_systemd(**{"systemd.command_prefix": ["sh", "-c", 'sleep 3; exec "$@"', "slow"],
                           "systemd.command_timeout_s": 0.5})  # fmt: skip
    with sleeping() as child:
        said = process_problem(this_run(), child.pid, slow)
    assert said == f"PID {child.pid} no longer runs, so it cannot be shown to belong to {UNIT}"


def test_bytes_that_are_not_utf8_do_not_hide_the_other_lines() -> None:
    """journalctl escapes binary fields, but a torn or foreign byte must not turn the whole read into an error."""
    journal = b'{"MESSAGE": "\xff\xfe garbled"}\n\xff\n' + record(LOADED + "v1")
    assert loader_lines(this_run(), journal, owned_by(100)) == [(100, LOADED + "v1", "v1")]


def test_an_acknowledgement_nested_past_the_parsers_depth_is_no_acknowledgement(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    marker.write_text("[" * 60_000)  # under the marker's 64 KiB cap; json gives up with RecursionError
    assert ack_evidence(marker, this_run(), "v7", 0.0, host_systemd()) is None


def test_a_rejected_pid_stays_rejected_for_the_rest_of_the_read() -> None:
    cache: dict[int, str | None] = {}
    with sleeping() as main, sleeping() as sibling:
        run = this_run(main_pid=main.pid)
        said = f"PID {sibling.pid} is neither {UNIT}'s main process (PID {main.pid}) nor a child of it"
        assert process_problem(run, sibling.pid, host_systemd(), cache) == said
        assert cache == {sibling.pid: said}
        assert process_problem(run, sibling.pid, host_systemd(), cache) == said


def test_a_show_or_journal_read_slower_than_the_command_timeout_is_an_error() -> None:
    slow = host_systemd(**{"systemd.command_prefix": ["sh", "-c", 'sleep 3; exec "$@"', "slow"],
                           "systemd.command_timeout_s": 0.5})  # fmt: skip
    with pytest.raises(ConfirmError) as caught:
        run_loader_lines(this_run(), slow)
    assert str(caught.value).startswith(f"cannot read {UNIT}'s journal: `sh -c ")
    assert str(caught.value).endswith("` did not finish within 0.5 s")
    with pytest.raises(ConfirmError) as caught:
        unit_run(slow)
    assert str(caught.value).startswith("`sh -c ")
    assert str(caught.value).endswith(" --timestamp=unix quantum-ai-engine` did not finish within 0.5 s")
