"""The review report as one plain dict, in the issue's order; report.md and report.json both render it.

Building the content once and rendering it twice is what makes "the same content, one for people and one
for machines" true by construction. Every number is read from the proposal (never recomputed), so the
phase 3 policy test can hold the report to the proposal's figures. Fields that a newer calibration
engine adds to a model result (a lower bound, a holdout, a drift statistic) are picked up by name and
shown, so the report never hides evidence it does not know about yet.

This module stays whole although long (~690 lines): it is the report's text, section by section in the
checklist's order (P3.1.a-e), which report.md and report.json both render and a reviewer reads top to bottom.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from calpolicy.vocabulary.verdict import Verdict

SCHEMA = "calpolicy.report/1"
READY = "ready for review"
DO_NOT_APPLY = "DO NOT APPLY"
SECTION_TITLES = {
    "summary": "Summary",
    "metrics": "Before/after metrics (out of sample)",
    "reliability": "Reliability",
    "risks": "Risks",
    "do_not_apply_if": "DO NOT APPLY IF …",
}
SECTION_CONTROLS = {
    "summary": "P3.1.a",
    "metrics": "P3.1.b",
    "reliability": "P3.1.c",
    "risks": "P3.1.d",
    "do_not_apply_if": "P3.1.e",
}
# ModelResult fields the report shows in named columns; any other scalar field is listed as "more".
_KNOWN_FIELDS = {
    "name", "n", "n_evaluated", "wins", "excluded", "status", "reason", "brier_before", "brier_after",
    "brier_in_sample", "improvement", "mean_difference", "interval", "interval_method",
    "spiegelhalter_z_before", "spiegelhalter_z", "reliability_before", "reliability", "x", "y", "max_change",
    "decision", "decision_reason", "fitted", "stability",  # shown as "what ships" and the per-symbol table
}  # fmt: skip
_BALANCE_LOW, _BALANCE_HIGH = 0.2, 0.8


def build_report(proposal: Any, bounds: Verdict, data: Verdict, manifest: dict[str, Any]) -> dict[str, Any]:
    """The report's content: verdict first, then the five P3.1 sections in the checklist's order."""
    ready, reasons = _decision(bounds, data, manifest)
    models = [proposal.models[name] for name in _ordered(proposal.models)]
    thresholds = dict(getattr(proposal, "thresholds", {}) or {})
    timing = _timing(data, proposal)
    report = {
        "schema": SCHEMA,
        "job_id": manifest.get("job_id"),
        "verdict": READY if ready else DO_NOT_APPLY,
        "headline": _headline(ready, manifest.get("job_id"), reasons),
        "reasons": reasons,
        "summary": _summary(proposal, models, bounds, manifest, timing),
        "metrics": _metrics(proposal, models, bounds, thresholds),
        "reliability": _reliability(models),
        "risks": _risks(proposal, models, data, thresholds, timing),
        "do_not_apply_if": _do_not_apply_if(proposal, bounds, data, manifest, timing, ready),
    }
    return _clean(report)


# ------------------------------------------------------------------------------------------- decision


def _decision(bounds: Verdict, data: Verdict, manifest: dict[str, Any]) -> tuple[bool, list[str]]:
    reasons = [f"{f.id} {f.status.upper()}: {f.message}" for f in (*data.failures, *bounds.failures)]
    if not bounds.findings:
        reasons.append("no safety-bound result at all: the bounds were not checked")
    if manifest.get("verdict") == "STOP" and not reasons:
        reasons.append(f"the job's policy run said STOP (exit code {manifest.get('exit_code')})")
    return not reasons, reasons


def _headline(ready: bool, job_id: Any, reasons: list[str], cut: bool = True) -> str:
    """The one-line verdict; ``cut=False`` keeps the first reason whole (the HTML verdict block)."""
    if ready:
        return f"Ready for review — calibration job {job_id}: every data check and safety bound passed."
    first = (_short(reasons[0]) if cut else reasons[0]) if reasons else "a check failed"
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return f"DO NOT APPLY — calibration job {job_id}: {first}{more}"


def full_headline(report: dict[str, Any]) -> str:
    """report.json's headline with nothing cut: a reviewer signs the whole reason, not its first 160 characters."""
    reasons = [str(r) for r in report.get("reasons") or []]
    return _headline(report.get("verdict") != DO_NOT_APPLY, report.get("job_id"), reasons, cut=False)


