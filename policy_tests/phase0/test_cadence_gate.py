"""Checklist 0.3 — the learning cadence gate (HARD): READY, calibration offered, nothing with a live effect."""

from __future__ import annotations

import pytest

from calpolicy.plugin import enforce
from calpolicy.preflight.probes.readiness import ReadinessResponse, readiness_findings
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Verdict

pytestmark = pytest.mark.preflight


def _verdict(response: ReadinessResponse, config: Config) -> Verdict:
    return Verdict(tuple(readiness_findings(response, config.readiness)))


@pytest.mark.control("P0.3.a")
def test_cadence_is_ready(readiness_response: ReadinessResponse, calpolicy_config: Config) -> None:
    """P0.3.a: ``ready`` is the JSON boolean true (not "true", not 1, not missing)."""
    enforce(_verdict(readiness_response, calpolicy_config), "P0.3.a")


@pytest.mark.control("P0.3.b")
def test_calibration_is_offered(readiness_response: ReadinessResponse, calpolicy_config: Config) -> None:
    """P0.3.b: the required action (``calibration``) is in ``actions``."""
    enforce(_verdict(readiness_response, calpolicy_config), "P0.3.b")


@pytest.mark.control("P0.3.c")
def test_nothing_beyond_the_allowlist(readiness_response: ReadinessResponse, calpolicy_config: Config) -> None:
    """P0.3.c: every action classified; ``retrain``, ``weights_update``, ``promotion`` and their like, or an
    action nobody has classified, is a STOP naming it (``calibration`` and ``shadow`` have no live effect)."""
    enforce(_verdict(readiness_response, calpolicy_config), "P0.3.c")
