"""Held-out cases of issue 21 §4 for three more JSON readers: a value nested past what the parser can
follow (or an integer of 5,000 digits) is refused with our own error, never a RecursionError traceback.

- the engine's journal lines (``json_record``): the engine logs text it did not write (an exchange's
  answer, a symbol name); confirm, watch and the preflight read them;
- a ``CALPOLICY_*`` environment variable (read as JSON when it is JSON);
- ``proposal.json`` (written by the sandboxed calibration, which the parent does not trust).
"""

from __future__ import annotations

import json

import pytest

from calpolicy.calibrate import Proposal, ProposalError
from calpolicy.preflight.probes.journal import ProbeError, json_record, log_text, parse_journal_json
from calpolicy.vocabulary.config import ConfigError, load_config

DEEP = "[" * 50_000 + "]" * 50_000


def test_a_journal_line_nested_past_parsing_is_a_plain_line() -> None:
    message = '{"msg": ' + DEEP + "}"
    assert json_record(message) is None
    assert log_text(message) == message  # judged as the text it is
    assert json_record('INFO: {"msg": "Loaded calibration: cal_1", "x": 1}') is not None  # the usual still parses


def test_a_journalctl_record_nested_past_parsing_is_a_probe_error() -> None:
    with pytest.raises(ProbeError, match="line 1 is not JSON"):
        parse_journal_json(DEEP + "\n")


def test_an_environment_value_nested_past_parsing_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"deploy\.ack_timeout_s"):
        load_config(None, environ={"CALPOLICY_DEPLOY__ACK_TIMEOUT_S": DEEP})


@pytest.mark.parametrize("text", [DEEP, '{"schema": ' + "9" * 5000 + "}"], ids=["deep", "5000-digit-int"])
def test_a_proposal_that_cannot_be_parsed_is_a_proposal_error(text: str) -> None:
    with pytest.raises(ProposalError, match=r"proposal\.json"):
        Proposal.from_json(text)
    with pytest.raises(ProposalError):
        Proposal.from_json(json.dumps({"schema": 1}))  # and a wrong shape, as before