# -------------------------------------------------------------------------------------------- summary


def _summary(
    proposal: Any, models: list[Any], bounds: Verdict, manifest: dict[str, Any], timing: dict[str, Any]
) -> dict[str, Any]:
    inputs = dict(getattr(proposal, "inputs", {}) or {})
    clm = dict(manifest.get("clm") or {})
    largest = max(models, key=lambda m: m.max_change, default=None)
    failing = failing_bounds_by_model(bounds)
    band = _band(proposal)
    return {
        "data": {
            "trades": inputs.get("records"),
            "lines": clm.get("lines", inputs.get("line_count")),
            "bytes": clm.get("bytes"),
            "path": clm.get("path", inputs.get("path")),
            "sha256": clm.get("sha256", inputs.get("sha256")),
            "last_trade": timing.get("last_trade"),
            "span_days": timing.get("span_days"),
        },
        "job": {
            "operator": manifest.get("operator"),
            "on_call_until": manifest.get("on_call_until"),
            "created_at": manifest.get("created_at"),
            "config_digest": manifest.get("config_digest"),
            "calpolicy_version": manifest.get("calpolicy_version"),
        },
        "models": [
            {
                "model": m.name,
                "n": m.n,
                "n_evaluated": _get(m, "n_evaluated"),
                "status": model_status(m, failing.get(m.name, [])),
                "brier_before": m.brier_before,
                "brier_after": m.brier_after,
                "improvement": m.improvement,
                "max_change": m.max_change,
            }
            for m in models
        ],
        "largest_change": None
        if largest is None
        else {"model": largest.name, "max_change": largest.max_change, "at": _where_largest(largest)},
        "bounds": _bound_lines(bounds),
        "band_binding": _band_binding(models, band),
    }


def failing_bounds_by_model(bounds: Verdict) -> dict[str, list[str]]:
    """Each model's failing (or uncheckable) safety-bound items, from the findings' ``model`` evidence."""
    failing: dict[str, list[str]] = {}
    for finding in bounds.findings:
        model = finding.evidence.get("model") if isinstance(finding.evidence, dict) else None
        if finding.status in ("fail", "error") and isinstance(model, str):
            ids = failing.setdefault(model, [])
            if finding.id not in ids:
                ids.append(finding.id)
    return failing


def model_status(result: Any, failing_ids: list[str]) -> str:
    """The summary's status of a model: the engine's own (``ok`` or why not), but a model whose bound
    items failed is never shown as ``ok`` — in a STOP job the table must say which model stopped it."""
    if result.status != "ok":
        return str(result.status)
    if failing_ids:
        return f"STOP: {', '.join(failing_ids)} failed"
    return "ok"


def _band(proposal: Any) -> float:
    thresholds = dict(getattr(proposal, "thresholds", {}) or {})
    return float(thresholds.get("max_confidence_change", 0.15))


BINDING_TOLERANCE = 1e-6  # a max change within this of the band sits on it (the fit clipped it there)


def _band_binding(models: list[Any], band: float) -> dict[str, Any] | None:
    """The models whose map moves some confidence by the whole band: the bound, not the data, set the map.

    Then the shipped map corrects only part of the miscalibration the data shows, and the calibrated
    out-of-sample curve stays off the diagonal by the rest: a reviewer must know the map is a compromise.
    """
    binding = [m.name for m in models if m.max_change is not None and m.max_change >= band - BINDING_TOLERANCE]
    if not binding:
        return None
    return {
        "band": band,
        "models": binding,
        "text": (
            f"the ±{band:g} band is binding for {', '.join(binding)} (max change {band:.3f} = the band): the "
            "miscalibration is larger than the band allows, so the shipped map corrects only part of it, and "
            "the calibrated out-of-sample curve is still off the diagonal (see the reliability plot)"
        ),
    }


