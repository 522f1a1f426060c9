"""What the loader says and does, pinned exactly (issue 21 §5: the mutation run of ``loader.py``).

Each test asserts what an operator or the engine sees: the whole status dict, the exact log lines in their
order, when a refusal is logged again, the acknowledgement, the signal and fork paths, the process-wide
loader. Everything runs in this process on real files; reloads are driven explicitly (``reload()``, a
signal, a listener's event) with generous timeouts, and nothing asserts a time.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import mmap
import os
import signal
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from conftest import EXISTING_TOOL_FILE, EXISTING_VERSION, config_bytes, config_doc, replace

import calpolicy_loader
import calpolicy_loader.loader as loader_module
from calpolicy_loader import (
    CalibrationError,
    CalibrationLoader,
    Snapshot,
    get_calibration_loader,
    parse_calibration,
    read_marker,
    reload_calibration,
    wait_for_version,
)
from calpolicy_loader.files import stat_key

GOOD = EXISTING_TOOL_FILE.read_bytes()
TAG = "[CalibrationLoader]"
NAME = "calpolicy_loader"
MODELS = {"xgb": {"x": [0, 1], "y": [0.25, 0.75]}, "lgbm": {"x": [0, 1], "y": [0.0, 0.5]}}


def lines(caplog: pytest.LogCaptureFixture, logger: str = NAME) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [m for _, m in lines(caplog) if "refusing to load" in m]


def override_doc(version: str = "cal_w") -> dict[str, object]:
    doc = config_doc(version, {"0": 0.0, "1": 0.5}, MODELS)
    doc["ensemble_weights"]["enabled"] = True  # type: ignore[index]
    doc["ensemble_weights"]["weights"] = {"xgb": 0.4, "lgbm": 0.2, "nhits": 0.2, "patchtst": 0.2, "x": 0.0}  # type: ignore[index]
    return doc


# --------------------------------------------------------------------------------------------- status


def test_the_status_of_a_served_file_is_exactly_this(live: Path) -> None:
    data = json.dumps(override_doc()).encode()
    replace(live, data)
    loader = CalibrationLoader(str(live), poll_interval_s=0)
    assert loader.get_status() == {
        "loaded": True,
        "version": "cal_w",
        "created_at": "2026-02-06T06:03:03.350649",
        "based_on_trades": 52,
        "confidence_enabled": True,
        "weights_override": True,
        "config_path": str(live),
        "config_exists": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "per_model_maps": ["lgbm", "xgb"],
        "last_error": None,
        "hot_reload": False,
        "poll_interval_s": 0,
        "acknowledgement": str(live.parent / ".calpolicy_loaded"),
    }
    assert loader.ensemble_weights == {"xgb": 0.4, "lgbm": 0.2, "nhits": 0.2, "patchtst": 0.2}
    assert loader.get_ensemble_weights({"xgb": 1.0}) == loader.ensemble_weights
    assert loader.enabled is True
    assert loader.confidence_calibration_enabled is True
    assert loader.config_path == live


def test_the_status_without_a_file_is_exactly_this(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    loader = CalibrationLoader(path, poll_interval_s=0, record=False)
    assert loader.get_status() == {
        "loaded": False,
        "version": "none",
        "created_at": None,
        "based_on_trades": None,
        "confidence_enabled": False,
        "weights_override": False,
        "config_path": str(path),
        "config_exists": False,
        "sha256": None,
        "per_model_maps": [],
        "last_error": None,
        "hot_reload": False,
        "poll_interval_s": 0,
        "acknowledgement": None,
    }
    assert loader.enabled is False
    assert loader.ensemble_weights is None
    assert loader.confidence_mapping == {}
    assert not (tmp_path / ".calpolicy_loaded").exists()  # record=False writes nothing


def test_the_mapping_and_weights_handed_out_are_copies(live: Path) -> None:
    replace(live, json.dumps(override_doc()).encode())
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    mapping = loader.confidence_mapping
    assert mapping == {0.0: 0.0, 1.0: 0.5}
    mapping[0.0] = 0.9
    weights = loader.ensemble_weights
    assert weights is not None
    weights["xgb"] = 0.9
    assert loader.confidence_mapping == {0.0: 0.0, 1.0: 0.5}
    assert loader.ensemble_weights == {"xgb": 0.4, "lgbm": 0.2, "nhits": 0.2, "patchtst": 0.2}
    assert loader.apply(1.0) == 0.5


@pytest.mark.parametrize(
    ("created", "based", "created_at", "shown", "based_on_trades"),
    [
        (
            "2026-02-06T06:03:03+02:00",
            7,
            datetime(2026, 2, 6, 4, 3, 3, tzinfo=timezone.utc),
            "2026-02-06T06:03:03+02:00",
            7,
        ),
        ("2026-02-06T06:03:03", 0, datetime(2026, 2, 6, 6, 3, 3), "2026-02-06T06:03:03", 0),
        ("not a date", True, None, None, None),  # a bool is not a count
        (20260206, "52", None, None, None),
        (None, 52.0, None, None, None),
    ],
)
def test_created_at_and_based_on_trades_are_read_or_none(
    live: Path,
    created: object,
    based: object,
    created_at: datetime | None,
    shown: str | None,
    based_on_trades: int | None,
) -> None:
    doc = config_doc("cal_meta")
    doc["created_at"] = created
    doc["based_on_trades"] = based
    replace(live, json.dumps(doc).encode())
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.created_at == created_at
    assert loader.based_on_trades == based_on_trades
    status = loader.get_status()
    assert status["created_at"] == shown
    assert status["based_on_trades"] == based_on_trades


def test_a_poll_interval_starts_one_named_daemon_thread_and_close_stops_it(live: Path) -> None:
    before = set(threading.enumerate())
    loader = CalibrationLoader(live, poll_interval_s=0.5, record=False)
    try:
        started = [t for t in threading.enumerate() if t not in before]
        assert [(t.name, t.daemon) for t in started] == [("calpolicy-loader", True)]
        assert loader.get_status()["hot_reload"] is True
        assert loader.get_status()["poll_interval_s"] == 0.5
    finally:
        loader.close()
    assert not started[0].is_alive()
    assert loader.get_status()["hot_reload"] is False


def test_no_thread_to_be_had_still_serves_and_says_so(
    live: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process at its thread limit: ``Thread.start`` raises RuntimeError (injected: the limit cannot be
    reached on purpose as root); the loader serves the file without hot reload and says why."""

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    loader = CalibrationLoader(live, poll_interval_s=0.05, record=False)
    monkeypatch.undo()
    assert loader.version == EXISTING_VERSION
    assert loader.get_status()["hot_reload"] is False
    assert (
        logging.ERROR,
        f"{TAG} ❌ cannot start the reload thread: can't start new thread — no hot reload",
    ) in lines(caplog)
    loader.close()  # nothing to join: must not raise


