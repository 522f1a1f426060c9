"""``CalibrationLoader``: what the AI engine imports to apply the approved calibration, with hot reload.

A drop-in for the engine's own loader (quantum_trader ``ai_engine/calibration_loader.py``): the same
class name, constructor, attributes (``calibration_loaded``, ``version``, ``confidence_mapping``,
``ensemble_weights`` ...), methods (``reload``, ``apply_confidence_calibration``, ``get_ensemble_weights``,
``get_status``), module functions (``get_calibration_loader``, ``reload_calibration``) and its
``✅ Loaded calibration: <version>`` log line, so adopting it is a one-line import change. What it adds:

* a file is validated completely before it is served (``parse.parse_calibration``); a file that does not
  validate is never served: the last good config stays, and one ERROR line per distinct bad file says why;
* nothing in a file can make the constructor, ``reload()`` or the poll thread raise or hang (see
  ``files.read_bounded``), and ``apply`` always returns a finite value in [0, 1];
* a new file is noticed by polling (inode, mtime, ctime, size) from a daemon thread, or on ``reload()`` /
  a reload signal, and swapped in atomically: each config is one immutable ``Snapshot`` published by a
  single attribute assignment, so a concurrent caller sees the old map or the new one, never a mix;
* a deleted file means "no calibration" (identity), said in the log;
* after each swap the served version is recorded in ``.calpolicy_loaded`` beside the file, one JSON line
  ``{"version": ..., "pid": ..., "at": ..., "sha256": ...}``, which ``calpolicy approve`` waits for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from calpolicy_loader.files import Unreadable, read_bounded, stat_key, write_atomic
from calpolicy_loader.parse import (
    CalibrationError,
    Snapshot,
    identity_snapshot,
    parse_calibration,
)

LOG = logging.getLogger("calpolicy_loader")
TAG = "[CalibrationLoader]"
LOADED_MARKER = ".calpolicy_loaded"
MARKER_MAX_BYTES = 64 * 1024
DEFAULT_CONFIG_PATH = "/home/qt/quantum_trader/config/calibration.json"  # the engine's own default
FALLBACK_WEIGHTS = {"xgb": 0.30, "lgbm": 0.30, "nhits": 0.20, "patchtst": 0.20}  # the engine's hard fallback


class CalibrationLoader:
    """Load, validate, apply and hot-reload ``calibration.json``.

    ``poll_interval_s`` (default 0.2 s) is how often a daemon thread looks for a new file; ``0`` disables
    the thread (call ``reload()`` yourself). ``record=False`` skips writing ``.calpolicy_loaded``.
    """

    DEFAULT_CONFIG_PATH = DEFAULT_CONFIG_PATH

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        poll_interval_s: float = 0.2,
        record: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.path = Path(config_path if config_path is not None else self.DEFAULT_CONFIG_PATH)
        self.marker = self.path.parent / LOADED_MARKER
        self.record = record
        self.log = logger or LOG
        self.poll_interval_s = poll_interval_s
        self.last_error: str | None = None
        self._last_refusal: tuple[str, str | None] | None = None
        self._last_kind: str | None = None  # the last refusal with its numbers blanked out
        self._reload_lock = threading.Lock()
        self._seen: Any = "unseen"
        self._snapshot: Snapshot = identity_snapshot(source="not loaded yet")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Snapshot], None]] = []
        self.reload(force=True)
        if poll_interval_s > 0:
            self._start_thread()
            # a server that forks its workers after import (gunicorn, uvicorn --workers) would leave each
            # child without the thread: start it again there (a weak reference: no loader is kept alive)
            me = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _restart_after_fork(me))

    def _start_thread(self) -> None:
        try:
            self._thread = threading.Thread(
                target=self._poll, args=(self.poll_interval_s,), name="calpolicy-loader", daemon=True
            )
            self._thread.start()
        except RuntimeError as error:  # no thread to be had: still serve, without hot reload
            self._thread = None
            self.log.error("%s ❌ cannot start the reload thread: %s — no hot reload", TAG, error)

    # ------------------------------------------------------------------ serving

    def apply(self, confidence: Any, model: str | None = None) -> Any:
        """Calibrate ``confidence`` (scalar or array) with the ensemble map, or with ``model``'s map.

        The result is always in [0, 1] (NaN gives 0.0). A model without a map of its own, and any call
        while no calibration is active, gets its input back (clamped to [0, 1]).
        """
        snap = self._snapshot
        curve = snap.ensemble if model is None else snap.models.get(model)
        if type(confidence) is float and curve is not None:
            return curve.scalar(confidence)
        return snap.apply(confidence, model)

    def apply_confidence_calibration(self, raw_confidence: float) -> float:
        """The engine's name for ``apply`` on the ensemble map."""
        value = self.apply(raw_confidence)
        return float(value) if np.ndim(value) == 0 else value

    def get_ensemble_weights(self, baseline: dict[str, float] | None = None) -> dict[str, float]:
        """The engine's rule, unchanged: the file's weights when a file is loaded and its override is
        enabled, else ``baseline``, else the engine's fixed four-model fallback. (So, as with the engine's
        own loader, a loaded file whose override is disabled gives the fallback when no baseline is passed;
        calpolicy judges "no weights changed" on exactly this rule.)"""
        snap = self._snapshot
        if snap.from_file and snap.weights_override:
            return dict(snap.weights_override)
        if baseline:
            return dict(baseline)
        return dict(FALLBACK_WEIGHTS)

    def get_status(self) -> dict[str, Any]:
        """The engine's status keys plus what this loader adds (sha256, last_error, hot reload)."""
        snap = self._snapshot
        created = self.created_at
        return {
            "loaded": snap.from_file,
            "version": snap.version,
            "created_at": created.isoformat() if created else None,
            "based_on_trades": self.based_on_trades,
            "confidence_enabled": snap.enabled,
            "weights_override": snap.weights_override is not None,
            "config_path": str(self.path),
            "config_exists": os.path.exists(self.path),
            "sha256": snap.sha256,
            "per_model_maps": sorted(snap.models),
            "last_error": self.last_error,
            "hot_reload": self._thread is not None and self._thread.is_alive(),
            "poll_interval_s": self.poll_interval_s,
            "acknowledgement": str(self.marker) if self.record else None,
        }

    def snapshot(self) -> Snapshot:
        """The config served right now, as one immutable object (for several consistent calls)."""
        return self._snapshot

    @property
    def config_path(self) -> Path:
        return self.path

    @property
    def version(self) -> str:
        """The served version; ``"none"`` when no file is served."""
        return self._snapshot.version

    @property
    def enabled(self) -> bool:
        return self._snapshot.enabled

    @property
    def calibration_loaded(self) -> bool:
        """True while a valid file is served (the engine's flag)."""
        return self._snapshot.from_file

    @property
    def confidence_calibration_enabled(self) -> bool:
        return self._snapshot.enabled

    @property
    def confidence_mapping(self) -> dict[float, float]:
        return dict(self._snapshot.mapping)

    @property
    def ensemble_weights(self) -> dict[str, float] | None:
        override = self._snapshot.weights_override
        return dict(override) if override else None

    @property
    def created_at(self) -> datetime | None:
        raw = self._snapshot.document.get("created_at")
        if not isinstance(raw, str):
            return None
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None

    @property
    def based_on_trades(self) -> int | None:
        raw = self._snapshot.document.get("based_on_trades")
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None

    # ------------------------------------------------------------------ reloading

    def reload(self, force: bool = False) -> bool:
        """Look at the file now and serve it if it is new and valid; never raises.

        Returns what the engine's ``reload()`` returns: True when a calibration file is served and it is
        the file on disk (a missing or refused file gives False). ``force`` re-reads an unchanged file.
        """
        try:
            with self._reload_lock:
                self._look(force)
        except Exception as error:  # the engine must keep running on the last good config
            self._refuse(f"unexpected error while reloading: {error!r}", None)
        return self._snapshot.from_file and self.last_error is None

    def _look(self, force: bool) -> None:
        key = stat_key(self.path)
        if not force and key == self._seen:
            return
        if key is None:
            self._seen = None
            self.last_error = None
            self._last_refusal = self._last_kind = None
            if self._snapshot.source != "no file":
                self.log.info("%s No config at %s", TAG, self.path)
                self.log.info("%s Using baseline ensemble weights", TAG)
                self.log.warning(
                    "%s ⚠️ %s is missing: serving NO calibration (identity) until a valid file appears",
                    TAG,
                    self.path,
                )
                self._publish(identity_snapshot())
            return
        try:
            data, read_key = read_bounded(self.path)
        except FileNotFoundError:
            self._seen = "unseen"  # replaced between stat and open: look again on the next tick
            return
        except Unreadable as error:
            self._seen = key
            self._refuse(f"the file {error}", None)
            return
        self._seen = read_key
        digest = hashlib.sha256(data).hexdigest()
        try:
            snap = parse_calibration(data, str(self.path))
        except CalibrationError as error:
            self._refuse(str(error), digest)
            return
        self.last_error = None
        self._last_refusal = self._last_kind = None
        if snap.sha256 != self._snapshot.sha256:
            self._publish(snap)

    def _refuse(self, message: str, digest: str | None) -> None:
        self.last_error = message
        if (message, digest) == self._last_refusal:
            return  # once per distinct bad file, not on every poll
        # a file that cannot be read for the same reason with only a number changed (one growing past the size
        # cap: a new size on every poll) is the same refusal: said once, not five times a second
        kind = re.sub(r"\d+", "N", message) if digest is None else None
        if kind is not None and kind == self._last_kind:
            return
        self._last_refusal = (message, digest)
        self._last_kind = kind
        self.log.error(
            "%s ❌ refusing to load %s: %s — still serving version %s", TAG, self.path, message, self.version
        )

    def _publish(self, snap: Snapshot) -> None:
        self._snapshot = snap  # the one atomic swap
        if snap.from_file:
            self.log.info("%s ✅ Loaded config version: %s", TAG, snap.version)
            self.log.info("%s ✅ Loaded calibration: %s", TAG, snap.version)
            self.log.info("%s Confidence calibration: %s", TAG, "enabled" if snap.enabled else "disabled")
            self.log.info(
                "%s Ensemble weights: %d models (%s)",
                TAG,
                snap.weights_count,
                "✅ OVERRIDE" if snap.weights_override else "⏸ BASELINE",
            )
            if snap.models:
                self.log.info("%s Per-model maps: %s", TAG, ", ".join(sorted(snap.models)))
        self._record(snap)
        for listener in list(self._listeners):
            try:
                listener(snap)
            except Exception as error:
                self.log.error("%s ❌ a change listener failed: %r", TAG, error)

    def _record(self, snap: Snapshot) -> None:
        if not self.record:
            return
        body = {
            "version": snap.version,
            "pid": os.getpid(),
            "at": datetime.now(timezone.utc).isoformat(),
            "sha256": snap.sha256,
        }
        try:
            write_atomic(self.marker, (json.dumps(body) + "\n").encode())
        except OSError as error:
            self.log.error(
                "%s ❌ cannot record the served version in %s: %s", TAG, self.marker, error.strerror or error
            )

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        """Call ``listener(snapshot)`` after every swap (from the thread that swapped)."""
        self._listeners.append(listener)

    def install_reload_signal(self, signum: int = signal.SIGHUP) -> None:
        """Reload on ``signum`` as well as by polling. Must be called from the main thread."""
        signal.signal(signum, lambda *_: threading.Thread(target=self.reload, daemon=True).start())

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.reload()

    def close(self) -> None:
        """Stop the polling thread (the last config stays served)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CalibrationLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _restart_after_fork(ref: weakref.ref[CalibrationLoader]) -> None:
    loader = ref()
    if loader is None or loader._stop.is_set():
        return
    loader._reload_lock = threading.Lock()  # a lock held by the parent's thread at fork time stays held
    loader._start_thread()


# --------------------------------------------------------------------------------------------- singleton

_calibration_loader: CalibrationLoader | None = None
_singleton_lock = threading.Lock()


def get_calibration_loader() -> CalibrationLoader:
    """The process-wide loader on ``DEFAULT_CONFIG_PATH`` (the engine's entry point), made on first use."""
    global _calibration_loader
    with _singleton_lock:
        if _calibration_loader is None:
            _calibration_loader = CalibrationLoader()
        return _calibration_loader


def reload_calibration() -> bool:
    """Reload the process-wide loader now; True when a calibration file is served (the engine's meaning)."""
    return get_calibration_loader().reload(force=True)


# --------------------------------------------------------------------------------------------- acknowledgement


def read_marker(marker: Path) -> dict[str, Any] | None:
    """The acknowledgement as a dict, or None when it is missing, not a regular file or not a JSON object."""
    with contextlib.suppress(OSError, Unreadable, ValueError, RecursionError):
        data, _ = read_bounded(Path(marker), MARKER_MAX_BYTES)
        raw = json.loads(data)
        if isinstance(raw, dict):
            return raw
    return None


def wait_for_version(marker: Path, version: str, timeout_s: float, since: float = 0.0) -> dict[str, Any] | None:
    """Poll ``.calpolicy_loaded`` until it names ``version`` (recorded at or after ``since``, epoch s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = read_marker(marker)
        if seen and seen.get("version") == version and _epoch(seen.get("at")) >= since:
            return seen
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _epoch(raw: Any) -> float:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