def _bound_lines(bounds: Verdict) -> list[dict[str, Any]]:
    """One line per bound: its worst status, and the failing messages (or how many passed)."""
    lines = []
    for control in dict.fromkeys(f.id for f in bounds.findings):
        found = bounds.by_id(control)
        bad = [f for f in found if f.status in ("fail", "error")]
        status = "fail" if any(f.status == "fail" for f in bad) else ("error" if bad else "pass")
        if bad:
            message = "; ".join(f.message for f in bad)
        elif len(found) == 1:
            message = found[0].message
        else:
            message = f"all {len(found)} checks passed (one per model)"
        lines.append({"id": control, "status": status, "message": message})
    return lines


def _where_largest(result: Any) -> float | None:
    x = np.asarray(result.x, dtype=np.float64)
    y = np.asarray(result.y, dtype=np.float64)
    if len(x) == 0:
        return None
    return float(x[int(np.argmax(np.abs(y - x)))])


def _finding_row(finding: Any) -> dict[str, Any]:
    return {"id": finding.id, "status": finding.status, "message": finding.message}


# -------------------------------------------------------------------------------------------- metrics


def _metrics(proposal: Any, models: list[Any], bounds: Verdict, thresholds: dict[str, Any]) -> dict[str, Any]:
    deciding = [_finding_row(f) for f in bounds.by_id("P2.2.b")]
    rule = getattr(proposal, "decision_rule", None) or thresholds.get("decision_rule")
    return {
        "evaluation": {
            "split": getattr(proposal, "split", None),
            "folds": getattr(proposal, "folds", None),
            "description": _evaluation_text(proposal),
            "min_improvement": thresholds.get("min_improvement"),
            "max_degradation": thresholds.get("max_degradation"),
            "rule": rule
            or (
                f"P2.2.b: the ensemble's out-of-sample relative Brier improvement must be at least "
                f"{_pct(thresholds.get('min_improvement'))}; P2.2.c: no model's Brier may get worse"
            ),
            "deciding_findings": deciding,
        },
        "bound_findings": [_finding_row(f) for f in bounds.findings],
        "models": [_model_metrics(m) for m in models],
        "map_decisions": [_map_decision(m) for m in models],
    }


def _map_decision(m: Any) -> dict[str, Any]:
    """What ships for one model, plainly: its fitted map, or the identity and why (issue 24, P2.2.c/d)."""
    decision = _get(m, "decision") or "fitted"
    fitted = _get(m, "fitted") or {}
    return {
        "model": m.name,
        "decision": decision,
        "ships": "the fitted map" if decision == "fitted" else "the IDENTITY (raw confidence unchanged)",
        "reason": _get(m, "decision_reason"),
        "fitted_improvement": fitted.get("improvement"),
        "fitted_improvement_lower": fitted.get("improvement_lower"),
    }


def _model_metrics(m: Any) -> dict[str, Any]:
    """The contract's fields by name; the others the current engine has are read defensively (``_get``)."""
    interval = _get(m, "interval")
    row = {
        "model": m.name,
        "status": m.status,
        "reason": m.reason,
        "n": m.n,
        "n_evaluated": _get(m, "n_evaluated"),
        "wins": _get(m, "wins"),
        "brier_before": m.brier_before,
        "brier_after": m.brier_after,
        "improvement": m.improvement,
        "mean_difference": _get(m, "mean_difference"),
        "interval": None if interval is None else list(interval),
        "interval_method": _get(m, "interval_method"),
        "spiegelhalter_z_before": _get(m, "spiegelhalter_z_before"),
        "spiegelhalter_z_after": _get(m, "spiegelhalter_z"),
        "max_change": m.max_change,
        "excluded": dict(_get(m, "excluded") or {}),
    }
    row["more"] = _extra_fields(m)
    return row


