"""One real proposal for every apply test (fitting it once keeps the suite fast)."""

from __future__ import annotations

import pytest

from calpolicy.calibrate import propose
from calpolicy.clm.reader import parse_clm_bytes
from calpolicy.vocabulary.config import Config
from unit_tests.calibrate.synth import MODELS, draw, jsonl_bytes


@pytest.fixture(scope="session")
def proposal_json() -> str:
    log = parse_clm_bytes(jsonl_bytes(draw(3_000, 11, "overconfident", MODELS)), "apply.jsonl")
    return propose(log, Config(), seed=0).to_json()