# --------------------------------------------------------------------------------------------- serving


def test_apply_uses_the_ensemble_map_the_models_map_or_identity(live: Path) -> None:
    replace(live, config_bytes("cal_m", {"0": 0.0, "1": 0.5}, MODELS))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    assert loader.apply(0.5) == 0.25
    assert loader.apply(0.5, "xgb") == 0.5
    assert loader.apply(0.5, model="lgbm") == 0.25
    assert loader.apply(0.3, "nhits") == 0.3  # a model without a map of its own: identity
    assert loader.apply(1.5, "nhits") == 1.0
    assert loader.apply(math.nan, "nhits") == 0.0
    assert loader.apply(np.float64(0.5), "xgb") == 0.5
    np.testing.assert_array_equal(loader.apply(np.array([0.0, 0.5]), "xgb"), [0.25, 0.5])


def test_apply_confidence_calibration_gives_a_float_for_a_scalar_and_an_array_for_an_array(live: Path) -> None:
    replace(live, config_bytes("cal_m", {"0": 0.0, "1": 0.5}))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    scalar = loader.apply_confidence_calibration(0.5)
    assert type(scalar) is float
    assert scalar == 0.25
    zero_d = loader.apply_confidence_calibration(np.array(0.5))  # type: ignore[arg-type]
    assert type(zero_d) is float
    assert zero_d == 0.25
    out = loader.apply_confidence_calibration(np.array([0.5, 1.0]))  # type: ignore[arg-type]
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [0.25, 0.5])