def _get(result: Any, name: str) -> Any:
    return getattr(result, name, None)


def _extra_fields(result: Any) -> dict[str, Any]:
    """Scalar (or small) fields a newer engine added: shown under their own names, never dropped."""
    if not dataclasses.is_dataclass(result):
        return {}
    extra = {}
    for field in dataclasses.fields(result):
        if field.name in _KNOWN_FIELDS:
            continue
        value = getattr(result, field.name, None)
        if isinstance(value, (str, int, float, bool)) or value is None:
            extra[field.name] = value
        elif isinstance(value, (tuple, list)) and len(value) <= 4:
            extra[field.name] = list(value)
        elif isinstance(value, dict) and len(value) <= 8:
            extra[field.name] = dict(value)
    return extra


# ---------------------------------------------------------------------------------------- reliability


def _reliability(models: list[Any]) -> dict[str, Any]:
    tables = []
    for m in models:
        knots_x = np.asarray(m.x, dtype=np.float64)
        knots_y = np.asarray(m.y, dtype=np.float64)
        raw_bins = _get(m, "reliability_before")
        rows = [
            {
                "confidence_lo": b["confidence_lo"],
                "confidence_hi": b["confidence_hi"],
                "n": b["n"],
                "mean_confidence": b["mean_confidence"],
                "win_rate": b["win_rate"],
                "wilson_lo": b["wilson_lo"],
                "wilson_hi": b["wilson_hi"],
                "calibrated": float(np.clip(np.interp(b["mean_confidence"], knots_x, knots_y), 0.0, 1.0)),
            }
            for b in (raw_bins or [])
        ]
        tables.append({"model": m.name, "bins": rows, "calibrated_bins": list(_get(m, "reliability") or [])})
    return {"plot": "reliability.png", "tables": tables, "by_symbol": _by_symbol(models)}


def _by_symbol(models: list[Any]) -> list[dict[str, Any]]:
    """Per symbol, for each fitted map: reliability in the large (mean confidence before/after against the
    win rate) and the held-out gain with its one-sided lower bound — the evidence of "no symbol worse"."""
    rows = []
    for m in models:
        stability = _get(m, "stability") or {}
        if (_get(m, "decision") or "fitted") != "fitted":
            continue
        for row in stability.get("symbols") or []:
            rows.append(
                {
                    "model": m.name,
                    "symbol": row["symbol"],
                    "n": row["n"],
                    "mean_confidence_before": row.get("mean_confidence_before"),
                    "mean_confidence_after": row.get("mean_confidence_after"),
                    "win_rate": row.get("win_rate"),
                    "brier_before": row.get("brier_before"),
                    "brier_after": row.get("brier_after"),
                    "improvement": row.get("improvement"),
                    "improvement_lower": row.get("improvement_lower"),
                }
            )
    return rows


# ---------------------------------------------------------------------------------------------- risks


