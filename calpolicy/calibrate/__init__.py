"""Isotonic calibration per model, fitted on the past and scored on the latest trades → a ``Proposal``.

Analysis and proposal only: nothing in this package writes a file, touches a weight or applies a map.

Phase 2, the calibration run: owns P2.1.a (isotonic calibration per model: ``isotonic``, ``models``),
P2.1.b (pre/post error, MSE and Brier: ``metrics``, ``split``), P2.1.d (a proposal, never an apply:
``proposal``), P2.2.a-d (the hard safety bounds: ``bounds``, with ``stability``) and the task as it runs
inside the lockdown's sandbox (``task``: exactly the CLM bytes the preflight judged → proposal.json).
P2.1.c (the report) is written by ``calpolicy.review.report``.

May import: the vocabulary, ``calpolicy.files``, ``calpolicy.clm`` (the trade log it fits on).
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