def test_a_float_without_any_calibration_comes_back_as_it_was(tmp_path: Path) -> None:
    loader = CalibrationLoader(tmp_path / "calibration.json", poll_interval_s=0, record=False)
    assert loader.apply(0.3) == 0.3
    assert loader.apply(0.3, "xgb") == 0.3
    assert loader.apply(-2.0, "xgb") == 0.0


# --------------------------------------------------------------------------------------------- log lines


def test_a_swap_logs_exactly_these_lines_in_this_order(live: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=NAME)
    replace(live, json.dumps(override_doc()).encode())
    CalibrationLoader(live, poll_interval_s=0, record=False)
    assert lines(caplog) == [
        (logging.INFO, f"{TAG} ✅ Loaded config version: cal_w"),
        (logging.INFO, f"{TAG} ✅ Loaded calibration: cal_w"),
        (logging.INFO, f"{TAG} Confidence calibration: enabled"),
        (logging.INFO, f"{TAG} Ensemble weights: 5 models (✅ OVERRIDE)"),
        (logging.INFO, f"{TAG} Per-model maps: lgbm, xgb"),
    ]


def test_a_disabled_file_and_a_deletion_log_exactly_these_lines(live: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=NAME)
    replace(live, config_bytes("cal_off", {"0": 0.0, "1": 0.5}, MODELS, enabled=False))
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    live.unlink()
    assert loader.reload() is False
    assert lines(caplog) == [
        (logging.INFO, f"{TAG} ✅ Loaded config version: cal_off"),
        (logging.INFO, f"{TAG} ✅ Loaded calibration: cal_off"),
        (logging.INFO, f"{TAG} Confidence calibration: disabled"),
        (logging.INFO, f"{TAG} Ensemble weights: 4 models (⏸ BASELINE)"),
        (logging.INFO, f"{TAG} No config at {live}"),
        (logging.INFO, f"{TAG} Using baseline ensemble weights"),
        (
            logging.WARNING,
            f"{TAG} ⚠️ {live} is missing: serving NO calibration (identity) until a valid file appears",
        ),
    ]


