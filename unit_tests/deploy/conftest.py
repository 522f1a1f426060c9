"""One real proposal for every apply test (fitting it once keeps the suite fast), and a fresh systemd namespace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calpolicy.calibrate import propose
from calpolicy.clm.reader import parse_clm_bytes
from calpolicy.localenv.systemd_ns import SystemdNamespace
from calpolicy.vocabulary.config import Config
from unit_tests.calibrate.synth import MODELS, draw, jsonl_bytes


@pytest.fixture(scope="session")
def proposal_json() -> str:
    log = parse_clm_bytes(jsonl_bytes(draw(3_000, 11, "overconfident", MODELS)), "apply.jsonl")
    return propose(log, Config(), seed=0).to_json()


@pytest.fixture
def namespace() -> Iterator[SystemdNamespace]:
    """A fresh namespace per test: its own journal, and no unit left over from another test."""
    with SystemdNamespace() as ns:
        yield ns
