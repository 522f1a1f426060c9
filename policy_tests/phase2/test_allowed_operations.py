"""Checklist 2.1 — calibration may only calibrate, compare, report and propose; all else is a violation.

These tests read ``proposal.json`` itself (not only the parsed object), so a key that the library would
ignore — a weight, a config, a record of something applied — is still caught.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from calpolicy.calibrate.proposal import OPERATIONS, Proposal
from calpolicy.files.strict_json import parse_json

pytestmark = pytest.mark.proposal

TOP_LEVEL = {
    "schema", "method", "band_method", "operations", "applied", "inputs", "data_models", "seed",
    "split", "windows", "thresholds", "disagreement_rule", "models",
}  # fmt: skip
FORBIDDEN = re.compile(
    r"weight|hold_bias|meta_agent|restart|retrain|deploy|approved|config_file|path_written", re.IGNORECASE
)


def _keys(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        out = []
        for key, value in node.items():
            out.append(f"{prefix}{key}")
            out.extend(_keys(value, f"{prefix}{key}."))
        return out
    if isinstance(node, list):
        return [k for item in node for k in _keys(item, prefix)]
    return []


def _finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


@pytest.mark.control("P2.1.a")
def test_computes_isotonic_calibration_maps(proposal: Proposal) -> None:
    """Every model's proposal is an isotonic confidence map: increasing x/y knots over [0, 1]."""
    assert proposal.method == "isotonic"
    assert proposal.models, "the proposal holds no model at all"
    for name, result in proposal.models.items():
        assert len(result.x) >= 2, f"{name}: no usable map"
        assert len(result.x) == len(result.y), f"{name}: x and y differ in length"
        assert all(b > a for a, b in zip(result.x, result.x[1:], strict=False)), f"{name}: x not increasing"
        assert all(b >= a for a, b in zip(result.y, result.y[1:], strict=False)), f"{name}: map decreases"


@pytest.mark.control("P2.1.b")
def test_compares_error_before_and_after(proposal: Proposal) -> None:
    """Brier (MSE) before and after, on the held-out most recent trades, is reported for every model."""
    missing = [
        f"{name} ({result.reason or 'no Brier scores'})"
        for name, result in proposal.models.items()
        if not all(_finite(v) for v in (result.brier_before, result.brier_after))
    ]
    assert not missing, "no before/after comparison for: " + ", ".join(missing)


@pytest.mark.control("P2.1.c")
def test_generates_a_json_report(proposal_json: str, proposal: Proposal) -> None:
    """proposal.json is standard JSON (no NaN), and re-rendering the parsed proposal changes nothing."""
    parse_json(proposal_json, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))
    assert parse_json(Proposal.from_json(proposal.to_json()).to_json()) == parse_json(proposal_json)


@pytest.mark.control("P2.1.d")
def test_proposes_and_applies_nothing(proposal_raw: dict[str, Any]) -> None:
    """Only maps and metrics: not applied, no weights, no engine config, no other operation."""
    assert proposal_raw.get("applied") is False, "the proposal claims to have been applied"
    odd = sorted(set(proposal_raw) ^ TOP_LEVEL)
    assert not odd, f"unexpected or missing top-level keys: {odd}"
    assert set(proposal_raw.get("operations", [])) <= set(OPERATIONS), "an operation outside checklist 2.1"
    bad = [key for key in _keys(proposal_raw) if FORBIDDEN.search(key.rsplit(".", 1)[-1])]
    assert not bad, f"the proposal carries forbidden content: {bad}"
