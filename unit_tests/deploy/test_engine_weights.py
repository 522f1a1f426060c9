"""Judge "no ensemble weights changed" on what the engine will do with the file (issue 20, point 8)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calpolicy.apply.deploy import DeployError, approve_job, rollback
from calpolicy.localenv.ai_engine import LoadOnceLoader
from calpolicy.lockdown.engine_weights import effective
from unit_tests.deploy.site import Site, make_site

JOB = "cal_20261101_120000"


def quiet(_: str) -> None:
    pass


@pytest.fixture
def fresh(tmp_path: Path, proposal_json: str) -> Site:
    site = make_site(tmp_path, existing=False)
    site.add_job(JOB, proposal_json)
    return site


def test_the_first_apply_on_a_host_without_a_file_stops_naming_the_weights(fresh: Site) -> None:
    with pytest.raises(DeployError) as raised:
        approve_job(fresh.config, JOB, "alice", wait=False, say=quiet)
    message = str(raised.value)
    assert "the AI engine's ensemble weights would change: now the engine's own baseline weights" in message
    assert "with the new file xgb 0.3, lgbm 0.3, nhits 0.2, patchtst 0.2 (the loader's fixed fallback" in message
    assert "P1.1.b, P2.1" in message
    assert fresh.live_bytes() is None
    assert fresh.manifest(JOB)["state"] == "proposed"


def test_an_apply_over_a_file_with_an_enabled_override_stops(fresh: Site) -> None:
    weights = {"xgb": 0.4, "lgbm": 0.2, "nhits": 0.2, "patchtst": 0.2}
    override = {
        "version": "cal_20260101_000000",
        "confidence_calibration": {"enabled": False},
        "ensemble_weights": {"enabled": True, "weights": weights},
    }
    fresh.live.write_text(json.dumps(override))
    with pytest.raises(DeployError, match=r"now xgb 0.4, lgbm 0.2, nhits 0.2, patchtst 0.2 \(the file's enabled"):
        approve_job(fresh.config, JOB, "alice", wait=False, say=quiet)
    assert json.loads(fresh.live.read_text()) == override


def test_rollback_none_says_the_weights_go_back_to_the_engines_baseline(tmp_path: Path, proposal_json: str) -> None:
    site = make_site(tmp_path)  # the existing tool's file: the engine uses the loader's fallback
    site.add_job(JOB, proposal_json)
    approve_job(site.config, JOB, "alice", wait=False, say=quiet)  # fallback before and after: allowed
    outcome = rollback(site.config, "none", "bob", wait=False, say=quiet)
    assert site.live_bytes() is None
    note = [line for line in outcome.lines if "weights would change" in line]
    assert note, outcome.lines
    assert "with the new file the engine's own baseline weights" in note[0]


MODELS = st.sampled_from(["xgb", "lgbm", "nhits", "patchtst", "other"])
DOCS = st.fixed_dictionaries(
    {"version": st.text(max_size=5)},
    optional={
        "ensemble_weights": st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.one_of(st.booleans(), st.integers(0, 1), st.none()),
                "weights": st.dictionaries(MODELS, st.floats(0, 1), max_size=5),
            },
        ),
        "confidence_calibration": st.fixed_dictionaries({"enabled": st.booleans()}),
    },
)


@settings(max_examples=150, deadline=None)
@given(doc=st.one_of(DOCS.map(lambda d: json.dumps(d).encode()), st.binary(max_size=40), st.none()))
def test_effective_weights_are_what_a_load_once_engine_uses(
    tmp_path_factory: pytest.TempPathFactory, doc: bytes | None
) -> None:
    """Against the engine stand-in's loader (the real loader's behaviour): loaded → its weights, else baseline."""
    path = tmp_path_factory.mktemp("w") / "calibration.json"
    if doc is not None:
        path.write_bytes(doc)
    logging.disable(logging.CRITICAL)
    try:
        loader = LoadOnceLoader(str(path))
    finally:
        logging.disable(logging.NOTSET)
    engine = loader.get_ensemble_weights() if loader.calibration_loaded else None
    judged = effective(doc).weights
    assert judged == engine  # None on both sides: the engine keeps its own baseline


def test_run_warns_next_to_its_go_that_approve_will_stop_on_a_host_without_a_file(fresh: Site, tmp_path: Path) -> None:
    """Rehearsal on the real host's shape: run said GO, approve then STOPped, and nothing said so before."""
    from calpolicy.cli.commands.run import render
    from calpolicy.run.job import _approve_blocker
    from calpolicy.run.outcome import RunOutcome
    from calpolicy.vocabulary.verdict import Finding, Verdict

    go = Verdict((Finding("P2.1.a", "pass", "isotonic maps", {}),))
    blocker = _approve_blocker(fresh.config)
    with pytest.raises(DeployError) as raised:
        approve_job(fresh.config, JOB, "alice", wait=False, say=quiet)
    assert blocker is not None
    assert blocker in str(raised.value)  # the very sentence approve will stop with
    outcome = RunOutcome(go, JOB, tmp_path, "done", details={"approve_blocker": blocker})
    assert f"  warning:    approve will STOP on this host: {blocker}" in render(outcome)
    assert outcome.to_dict()["approve_blocker"] == blocker  # run --json says it too
    existing = make_site(tmp_path / "existing")  # the existing tool's file: its fallback weights stay
    assert _approve_blocker(existing.config) is None
    clean = RunOutcome(go, JOB, tmp_path, "done", details={"approve_blocker": None})
    assert "warning" not in render(clean)
    assert "approve_blocker" not in clean.to_dict()
