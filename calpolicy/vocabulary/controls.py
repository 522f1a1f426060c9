"""The one registry of control IDs: every checklist item and extra data check, what enforces it, and where.

The checklist's own IDs come first and are the requirement (docs/CHECKLIST.md); the ``CLM.*`` IDs are the
extra data checks that REAL_SYSTEM.md §1 demands beyond the checklist's wording. Everything that needs a
list of IDs is built from this table and nothing else: the policy tests that enforce the data gate, the
preflight's list of items that must report (``PREFLIGHT_IDS``), the "log unreadable → every data item not
checked" findings, and the plugin's traceability check at collection time. A hand-written copy of a list
would drift: an item deleted from it would silently stop being enforced.

``phase`` is the pytest marker of the policy tests that enforce the item (``None``: no policy test yet);
``producer`` says which part of calpolicy answers for it, so the tests can prove that each producer emits a
finding for exactly its registered IDs.
"""

from __future__ import annotations

from dataclasses import dataclass

DATA = "clm.check_data"  # calpolicy.clm.checks.check_data, on the CLM log
BOUNDS = "bounds.check_bounds"  # calpolicy.calibrate.bounds.check_bounds, on the proposal
LIVE = "live probe"  # a policy test asks the running system (systemd, journal, Redis, HTTP, operator)
PROPOSAL = "proposal.json"  # a policy test reads the proposal itself
JOB = "job folder"  # a policy test checks a job of calpolicy run: its sandbox, digests and report files


@dataclass(frozen=True)
class Check:
    """One control: its ID, what it requires, the phase marker enforcing it, and what produces its result."""

    id: str
    text: str
    phase: str | None = None
    producer: str | None = None


REGISTRY: tuple[Check, ...] = (
    Check("P0.1.a", "quantum-ai-engine is ACTIVE", "preflight", LIVE),
    Check("P0.1.b", "quantum-execution is ACTIVE", "preflight", LIVE),
    Check("P0.1.c", "quantum-learning-monitor is ACTIVE", "preflight", LIVE),
    Check("P0.1.d", "quantum-learning-api is ACTIVE", "preflight", LIVE),
    Check("P0.1.e", "no ERROR/TRACEBACK in the AI engine's journal in the last 30 min", "preflight", LIVE),
    Check("P0.1.f", "Redis latency < 50 ms, no backlog", "preflight", LIVE),
    Check("P0.2.a", "the CLM file exists", "preflight", DATA),
    Check("P0.2.b", "line count >= cadence.min_trades", "preflight", DATA),
    Check("P0.2.c", "at least 2 symbols", "preflight", DATA),
    Check("P0.2.d", "at least 1 WIN and 1 LOSS", "preflight", DATA),
    Check("P0.2.e", "no NaN, null or 0.0 in entry price, exit price or PnL", "preflight", DATA),
    Check("P0.3.a", "readiness: ready == true", "preflight", LIVE),
    Check("P0.3.b", "readiness: 'calibration' in actions", "preflight", LIVE),
    Check("P0.3.c", "readiness: no retrain / weights_update or similar in actions", "preflight", LIVE),
    Check("P1.1.a", "no model weights are written", "lockdown", JOB),
    Check("P1.1.b", "no ensemble weights are changed", "lockdown", JOB),
    Check("P1.1.c", "no config files are updated", "lockdown", JOB),
    Check("P1.1.d", "no Meta-Agent parameters are changed", "lockdown", JOB),
    Check("P1.1.e", "no restart is triggered", "lockdown", JOB),
    Check("P1.2.a", "calibration reads only CLM data", "lockdown", JOB),
    Check("P1.2.b", "no live market data is used", "lockdown", JOB),
    Check("P1.2.c", "no Redis streams are consumed", "lockdown", JOB),
    Check("P2.1.a", "compute confidence calibration (isotonic)", "proposal", PROPOSAL),
    Check("P2.1.b", "compare pre/post error (MSE/Brier)", "proposal", PROPOSAL),
    Check("P2.1.c", "generate a report (markdown/json)", "proposal", PROPOSAL),
    Check("P2.1.d", "propose parameters, not apply them", "proposal", PROPOSAL),
    Check("P2.2.a", "confidence change at most ±0.15", "proposal", BOUNDS),
    Check("P2.2.b", "MSE improvement >= 5%", "proposal", BOUNDS),
    Check("P2.2.c", "no model gets worse", "proposal", BOUNDS),
    Check("P2.2.d", "all models affected, no selective hidden change", "proposal", BOUNDS),
    Check("P3.1.a", "report: one-page summary", "report", JOB),
    Check("P3.1.b", "report: before/after metrics", "report", JOB),
    Check("P3.1.c", "report: reliability plot or table", "report", JOB),
    Check("P3.1.d", "report: risk section", "report", JOB),
    Check("P3.1.e", "report: DO NOT APPLY IF section", "report", JOB),
    Check("P3.2.a", "the report has been reviewed", "report", JOB),
    Check("P3.2.b", "all safety bounds are OK", "report", JOB),
    Check("P3.2.c", "decision maker available for 24 h of monitoring", "report", JOB),
    Check("P4.1.a", "the change is stored as a new version", "apply", LIVE),
    Check("P4.1.b", "the old version is intact in the archive", "apply", LIVE),
    Check("P4.1.c", "at most one restart, only if hot reload fails", "apply", LIVE),
    Check("P4.1.d", "a clear version ID in the logs", "apply", LIVE),
    Check("P4.2.a", "PnL drift within normal", "watch", LIVE),
    Check("P4.2.b", "win-rate delta < 5%", "watch", LIVE),
    Check("P4.2.c", "HOLD rate not up > 50% over baseline", "watch", LIVE),
    Check("P4.2.d", "confidence distribution within 0.50-0.95", "watch", LIVE),
    Check("S.a", "data < cadence minimum", "preflight", DATA),
    Check("S.b", "market extreme (flash crash, halt, volume > 300%)", "preflight", LIVE),
    Check("S.c", "execution has errors (last 1 h)", "preflight", LIVE),
    Check("S.d", "operator not available for review and 24 h monitoring", "preflight", LIVE),
    Check("S.e", "Risk-Safety service reports HALT", "preflight", LIVE),
    Check("S.f", "SimpleCLM shows STARVATION (> 2 h without trades)", "preflight", DATA),
    Check("CLM.parse", "every line is one JSON object", "preflight", DATA),
    Check(
        "CLM.schema", "every record has the required fields with the right types and vocabularies", "preflight", DATA
    ),
    Check("CLM.confidence", "confidences are numbers in [0, 1]", "preflight", DATA),
    Check("CLM.duplicates", "no record delivered twice", "preflight", DATA),
    Check("CLM.constant_confidence", "confidence varies (something to calibrate)", "preflight", DATA),
    Check("CLM.pnl_sign", "PnL sign agrees with side and price move", "preflight", DATA),
    Check("CLM.flat_price", "entry price differs from exit price", "preflight", DATA),
    Check("CLM.timestamps", "timestamps parse, are not in the future and never go backwards", "preflight", DATA),
    Check(
        "CLM.placeholders",
        "no placeholder values (model_id *_None, exit_reason unknown, position_size 0)",
        "preflight",
        DATA,
    ),
    Check(
        "CLM.models", "every model's prediction is present on every record that carries predictions", "preflight", DATA
    ),
)