def _risks(
    proposal: Any, models: list[Any], data: Verdict, thresholds: dict[str, Any], timing: dict[str, Any]
) -> list[dict[str, Any]]:
    risks: list[dict[str, Any]] = []
    min_n = thresholds.get("min_trades_for_decision")
    for m in models:
        if m.status != "ok":
            risks.append({"kind": "small n", "text": f"{m.name}: no decision possible — {m.reason}"})
        elif min_n and _decision_n(m) < min_n:
            text = f"{m.name}: only {_decision_n(m)} held-out trades (< {min_n} for a decision)"
            risks.append({"kind": "small n", "text": text})
    smallest = min(models, key=_decision_n, default=None)
    if smallest is not None:
        n = _decision_n(smallest)
        of_all = f" (of {smallest.n} in all)" if n != smallest.n else ""
        risks.append(
            {
                "kind": "small n",
                "text": f"the decision rests on held-out trades; the smallest held-out sample is {smallest.name} "
                f"with {n} trades{of_all}; a 95% interval on a win rate from {n} trades is about "
                f"±{_pct(1.96 * 0.5 / max(n, 1) ** 0.5)} wide",
            }
        )
    binding = _band_binding(models, _band(proposal))
    if binding is not None:
        risks.append({"kind": "bound binding", "text": binding["text"]})
    span = timing.get("span_days")
    risks.append(
        {
            "kind": "time span",
            "text": (
                f"the data covers {span:.1f} days up to the last trade at {timing.get('last_trade')}; "
                "anything the market did not do in that window is untested"
            )
            if span is not None
            else "the time span of the data is unknown (no timestamp evidence from the data gate)",
        }
    )
    for m in models:
        if m.n and _get(m, "wins") is not None:
            rate = m.wins / m.n
            if not _BALANCE_LOW <= rate <= _BALANCE_HIGH:
                risks.append(
                    {"kind": "class balance", "text": f"{m.name}: win rate {_pct(rate)} is lopsided ({m.wins}/{m.n})"}
                )
    ensemble = models[0] if models else None
    if ensemble is not None and ensemble.n and _get(ensemble, "wins") is not None:
        risks.append(
            {
                "kind": "class balance",
                "text": f"{ensemble.name}: {ensemble.wins} wins / {ensemble.n - ensemble.wins} losses "
                f"(win rate {_pct(ensemble.wins / ensemble.n)})",
            }
        )
    risks.extend(_drift_risks(proposal, models))
    for finding in data.findings:
        if finding.status == "waived" or finding.evidence.get("warning"):
            risks.append({"kind": "data warning", "text": f"{finding.id} {finding.status}: {finding.message}"})
    risks.append({"kind": "out of sample", "text": _oos_text(proposal)})
    return risks


def _decision_n(result: Any) -> int:
    """The trades the decision was made on: the held-out ones when the engine says so, else all of them."""
    held_out = _get(result, "n_evaluated")
    return int(held_out) if isinstance(held_out, int) and held_out >= 0 else int(result.n)


def _drift_risks(proposal: Any, models: list[Any]) -> list[dict[str, Any]]:
    """Drift between early and recent data, from whatever drift fields the engine provides.

    The engine's drift check (``calibration_drift``) becomes one risk with its conclusion first and a
    table of 4-significant-digit figures (``table``); any other drift field is shown by name, its numbers
    rounded the same way, never cut.
    """
    found: list[dict[str, Any]] = []
    rows = []
    for m in models:
        for name, value in _extra_fields(m).items():
            if "drift" not in name or value in (None, {}, []):
                continue
            row = drift_row(m.name, value) if isinstance(value, dict) else None
            if row is not None:
                rows.append(row)
            else:
                found.append({"kind": "drift", "text": f"{m.name}: {name} = {readable(value)}"})
    if rows:
        significant = [r["model"] for r in rows if r["significant"]]
        alpha = rows[0]["alpha"]
        head = (
            f"SIGNIFICANT drift between the earliest and the latest trades for {', '.join(significant)}: a map "
            "fitted on the older regime can make the present worse"
            if significant
            else "no significant drift between the earliest and the latest trades for any model"
        )
        alpha_text = f" at α = {sig(alpha)}" if alpha is not None else ""
        found.insert(0, {"kind": "drift", "text": f"{head}{alpha_text} (table below)", "table": rows})
    proposal_drift = getattr(proposal, "drift", None)
    if proposal_drift:
        found.append({"kind": "drift", "text": f"proposal drift: {readable(proposal_drift)}"})
    if not found:
        found.append(
            {
                "kind": "drift",
                "text": "drift between early and recent trades was not measured by this calibration engine; "
                "a map fitted on a regime that has since changed can make the present worse",
            }
        )
    return found


