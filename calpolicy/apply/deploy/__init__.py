"""Apply and rollback: the only code in calpolicy that writes to the live system (checklist 4.1).

Every write follows the same order, under one exclusive lock (``apply_lock``):

1. validate the new config completely (the loader's own parser) — an invalid file is never written;
2. archive the live file to ``calibration_archive/calibration_<live version>.json`` and read it back;
3. append a ``begin`` line to the history, with the rollback target the new state will have;
4. write ``calibration.json`` by temp file + fsync + ``os.replace`` + directory fsync (or, for
   ``rollback none``, unlink it + directory fsync);
5. append a ``done`` line; move the job's manifest along;
6. confirm from the engine's own evidence that it serves the new version (``calpolicy.apply.confirmation``: the
   acknowledgement or log line of the unit's current main process); a ``reload_signal`` that ends the
   engine counts as the one restart; otherwise only with ``allow_restart`` restart the unit, once.

A SIGKILL at any instant leaves ``calibration.json`` either the old bytes or the new bytes, every config
that was ever live in the archive, and the lock free (see unit_tests/deploy/test_crash_safety.py).

Split by reason to change: ``live`` (what is live, the shared types and errors), ``swap`` (the ordered,
crash-safe write: the crash-safety argument), ``approve`` (an approved job → the live file), ``rollback``
(which archived version goes back, by lineage) and ``common`` (the lock, the engine's acknowledgement and
the notes both commands share). The public names are re-exported here.
"""

from calpolicy.apply.deploy.approve import approve_job, build_calibration, serialize
from calpolicy.apply.deploy.live import (
    DEFAULT_WEIGHTS,
    PARSE_ERRORS,
    SCHEMA,
    UNREADABLE,
    DeployError,
    Live,
    LivePaths,
    Locked,
    NothingToDo,
    Outcome,
    Say,
    read_live,
)
from calpolicy.apply.deploy.rollback import rollback
from calpolicy.apply.deploy.swap import swap

__all__ = [
    "DEFAULT_WEIGHTS",
    "PARSE_ERRORS",
    "SCHEMA",
    "UNREADABLE",
    "DeployError",
    "Live",
    "LivePaths",
    "Locked",
    "NothingToDo",
    "Outcome",
    "Say",
    "approve_job",
    "build_calibration",
    "read_live",
    "rollback",
    "serialize",
    "swap",
]
