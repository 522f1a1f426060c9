"""Isotonic calibration per model, fitted on the past and scored on the latest trades → a ``Proposal``.

Analysis and proposal only: nothing in this package writes a file, touches a weight or applies a map.
"""

from __future__ import annotations

from calpolicy.calibrate.isotonic import CalibrationMap
from calpolicy.calibrate.models import DISAGREEMENT_RULE, ENSEMBLE, ProposalError
from calpolicy.calibrate.proposal import ModelResult, Proposal, propose

__all__ = [
    "DISAGREEMENT_RULE",
    "ENSEMBLE",
    "CalibrationMap",
    "ModelResult",
    "Proposal",
    "ProposalError",
    "propose",
]
