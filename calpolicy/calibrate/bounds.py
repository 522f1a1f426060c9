"""The hard safety bounds of checklist 2.2 as pure functions on a ``Proposal``.

Each bound answers with findings (one per model where it is per model) so the reviewer sees *which*
model broke *which* bound and by how much. Too little data is a plain STOP ("insufficient evidence"),
never a pass: a gate that cannot tell is a gate that says no. The thresholds come from the config given
here, not from the proposal, so a proposal made with a looser config cannot vouch for itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calpolicy.calibrate.models import ENSEMBLE, ProposalError, extract
from calpolicy.calibrate.proposal import ModelResult, Proposal, canonical
from calpolicy.calibrate.stability import _margin, judged_symbols, problems
from calpolicy.clm.reader import TradeLog
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.decisions import BAND_TOLERANCE, improves_enough, interval_above_zero, within_band
from calpolicy.vocabulary.verdict import Finding, Verdict
from calpolicy.vocabulary.waivers import apply_waivers

GRID_POINTS = 10_001
TOLERANCE = BAND_TOLERANCE


def check_bounds(proposal: Proposal, config: Config, log: TradeLog | None = None) -> Verdict:
    """P2.2.a–d on ``proposal``; with the analysed ``log`` also check the band at every data point
    and that the proposal was made from exactly these bytes."""
    settings = config.calibration
    findings: list[Finding] = []
    data_points = _data_points(proposal, log, findings)
    ordered = [proposal.models[name] for name in canonical(proposal.models)]
    for result in ordered:
        band = band_finding(result, settings.max_confidence_change, data_points.get(result.name))
        if result.name == ENSEMBLE and band.status == "pass":
            band = watch_range_finding(result, config.watch.confidence_range, band)
        findings.append(band)
    min_trades = settings.min_trades_for_decision
    alpha = 1.0 - settings.improvement_confidence
    findings.append(
        improvement_finding(
            proposal, settings.min_improvement, min_trades, settings.improvement_rule, settings.improvement_confidence
        )
    )
    for result in ordered:
        findings.append(degradation_finding(result, settings.max_degradation, min_trades, alpha))
    findings.append(coverage_finding(proposal, log))
    return apply_waivers(Verdict(tuple(findings)), config.waivers)


def _data_points(proposal: Proposal, log: TradeLog | None, findings: list[Finding]) -> dict[str, np.ndarray]:
    if log is None:
        return {}
    try:
        return {name: sample.confidence for name, sample in extract(log).items()}
    except ProposalError as error:
        message = f"could not read the data points to check the band at: {error}"
        findings.append(Finding("P2.2.a", "error", message))
        return {}


def band_finding(result: ModelResult, band: float, data: np.ndarray | None = None) -> Finding:
    """P2.2.a: the map is a valid increasing map on [0, 1] and never moves a confidence by more than ``band``.

    The map is linear between its knots, so checking the knots proves the bound for every input; the
    dense grid and the data points are checked as well so the claim does not rest on that argument alone.
    """
    name = result.name
    x = np.asarray(result.x, dtype=np.float64)
    y = np.asarray(result.y, dtype=np.float64)
    evidence: dict[str, Any] = {"model": name, "band": band, "knots": len(x)}
    problems = []
    if len(x) < 2 or len(x) != len(y) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        problems.append("the map is not a finite list of at least two (x, y) knots")
    else:
        if not np.all(np.diff(x) > 0):
            problems.append("map knots x are not strictly increasing")
        if x[0] != 0.0 or x[-1] != 1.0:
            problems.append(f"map covers [{x[0]}, {x[-1]}], not the whole of [0, 1]")
        if np.any(np.diff(y) < 0):
            problems.append("the map is not non-decreasing (a higher confidence would map lower)")
        if np.any((y < 0.0) | (y > 1.0)):
            problems.append("the map leaves [0, 1]")
    if problems:
        return Finding("P2.2.a", "fail", f"{name}: " + "; ".join(problems), evidence)
    points = [np.linspace(0.0, 1.0, GRID_POINTS), x]
    if data is not None and len(data):
        points.append(np.asarray(data, dtype=np.float64))
        evidence["data_points"] = len(data)
    where = np.concatenate(points)
    change = np.abs(np.interp(where, x, y) - where)
    worst = int(np.argmax(change))
    evidence.update(max_change=float(change[worst]), at_confidence=float(where[worst]))
    if not within_band(float(change[worst]), band):
        return Finding(
            "P2.2.a",
            "fail",
            f"{name}: the map moves confidence {where[worst]:.4f} by {change[worst]:.4f}, more than ±{band}",
            evidence,
        )
    text = f"{name}: every confidence in [0, 1] moves by at most {change[worst]:.4f} (±{band})"
    return Finding("P2.2.a", "pass", text, evidence)


def _insufficient(result: ModelResult, min_trades: int) -> str | None:
    if result.status != "ok":
        return result.reason or "the evidence could not be computed"
    if result.n_evaluated < min_trades:
        return f"only {result.n_evaluated} held-out trades, below the {min_trades} needed to decide"
    if result.brier_before is None or result.brier_after is None:
        return "the held-out Brier scores could not be computed"
    return None


RULE_TEXT = {
    "lower_bound": "rule lower_bound: the one-sided {level:.0%} lower bound of the improvement must reach {min:.0%}",
    "point_estimate_and_positive_interval": (
        "rule point_estimate_and_positive_interval (engine v1, chosen in the config): the point estimate must "
        "reach {min:.0%} and the 95% interval of the per-trade gain must lie above 0"
    ),
}


def improvement_finding(
    proposal: Proposal,
    min_improvement: float,
    min_trades: int,
    rule: str = "lower_bound",
    level: float = 0.95,
) -> Finding:
    """P2.2.b: the ensemble's held-out Brier improves by at least ``min_improvement`` — as evidence.

    Default rule: the one-sided ``level`` lower confidence bound of the relative improvement is at least
    ``min_improvement``, so a map whose true gain is below the checklist's 5% gets GO in at most 5% of
    runs. The v1 reading (point estimate ≥ 5% and an interval above 0) lets such a map through far more
    often; it is available only as an explicit config choice, and the finding names the rule that decided.
    """
    result = proposal.models.get(ENSEMBLE)
    if result is None:
        return Finding("P2.2.b", "fail", "the proposal has no ensemble result to judge")
    rule_text = RULE_TEXT[rule].format(level=level, min=min_improvement)
    evidence = {
        "model": ENSEMBLE,
        "rule": rule,
        "confidence_level": level,
        "n_evaluated": result.n_evaluated,
        "brier_before": result.brier_before,
        "brier_after": result.brier_after,
        "improvement": result.improvement,
        "improvement_lower": result.improvement_lower,
        "improvement_interval": None if result.improvement_interval is None else list(result.improvement_interval),
        "interval": None if result.interval is None else list(result.interval),
        "min_improvement": min_improvement,
    }
    short = _insufficient(result, min_trades)
    if short:
        return Finding("P2.2.b", "fail", f"insufficient evidence — STOP: {short}", evidence)
    improvement = result.improvement if result.improvement is not None else float("-inf")
    text = (
        f"held-out Brier {result.brier_before:.4f} → {result.brier_after:.4f} on the latest "
        f"{result.n_evaluated} trades ({improvement:+.1%}"
    )
    if rule == "lower_bound":
        lower = result.improvement_lower if result.improvement_lower is not None else float("-inf")
        text += f", one-sided {level:.0%} lower bound {lower:+.1%}); {rule_text}"
        if not improves_enough(lower, min_improvement):
            return Finding("P2.2.b", "fail", f"{text}: not shown", evidence)
        return Finding("P2.2.b", "pass", text, evidence)
    lo, hi = result.interval if result.interval is not None else (float("-inf"), float("nan"))
    text += f"; 95% interval of the per-trade gain {lo:+.5f} … {hi:+.5f}); {rule_text}"
    if not improves_enough(improvement, min_improvement):
        return Finding("P2.2.b", "fail", f"{text}: below the required {min_improvement:.0%}", evidence)
    if not interval_above_zero(lo):
        return Finding("P2.2.b", "fail", f"{text}: the interval reaches zero, it may be noise", evidence)
    return Finding("P2.2.b", "pass", text, evidence)


def watch_range_finding(result: ModelResult, confidence_range: tuple[float, float], band: Finding) -> Finding:
    """P2.2.a, checked for the watch (P4.2.d) at proposal time: the map keeps the acted-on confidences'
    mean, 5th and 95th percentile inside ``[watch] confidence_range`` wherever the raw ones were inside.

    The watch rolls back a map whose outputs leave that range, so such a map is a STOP here, never a GO
    the watch will undo (issue 24: a correct map for an under-confident model was rolled back every day).
    A statistic the raw confidences already had outside the range may stay outside, but not move further.
    """
    low, high = confidence_range
    evidence = {**band.evidence, "watch_range": result.watch_range, "watch_confidence_range": [low, high]}
    if result.watch_range is None:
        if result.decision == "fitted" and not _is_identity(result):
            text = f"{result.name}: no held-out confidences to check against the watch's range [{low:g}, {high:g}]"
            return Finding("P2.2.a", "fail", text, evidence)
        return Finding("P2.2.a", band.status, band.message, evidence)
    raw, mapped = result.watch_range["raw"], result.watch_range["mapped"]
    breaches = []
    for key in ("mean", "p5", "p95"):
        before, after = raw[key], mapped[key]
        inside_before = low <= before <= high
        distance_before = max(low - before, before - high, 0.0)
        distance_after = max(low - after, after - high, 0.0)
        if (inside_before and not low <= after <= high) or distance_after > distance_before + TOLERANCE:
            breaches.append(f"{key} {before:.3f} → {after:.3f}")
    shown = ", ".join(f"{k} {raw[k]:.3f} → {mapped[k]:.3f}" for k in ("mean", "p5", "p95"))
    if breaches:
        text = (
            f"{result.name}: the map takes the held-out confidences outside the watch's range [{low:g}, {high:g}] "
            f"({'; '.join(breaches)}); the watch (P4.2.d) would roll it back — widen [watch] confidence_range "
            "in a reviewed config change if this map is wanted"
        )
        return Finding("P2.2.a", "fail", text, evidence)
    text = f"{band.message}; held-out confidences stay where the watch allows [{low:g}, {high:g}]: {shown}"
    return Finding("P2.2.a", "pass", text, evidence)


def non_inferior(lower: float, max_degradation: float) -> bool:
    """P2.2.c "no model worse", shown: the gain's one-sided lower bound reaches −``max_degradation``.

    With the default 0 the bound must be at least 0: the data rule out a loss at the chosen level.
    """
    return lower >= -max_degradation


def _is_identity(result: ModelResult) -> bool:
    return tuple(result.x) == (0.0, 1.0) and tuple(result.y) == (0.0, 1.0)


def degradation_finding(result: ModelResult, max_degradation: float, min_trades: int, alpha: float = 0.05) -> Finding:
    """P2.2.c: no model gets worse — shown, not assumed from a point estimate (issue 24).

    - A map that ships (every fitted map, the ensemble's included) needs its one-sided lower bound of the
      relative gain to reach ``−max_degradation`` (non-inferiority) on the whole holdout and on every
      symbol with ``min_trades`` held-out trades, and its gain must hold at the present: no significant
      decline across the holdout and not worse on its newest block (``stability.problems``).
    - A model that keeps the identity cannot be worse: it passes, with the reason shown. The map is checked
      to *be* the identity; a proposal's word for it is not enough.
    - A refused model (calls that cannot be judged) or a refused ensemble is STOP.
    """
    evidence: dict[str, Any] = {
        "model": result.name,
        "decision": result.decision,
        "n_evaluated": result.n_evaluated,
        "brier_before": result.brier_before,
        "brier_after": result.brier_after,
        "improvement_lower": result.improvement_lower,
        "max_degradation": max_degradation,
    }
    if result.decision == "identity" and result.name != ENSEMBLE:
        if not _is_identity(result):
            text = f"{result.name}: said to keep the identity but its map is not the identity"
            return Finding("P2.2.c", "fail", text, evidence)
        evidence["reason"] = result.decision_reason
        text = f"{result.name}: keeps the identity (raw confidence, cannot be worse): {result.decision_reason}"
        return Finding("P2.2.c", "pass", text, evidence)
    short = _insufficient(result, min_trades)
    if short:
        return Finding("P2.2.c", "fail", f"{result.name}: insufficient evidence — STOP: {short}", evidence)
    before, after = float(result.brier_before), float(result.brier_after)  # type: ignore[arg-type]
    lower = result.improvement_lower if result.improvement_lower is not None else float("-inf")
    text = f"{result.name}: held-out Brier {before:.4f} → {after:.4f}, one-sided lower bound of the gain {lower:+.1%}"
    if not non_inferior(lower, max_degradation):
        text += f": not shown no worse (must reach {_margin(max_degradation)})"
        return Finding("P2.2.c", "fail", text, evidence)
    if result.stability is None:  # fail closed: a shipped map needs its evidence over time and per symbol
        return Finding("P2.2.c", "fail", f"{text}; no evidence over time or per symbol — STOP", evidence)
    found = [reason for _, reason in problems(result.stability, min_trades, max_degradation, alpha)]
    evidence["symbols"] = result.stability.get("symbols")
    if found:
        return Finding("P2.2.c", "fail", f"{text}; " + "; ".join(found), evidence)
    judged = len(judged_symbols(result.stability, min_trades))
    where = f", on each of {judged} symbol(s) with ≥ {min_trades} held-out trades" if judged else ""
    now = ", at the present (no decline across the holdout, newest block not worse)"
    return Finding("P2.2.c", "pass", f"{text}: not worse{where}{now}", evidence)


def coverage_finding(proposal: Proposal, log: TradeLog | None = None) -> Finding:
    """P2.2.d: one map for every model in the data plus the ensemble — no model left out, none added."""
    expected = {ENSEMBLE, *proposal.data_models}
    if log is not None:
        expected |= set(log.models)
    present = set(proposal.models)
    evidence: dict[str, Any] = {"expected": sorted(expected), "proposed": sorted(present)}
    problems = []
    if expected - present:
        problems.append(f"no map for {', '.join(sorted(expected - present))}")
    if present - expected:
        problems.append(f"maps for models not in the data: {', '.join(sorted(present - expected))}")
    if log is not None and log.sha256 != proposal.inputs.get("sha256"):
        problems.append("the proposal was not made from this CLM file (sha256 differs)")
        evidence["sha256"] = {"proposal": proposal.inputs.get("sha256"), "log": log.sha256}
    if problems:
        return Finding("P2.2.d", "fail", "; ".join(problems) + " — all models or none", evidence)
    names = ", ".join(sorted(present))
    kept = sorted(name for name, r in proposal.models.items() if r.decision == "identity")
    evidence["identity"] = kept
    text = f"all {len(present)} models covered: {names}"
    if kept:
        text += f"; shown as a decision, not hidden: {', '.join(kept)} keep{'s' if len(kept) == 1 else ''} the identity"
    return Finding("P2.2.d", "pass", text, evidence)