DRIFT_COLUMNS = (
    ("model", "model"),
    ("n_earliest", "n earliest"),
    ("n_latest", "n latest"),
    ("win_rate_earliest", "win rate earliest"),
    ("win_rate_latest", "win rate latest"),
    ("mean_confidence_earliest", "mean conf. earliest"),
    ("mean_confidence_latest", "mean conf. latest"),
    ("p_in_the_large", "p (in the large)"),
    ("p_spiegelhalter", "p (Spiegelhalter)"),
    ("p_value", "p-value"),
    ("significant", "significant"),
)


def drift_row(model: str, drift: dict[str, Any]) -> dict[str, Any] | None:
    """One table row from ``calibration_drift``'s dict; None when it is not that shape."""
    early, late = drift.get("earliest"), drift.get("latest")
    if not isinstance(early, dict) or not isinstance(late, dict) or "p_value" not in drift:
        return None
    tests = drift.get("tests") if isinstance(drift.get("tests"), dict) else {}
    return {
        "model": model,
        "alpha": drift.get("alpha"),
        "n_earliest": early.get("n"),
        "n_latest": late.get("n"),
        "win_rate_earliest": early.get("win_rate"),
        "win_rate_latest": late.get("win_rate"),
        "mean_confidence_earliest": early.get("mean_confidence"),
        "mean_confidence_latest": late.get("mean_confidence"),
        "p_in_the_large": (tests.get("in_the_large") or {}).get("p_value"),
        "p_spiegelhalter": (tests.get("spiegelhalter") or {}).get("p_value"),
        "p_value": drift.get("p_value"),
        "significant": bool(drift.get("significant")),
    }