_BY_ID: dict[str, Check] = {check.id: check for check in REGISTRY}
CHECKLIST: dict[str, str] = {c.id: c.text for c in REGISTRY if not c.id.startswith("CLM.")}
EXTRA: dict[str, str] = {c.id: c.text for c in REGISTRY if c.id.startswith("CLM.")}
KNOWN: dict[str, str] = {**CHECKLIST, **EXTRA}


def registered(phase: str | None = None, producer: str | None = None) -> tuple[str, ...]:
    """IDs enforced by a policy test, in checklist order, optionally only one phase's or one producer's."""
    return tuple(
        c.id
        for c in REGISTRY
        if c.phase is not None and (phase is None or c.phase == phase) and (producer is None or c.producer == producer)
    )


def check(control_id: str) -> Check:
    """The registry entry for ``control_id``; ``KeyError`` for an ID outside the catalogue."""
    return _BY_ID[control_id]


def unknown_ids(ids: list[str] | tuple[str, ...]) -> list[str]:
    return [i for i in ids if i not in KNOWN]


def traceability_problems(ids: list[str], markers: set[str], in_policy_suite: bool) -> list[str]:
    """Why a test's ``control`` IDs cannot be traced, from the registry; empty when they can.

    Any test may name only catalogued IDs. A policy test must name at least one, and must carry the phase
    marker the registry gives each of them: a misspelt or missing phase marker would otherwise drop the
    test from ``pytest -m <phase>`` without a word.
    """
    bad = unknown_ids(ids)
    if bad:
        return [f"unknown control ID(s) {', '.join(bad)}"]
    if not in_policy_suite:
        return []
    if not ids:
        return ["policy test carries no @pytest.mark.control(...) ID"]
    return [
        f"{cid} is enforced in phase '{phase}' but the test carries no @pytest.mark.{phase} marker"
        for cid in ids
        if (phase := _BY_ID[cid].phase) is not None and phase not in markers
    ]