def test_a_refusal_is_one_error_line_saying_what_and_what_is_still_served(
    live: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    bad = config_bytes("cal_bad", {"0": 0.0, "1": 1.5})
    with pytest.raises(CalibrationError) as refused:
        parse_calibration(bad, str(live))
    replace(live, bad)
    assert loader.reload() is False
    expected = f"{TAG} ❌ refusing to load {live}: {refused.value} — still serving version {EXISTING_VERSION}"
    assert lines(caplog) == [(logging.ERROR, expected)]
    assert loader.last_error == str(refused.value)
    assert loader.get_status()["last_error"] == str(refused.value)


def test_a_special_file_is_refused_in_one_line_naming_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    live = tmp_path / "calibration.json"
    os.mkfifo(live)
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    why = "the file is not a regular file (it is a FIFO); refusing to read it"
    assert lines(caplog) == [(logging.ERROR, f"{TAG} ❌ refusing to load {live}: {why} — still serving version none")]
    assert loader.last_error == why


def test_the_engines_logger_gets_every_line(live: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine_log = logging.getLogger("engine.calibration")
    caplog.set_level(logging.INFO, logger="engine.calibration")
    loader = CalibrationLoader(live, poll_interval_s=0, record=False, logger=engine_log)
    replace(live, b"{")
    loader.reload()
    said = lines(caplog, "engine.calibration")
    assert said[0] == (logging.INFO, f"{TAG} ✅ Loaded config version: {EXISTING_VERSION}")
    assert said[-1][0] == logging.ERROR
    assert "refusing to load" in said[-1][1]
    assert lines(caplog) == []  # nothing went to the loader's own logger


def test_a_refusal_is_logged_again_after_a_good_file_or_a_deletion(
    live: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    replace(live, b"{broken")
    loader.reload()
    replace(live, GOOD)
    assert loader.reload() is True
    assert loader.last_error is None
    replace(live, b"{broken")
    loader.reload()
    assert len(refusals(caplog)) == 2  # the same bad bytes, but after a good file: said again
    live.unlink()
    assert loader.reload() is False
    assert loader.last_error is None  # no file is not an error: identity is served, and said
    live.write_bytes(b"{broken")
    loader.reload()
    assert len(refusals(caplog)) == 3


@pytest.mark.parametrize("bad", ["FIFO", "unparsable"])
def test_deleting_a_refused_file_serves_identity(live: Path, bad: str) -> None:
    """The look that refused a file remembers it; a deletion after it is still noticed."""
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    if bad == "FIFO":
        staged = live.with_name("staged")
        os.mkfifo(staged)
        os.replace(staged, live)
    else:
        replace(live, b"{broken")
    assert loader.reload() is False
    assert loader.version == EXISTING_VERSION
    live.unlink()
    assert loader.reload() is False
    assert loader.version == "none"
    assert loader.get_status()["loaded"] is False


def test_an_unexpected_error_while_reloading_is_refused_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A NUL byte in the path: ``stat`` says "error", ``open`` raises ValueError, which no reader expects."""
    path = Path(f"{tmp_path}/cal\0ibration.json")
    loader = CalibrationLoader(path, poll_interval_s=0)
    assert loader.reload(force=True) is False
    assert loader.version == "none"
    assert loader.last_error is not None
    assert loader.last_error.startswith("unexpected error while reloading: ValueError(")
    [(level, message)] = lines(caplog)
    assert level == logging.ERROR
    assert message.startswith(f"{TAG} ❌ refusing to load {path}: unexpected error while reloading: ValueError(")
    assert message.endswith(" — still serving version none")


# --------------------------------------------------------------------------------------------- swaps


def test_listeners_see_every_swap_once_and_a_failing_one_is_logged(
    live: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    seen: list[str] = []
    late: list[str] = []

    def failing(snap: Snapshot) -> None:
        loader.on_change(lambda s: late.append(s.version))  # added during a swap: from the next one on
        raise RuntimeError("boom")

    loader.on_change(failing)
    loader.on_change(lambda snap: seen.append(snap.version))
    assert loader.reload(force=True) is True  # the same bytes: nothing swapped, nobody called
    assert seen == []
    replace(live, config_bytes("cal_2"))
    assert loader.reload() is True
    assert seen == ["cal_2"]
    assert late == []
    assert loader.version == "cal_2"
    assert (logging.ERROR, f"{TAG} ❌ a change listener failed: RuntimeError('boom')") in lines(caplog)
    live.unlink()
    loader.reload()
    assert seen == ["cal_2", "none"]
    assert late == ["none"]


def test_an_unwritable_acknowledgement_is_logged_with_the_systems_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = tmp_path / "calibration.json"
    live.write_bytes(GOOD)
    marker = tmp_path / ".calpolicy_loaded"
    marker.mkdir()
    (marker / "keep").write_bytes(b"")  # a folder that is not empty: os.replace cannot put a file there
    loader = CalibrationLoader(live, poll_interval_s=0)
    assert loader.version == EXISTING_VERSION
    reasons = {os.strerror(errno.EISDIR), os.strerror(errno.ENOTEMPTY)}
    failed = [m for level, m in lines(caplog) if level == logging.ERROR]
    assert len(failed) == 1
    prefix = f"{TAG} ❌ cannot record the served version in {marker}: "
    assert failed[0].startswith(prefix)
    assert failed[0][len(prefix) :] in reasons
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".calpolicy-tmp-")] == []


def test_the_acknowledgement_follows_every_swap(live: Path) -> None:
    loader = CalibrationLoader(live, poll_interval_s=0)
    marker = live.parent / ".calpolicy_loaded"
    first = read_marker(marker)
    assert first is not None
    assert first["version"] == EXISTING_VERSION
    data = config_bytes("cal_next")
    replace(live, data)
    loader.reload()
    second = read_marker(marker)
    assert second is not None
    assert (second["version"], second["pid"], second["sha256"]) == (
        "cal_next",
        os.getpid(),
        hashlib.sha256(data).hexdigest(),
    )
    assert datetime.fromisoformat(second["at"]) >= datetime.fromisoformat(first["at"])


class _Mapped:
    """A file rewritten through a shared memory mapping: once its page is dirty, later writes change the
    content without touching its times, so its stat key stays the same (a tool that writes through mmap
    does exactly this). The one case where only a forced reload can see a new file."""

    def __init__(self, path: Path, data: bytes) -> None:
        path.write_bytes(data)
        self.fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(self.fd, len(data))
        self.map[:] = data  # dirty the page now, while nobody has looked
        self.path = path

    def rewrite(self, data: bytes) -> None:
        key = stat_key(self.path)
        self.map[:] = data
        assert stat_key(self.path) == key, "this kernel dated a write through a dirty mapping: no such case here"

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


def test_a_poll_trusts_the_stat_key_and_a_forced_reload_reads_the_file(live: Path) -> None:
    mapped = _Mapped(live, config_bytes("cal_map_1"))
    try:
        loader = CalibrationLoader(live, poll_interval_s=0, record=False)
        assert loader.version == "cal_map_1"
        mapped.rewrite(config_bytes("cal_map_2"))
        assert loader.reload() is True  # a poll only stats the file: cheap, five times a second
        assert loader.version == "cal_map_1"
        assert loader.reload(force=True) is True
        assert loader.version == "cal_map_2"
    finally:
        mapped.close()


def test_the_engines_reload_calibration_reads_the_file_even_with_the_same_stat_key(
    live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapped = _Mapped(live, config_bytes("cal_map_1"))
    monkeypatch.setattr(CalibrationLoader, "DEFAULT_CONFIG_PATH", str(live))
    monkeypatch.setattr(loader_module, "_calibration_loader", None)
    try:
        assert get_calibration_loader().version == "cal_map_1"
        mapped.rewrite(config_bytes("cal_map_2"))
        assert reload_calibration() is True
        assert get_calibration_loader().version == "cal_map_2"
    finally:
        get_calibration_loader().close()
        mapped.close()


# --------------------------------------------------------------------------------------------- signals, fork


@pytest.mark.parametrize("signum", [None, signal.SIGUSR1])
def test_a_reload_signal_swaps_in_the_new_file(live: Path, signum: int | None) -> None:
    sent = signal.SIGHUP if signum is None else signum
    old = signal.getsignal(sent)
    loader = CalibrationLoader(live, poll_interval_s=0, record=False)
    swapped = threading.Event()
    loader.on_change(lambda snap: swapped.set())
    try:
        if signum is None:
            loader.install_reload_signal()  # the default: SIGHUP
        else:
            loader.install_reload_signal(signum)
        replace(live, config_bytes("cal_signal"))
        os.kill(os.getpid(), sent)
        assert swapped.wait(30)
    finally:
        signal.signal(sent, old)
    assert loader.version == "cal_signal"


def _in_child(work: object) -> bytes:
    """Run ``work()`` in a forked copy of this process and return what it wrote (it always ``_exit``s)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        answer = b"error"
        try:
            answer = work()  # type: ignore[operator]
        except BaseException as error:
            answer = repr(error).encode()
        finally:
            os.write(write_fd, answer)
            os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 4096):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def test_a_closed_loader_stays_closed_in_a_forked_worker(live: Path) -> None:
    loader = CalibrationLoader(live, poll_interval_s=0.02, record=False)
    loader.close()
    answer = _in_child(lambda: str(loader.get_status()["hot_reload"]).encode())
    assert answer == b"False"


def test_a_forked_worker_can_reload_though_the_parent_held_the_lock_at_fork(live: Path) -> None:
    """The poll thread may be inside ``reload()`` when the server forks: the child gets a fresh lock."""
    loader = CalibrationLoader(live, poll_interval_s=30, record=False)
    try:
        replace(live, config_bytes("cal_child"))

        def child() -> bytes:
            box: list[object] = []
            worker = threading.Thread(target=lambda: box.append(loader.reload()), daemon=True)
            worker.start()
            worker.join(10)
            return f"{box} {loader.version}".encode()

        with loader._reload_lock:  # as if the poll thread were mid-reload at the fork
            answer = _in_child(child)
    finally:
        loader.close()
    assert answer == b"[True] cal_child"


def test_the_fork_hook_restarts_polling_only_for_a_live_open_loader(live: Path) -> None:
    """What ``os.register_at_fork`` runs in a child, called here directly (a forked child's calls are
    invisible to the mutation tool): a new lock and a new poll thread for an open loader; nothing for a
    closed one or one already collected."""
    loader = CalibrationLoader(live, poll_interval_s=30, record=False)
    closed = CalibrationLoader(live, poll_interval_s=30, record=False)
    closed.close()
    try:
        held = loader._reload_lock
        held.acquire()  # as if the parent's poll thread were mid-reload at the fork
        before = set(threading.enumerate())
        loader_module._restart_after_fork(weakref.ref(closed))
        loader_module._restart_after_fork(weakref.ref(CalibrationLoader(live, poll_interval_s=0, record=False)))
        assert set(threading.enumerate()) == before
        loader_module._restart_after_fork(weakref.ref(loader))
        started = [t for t in threading.enumerate() if t not in before]
        assert [(t.name, t.daemon) for t in started] == [("calpolicy-loader", True)]
        assert loader._reload_lock is not held
        replace(live, config_bytes("cal_hook"))
        assert loader.reload() is True  # not blocked by the lock held "in the parent"
        assert loader.version == "cal_hook"
        held.release()
    finally:
        loader.close()
    assert not started[0].is_alive()


# --------------------------------------------------------------------------------------------- singleton


def test_the_process_wide_loader_is_made_once_on_the_default_path(live: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CalibrationLoader, "DEFAULT_CONFIG_PATH", str(live))
    monkeypatch.setattr(loader_module, "_calibration_loader", None)
    first = get_calibration_loader()
    try:
        assert first is get_calibration_loader()
        assert first.config_path == live
        status = first.get_status()
        assert (status["version"], status["hot_reload"], status["poll_interval_s"]) == (EXISTING_VERSION, True, 0.2)
        assert status["acknowledgement"] == str(live.parent / ".calpolicy_loaded")
        assert read_marker(live.parent / ".calpolicy_loaded")["version"] == EXISTING_VERSION  # type: ignore[index]
        replace(live, config_bytes("cal_global"))
        assert reload_calibration() is True
        assert first.version == "cal_global"
        replace(live, b"{")
        assert reload_calibration() is False
    finally:
        first.close()


# --------------------------------------------------------------------------------------------- acknowledgement


def _marker(path: Path, **body: object) -> None:
    path.write_bytes((json.dumps(body) + "\n").encode())


def test_read_marker_reads_an_object_up_to_64_kib_and_nothing_else(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    assert read_marker(marker) is None  # missing
    head = b'{"version": "v", "pad": "'
    marker.write_bytes(head + b"x" * (64 * 1024 - len(head) - 2) + b'"}')
    assert marker.stat().st_size == 64 * 1024
    assert read_marker(marker) == {"version": "v", "pad": "x" * (64 * 1024 - len(head) - 2)}
    marker.write_bytes(head + b"x" * (64 * 1024 - len(head) - 1) + b'"}')
    assert read_marker(marker) is None  # one byte over
    for junk in (b"[1, 2]", b'"v"', b"{", b"\xff", b"[" * 50_000):
        marker.write_bytes(junk)
        assert read_marker(marker) is None, junk[:10]
    marker.unlink()
    marker.mkdir()
    assert read_marker(marker) is None


def test_wait_for_version_wants_the_version_recorded_at_or_after_since(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    at = datetime(2026, 12, 6, 12, 0, 0, tzinfo=timezone.utc)
    _marker(marker, version="v2", at=at.isoformat())
    assert wait_for_version(marker, "v2", 0, since=at.timestamp()) == {"version": "v2", "at": at.isoformat()}
    assert wait_for_version(marker, "v2", 0, since=at.timestamp() + 0.001) is None
    assert wait_for_version(marker, "v1", 0) is None
    # another offset is the same instant
    _marker(marker, version="v2", at=at.astimezone(timezone(timedelta(hours=2))).isoformat())
    assert wait_for_version(marker, "v2", 0, since=at.timestamp()) is not None
    assert wait_for_version(marker, "v2", 0, since=at.timestamp() + 1) is None
    # no time, or one that is not a time: as old as can be
    _marker(marker, version="v2")
    assert wait_for_version(marker, "v2", 0) == {"version": "v2"}
    _marker(marker, version="v2", at="yesterday")
    assert wait_for_version(marker, "v2", 0) is not None
    assert wait_for_version(marker, "v2", 0, since=0.5) is None


def test_a_time_without_offset_is_utc_whatever_the_hosts_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    try:
        marker = tmp_path / ".calpolicy_loaded"
        _marker(marker, version="v2", at="2026-12-06T12:00:00")
        noon_utc = datetime(2026, 12, 6, 12, tzinfo=timezone.utc).timestamp()
        assert wait_for_version(marker, "v2", 0, since=noon_utc) is not None
        assert wait_for_version(marker, "v2", 0, since=noon_utc + 1) is None
    finally:
        monkeypatch.undo()
        time.tzset()


def test_wait_for_version_keeps_looking_until_the_version_appears(tmp_path: Path) -> None:
    marker = tmp_path / ".calpolicy_loaded"
    _marker(marker, version="v1", at=datetime.now(timezone.utc).isoformat())
    box: list[object] = []
    waiter = threading.Thread(target=lambda: box.append(wait_for_version(marker, "v2", 60)), daemon=True)
    waiter.start()
    time.sleep(0.2)  # let it look at v1 first (if it has not, the test still holds)
    _marker(marker, version="v2", at="2026-12-06T12:00:00+00:00")
    waiter.join(60)
    assert box == [{"version": "v2", "at": "2026-12-06T12:00:00+00:00"}]


# --------------------------------------------------------------------------------------------- package


PUBLIC_NAMES = {
    "DEFAULT_CONFIG_PATH",
    "FALLBACK_WEIGHTS",
    "KEY_TOLERANCE",
    "LOADED_MARKER",
    "LOG",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "NAN_CONFIDENCE",
    "NO_CALIBRATION",
    "TAG",
    "CalibrationError",
    "CalibrationLoader",
    "Curve",
    "Snapshot",
    "Unreadable",
    "get_calibration_loader",
    "identity_snapshot",
    "parse_calibration",
    "read_bounded",
    "read_marker",
    "reload_calibration",
    "wait_for_version",
}


def test_the_package_version_is_the_distributions() -> None:
    assert calpolicy_loader.__version__ == metadata.version("calpolicy-loader")
    assert set(calpolicy_loader.__all__) == PUBLIC_NAMES  # the engine's adoption line imports exactly these
    for name in calpolicy_loader.__all__:
        assert getattr(calpolicy_loader, name) is not None