def sig(value: Any, digits: int = 4) -> str:
    """A number for a reader: ``digits`` significant digits (0.2943325 → 0.2943, 11.245 → 11.25)."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not np.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}" if value != 0 else "0"
    return str(value)


def readable(value: Any) -> str:
    """Any engine field for a reader, whole: dicts as ``key value`` pairs, numbers to 4 significant digits."""
    if isinstance(value, dict):
        return "; ".join(f"{k} {readable(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(readable(v) for v in value) + "]"
    return sig(value)


def _evaluation_text(proposal: Any) -> str:
    """How the maps were scored, in the words of the windows the proposal recorded."""
    split = getattr(proposal, "split", None)
    windows = getattr(proposal, "windows", None) or {}
    train, holdout = windows.get("train"), windows.get("holdout")
    if split == "forward_holdout" and isinstance(train, dict) and isinstance(holdout, dict):
        return (
            f"forward holdout: maps fitted on {train.get('records')} trades (lines {train.get('first_line')}–"
            f"{train.get('last_line')}), scored on the newest {holdout.get('records')} (lines "
            f"{holdout.get('first_line')}–{holdout.get('last_line')}, {holdout.get('from')} to {holdout.get('to')})"
        )
    folds = getattr(proposal, "folds", None)
    return f"{split or 'not recorded'}" + (f", {folds} folds" if folds else "")


def _oos_text(proposal: Any) -> str:
    split = getattr(proposal, "split", None)
    folds = getattr(proposal, "folds", None)
    if split == "forward_holdout":
        how = (
            "a forward holdout: the maps are fitted on the older trades and scored only on the newest ones, "
            "the present regime"
        )
    elif split == "kfold":
        how = (
            f"random {folds}-fold cross-validation: each trade is scored by a map fitted without it, but past "
            "and future trades are mixed, so a change of regime over time is averaged away"
        )
    elif split:
        how = f"time-ordered evaluation ({split}, {folds} blocks): maps are scored on trades after their fit"
    else:
        how = "the evaluation scheme is not recorded"
    return (
        f"Out-of-sample numbers come from {how}. They bound the sampling noise of this history; they cannot "
        "tell how the map will do after a regime change, on symbols or hours not in the data, or once the "
        "engine itself is retrained."
    )


# ------------------------------------------------------------------------------------ do not apply if


def _do_not_apply_if(
    proposal: Any,
    bounds: Verdict,
    data: Verdict,
    manifest: dict[str, Any],
    timing: dict[str, Any],
    ready: bool,
) -> list[str]:
    items = []
    failed = [f"{f.id} ({f.message})" for f in (*data.failures, *bounds.failures)]
    if failed:
        items.append("a bound or data test failed — it did in THIS job: " + "; ".join(failed))
    else:
        items.append("any bound or data test failed (all passed in this job; re-check that nothing changed)")
    last = timing.get("last_trade")
    items.append(
        f"the market regime changed after the data's last trade ({last or 'time unknown'}): "
        "a crash, a halt, a volume spike or a new symbol set since then"
    )
    clm = dict(manifest.get("clm") or {})
    inputs = dict(getattr(proposal, "inputs", {}) or {})
    items.append(
        f"the CLM log {clm.get('path', inputs.get('path'))} is no longer an extension of the analysed one: "
        f"its first {clm.get('bytes', '?')} bytes ({clm.get('lines', inputs.get('line_count'))} lines) must "
        f"still have sha256 {clm.get('sha256', inputs.get('sha256'))}"
    )
    until = manifest.get("on_call_until")
    items.append(
        f"you cannot watch the system for the next 24 h (the job records {manifest.get('operator') or 'nobody'} "
        f"on call until {until or 'an unknown time'})"
    )
    if until and _on_call_short(manifest):
        items.append(f"— and {until} is less than 24 h after the job was created: it already applies")
    items.append(f"`calpolicy verify {manifest.get('job_id')}` does not exit 0 (the files are not this job's)")
    largest = max(proposal.models.values(), key=lambda m: m.max_change, default=None)
    if largest is not None and largest.max_change > 0:
        items.append(
            f"a confidence shift of up to {largest.max_change:.3f} ({largest.name}) would be surprising to you "
            "for the current market; the map moves confidences by that much"
        )
    if not ready:
        items.insert(0, "THIS JOB SAID STOP: do not apply it at all")
    return items


def _on_call_short(manifest: dict[str, Any]) -> bool:
    try:
        until = _instant(manifest["on_call_until"])
        created = _instant(manifest["created_at"])
    except (KeyError, TypeError, ValueError):
        return False
    return until < created + timedelta(hours=24)


# ---------------------------------------------------------------------------------------------- helpers


def _timing(data: Verdict, proposal: Any) -> dict[str, Any]:
    """The data's span and last trade: from the data gate's evidence when it carries them, else from the
    proposal's own windows. The preflight's passing rows carry no evidence, and the windows are exactly
    the trades the maps were fitted and scored on, so the report never says "unknown" for a run."""
    span = next((f.evidence.get("span_days") for f in data.by_id("S.a") if "span_days" in f.evidence), None)
    last = next((f.evidence.get("last_trade") for f in data.by_id("S.f") if "last_trade" in f.evidence), None)
    windows = [w for w in (getattr(proposal, "windows", None) or {}).values() if isinstance(w, dict)]
    try:
        starts = [datetime.fromisoformat(w["from"]) for w in windows if w.get("from")]
        ends = [datetime.fromisoformat(w["to"]) for w in windows if w.get("to")]
    except (TypeError, ValueError):
        starts, ends = [], []
    if span is None and starts and ends:
        span = round((max(ends) - min(starts)).total_seconds() / 86400, 3)
    if last is None and ends:
        last = max(ends).isoformat()
    return {"span_days": span, "last_trade": last}


def _instant(raw: str) -> datetime:
    moment = datetime.fromisoformat(str(raw))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ordered(names: Any) -> list[str]:
    return sorted(names, key=lambda name: (name != "ensemble", name))


def _pct(value: Any) -> str:
    return "?" if value is None else f"{100 * float(value):.1f}%"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 160 else text[:157] + "…"


def _clean(value: Any) -> Any:
    """JSON-safe all the way down: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
