"""The catalogue of control IDs a test or finding may name.

The checklist's own IDs come first and are the requirement (docs/CHECKLIST.md); the ``CLM.*`` IDs are the
extra data checks that REAL_SYSTEM.md §1 demands beyond the checklist's wording. A test or finding that
names an ID outside this catalogue is a typo that would silently leave an item unenforced, so the pytest
plugin refuses it at collection time.
"""

from __future__ import annotations

CHECKLIST: dict[str, str] = {
    "P0.1.a": "quantum-ai-engine is ACTIVE",
    "P0.1.b": "quantum-execution is ACTIVE",
    "P0.1.c": "quantum-learning-monitor is ACTIVE",
    "P0.1.d": "quantum-learning-api is ACTIVE",
    "P0.1.e": "no ERROR/TRACEBACK in the AI engine's journal in the last 30 min",
    "P0.1.f": "Redis latency < 50 ms, no backlog",
    "P0.2.a": "the CLM file exists",
    "P0.2.b": "line count >= cadence.min_trades",
    "P0.2.c": "at least 2 symbols",
    "P0.2.d": "at least 1 WIN and 1 LOSS",
    "P0.2.e": "no NaN, null or 0.0 in entry price, exit price or PnL",
    "P0.3.a": "readiness: ready == true",
    "P0.3.b": "readiness: 'calibration' in actions",
    "P0.3.c": "readiness: no retrain / weights_update or similar in actions",
    "P1.1.a": "no model weights are written",
    "P1.1.b": "no ensemble weights are changed",
    "P1.1.c": "no config files are updated",
    "P1.1.d": "no Meta-Agent parameters are changed",
    "P1.1.e": "no restart is triggered",
    "P1.2.a": "calibration reads only CLM data",
    "P1.2.b": "no live market data is used",
    "P1.2.c": "no Redis streams are consumed",
    "P2.1.a": "compute confidence calibration (isotonic)",
    "P2.1.b": "compare pre/post error (MSE/Brier)",
    "P2.1.c": "generate a report (markdown/json)",
    "P2.1.d": "propose parameters, not apply them",
    "P2.2.a": "confidence change at most ±0.15",
    "P2.2.b": "MSE improvement >= 5%",
    "P2.2.c": "no model gets worse",
    "P2.2.d": "all models affected, no selective hidden change",
    "P3.1.a": "report: one-page summary",
    "P3.1.b": "report: before/after metrics",
    "P3.1.c": "report: reliability plot or table",
    "P3.1.d": "report: risk section",
    "P3.1.e": "report: DO NOT APPLY IF section",
    "P3.2.a": "the report has been reviewed",
    "P3.2.b": "all safety bounds are OK",
    "P3.2.c": "decision maker available for 24 h of monitoring",
    "P4.1.a": "the change is stored as a new version",
    "P4.1.b": "the old version is intact in the archive",
    "P4.1.c": "at most one restart, only if hot reload fails",
    "P4.1.d": "a clear version ID in the logs",
    "P4.2.a": "PnL drift within normal",
    "P4.2.b": "win-rate delta < 5%",
    "P4.2.c": "HOLD rate not up > 50% over baseline",
    "P4.2.d": "confidence distribution within 0.50-0.95",
    "S.a": "data < cadence minimum",
    "S.b": "market extreme (flash crash, halt, volume > 300%)",
    "S.c": "execution has errors (last 1 h)",
    "S.d": "operator not available for review and 24 h monitoring",
    "S.e": "Risk-Safety service reports HALT",
    "S.f": "SimpleCLM shows STARVATION (> 2 h without trades)",
}

EXTRA: dict[str, str] = {
    "CLM.parse": "every line is one JSON object",
    "CLM.schema": "every record has the required fields with the right types and vocabularies",
    "CLM.confidence": "confidences are numbers in [0, 1]",
    "CLM.duplicates": "no record delivered twice",
    "CLM.constant_confidence": "confidence varies (something to calibrate)",
    "CLM.pnl_sign": "PnL sign agrees with side and price move",
    "CLM.flat_price": "entry price differs from exit price",
    "CLM.timestamps": "timestamps parse, are not in the future and never go backwards",
    "CLM.placeholders": "no placeholder values (model_id *_None, exit_reason unknown, position_size 0)",
    "CLM.models": "every model's prediction is present on every record that carries predictions",
}

KNOWN: dict[str, str] = {**CHECKLIST, **EXTRA}


def unknown_ids(ids: list[str] | tuple[str, ...]) -> list[str]:
    return [i for i in ids if i not in KNOWN]
