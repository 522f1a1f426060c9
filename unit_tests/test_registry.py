"""The control registry is the single source of every list of IDs, and every registered ID is enforced.

Each producer (the data gate, the bounds) must answer for exactly its registered IDs; the preflight must
require every preflight item, the ``CLM.*`` ones included; and the whole policy suite, run as the operator
runs it, must produce a result row for every registered ID.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calpolicy.clm import check_data, read_clm
from calpolicy.clm.checks import DATA_IDS
from calpolicy.preflight import PREFLIGHT_IDS, build_verdict
from calpolicy.vocabulary import controls
from calpolicy.vocabulary.config import load_config
from calpolicy.vocabulary.controls import BOUNDS, DATA, REGISTRY, registered, traceability_problems
from unit_tests.conftest import NOW
from unit_tests.test_plugin import POLICY_DIR, REPO, run_pytest

CONFIG = load_config(environ={})


def test_ids_are_unique_and_every_enforced_item_names_its_producer() -> None:
    ids = [c.id for c in REGISTRY]
    assert len(ids) == len(set(ids)) == len(controls.KNOWN)
    assert all(c.producer for c in REGISTRY if c.phase)
    assert set(controls.EXTRA) == {i for i in ids if i.startswith("CLM.")}


def test_registered_filters_by_phase_and_producer() -> None:
    assert registered("proposal", BOUNDS) == ("P2.2.a", "P2.2.b", "P2.2.c", "P2.2.d")
    assert set(registered()) == set(controls.KNOWN)  # every item has its policy test
    phases = ("preflight", "lockdown", "proposal", "report", "apply", "watch")
    assert set(registered()) == {cid for phase in phases for cid in registered(phase)}
    assert controls.check("S.b").phase == "preflight"
    with pytest.raises(KeyError):
        controls.check("P9.9.z")


def test_preflight_requires_every_preflight_item_including_the_data_checks() -> None:
    assert registered("preflight") == PREFLIGHT_IDS
    assert {"CLM.pnl_sign", "CLM.duplicates", "P0.1.f", "S.f"} <= set(PREFLIGHT_IDS)
    rows = [{"nodeid": "t", "controls": [cid], "status": "pass"} for cid in PREFLIGHT_IDS if cid != "CLM.pnl_sign"]
    missing = build_verdict(rows, 0).by_id("CLM.pnl_sign")
    assert [(f.status, f.message) for f in missing] == [("error", "no preflight test ran for this item")]


def test_the_data_gate_answers_for_exactly_its_registered_items(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path]
) -> None:
    verdict = check_data(read_clm(write_log(healthy_records)), CONFIG, now=NOW)
    assert registered(producer=DATA) == DATA_IDS
    assert {f.id for f in verdict.findings} == set(DATA_IDS)


def test_an_unreadable_log_leaves_every_data_item_not_checked(tmp_path: Path) -> None:
    missing = tmp_path / "absent.jsonl"
    verdict = check_data(read_clm(missing), CONFIG, now=NOW)
    assert [f.id for f in verdict.findings] == list(DATA_IDS)
    first, *rest = verdict.findings
    why = f"CLM file not found: {missing}"
    assert (first.status, first.message, first.evidence) == ("fail", why, {"path": str(missing)})
    assert {(f.status, f.message) for f in rest} == {("error", f"not checked: {why}")}
    assert all(f.evidence == {"path": str(missing)} for f in rest)


def test_a_log_that_exists_but_cannot_be_read_is_could_not_check_not_missing(tmp_path: Path) -> None:
    """A folder where the file should be: P0.2.a is "could not check" (error), not "the file is missing"."""
    verdict = check_data(read_clm(tmp_path), CONFIG, now=NOW)
    assert {f.status for f in verdict.findings} == {"error"}
    assert verdict.findings[0].message == f"CLM path is not a regular file: {tmp_path}"


@pytest.mark.parametrize(
    ("ids", "markers", "in_policy", "expected"),
    [
        (["S.a"], {"preflight"}, True, []),
        (["P9.9.z"], set(), False, ["unknown control ID(s) P9.9.z"]),
        (["S.a", "P9.9.z", "X"], {"preflight"}, True, ["unknown control ID(s) P9.9.z, X"]),
        ([], set(), False, []),
        ([], {"preflight"}, True, ["policy test carries no @pytest.mark.control(...) ID"]),
        (["S.a"], {"preflihgt"}, True, ["S.a is enforced in phase 'preflight' but the test carries no "
                                        "@pytest.mark.preflight marker"]),
        (["S.a"], set(), False, []),  # outside the policy suite a test may name an item without its phase
        (["P1.1.a"], {"lockdown"}, True, []),
        (["S.a", "P2.2.a"], {"preflight"}, True, ["P2.2.a is enforced in phase 'proposal' but the test carries "
                                                  "no @pytest.mark.proposal marker"]),
    ],
)  # fmt: skip
def test_traceability_problems(ids: list[str], markers: set[str], in_policy: bool, expected: list[str]) -> None:
    assert traceability_problems(ids, markers, in_policy) == expected


def _dead_config(tmp_path: Path) -> Path:
    """Every live target unreachable, so each live item answers "could not check" within a second."""
    path = tmp_path / "calpolicy.toml"
    path.write_text(
        '[systemd]\ncommand_prefix = ["false"]\nexecution_log_files = ["/nonexistent/execution.log"]\n'
        '[redis]\nurl = "redis://127.0.0.1:1/0"\ntimeout_s = 0.5\n'
        '[readiness]\nurl = "http://127.0.0.1:1/api/learning/readiness/simple"\nretries = 0\ndeadline_s = 1\n'
    )
    return path


def test_every_registered_id_reaches_a_policy_test_and_produces_a_result(
    healthy_records: list[dict[str, Any]], write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """The whole shipped policy suite, in a child pytest: one result row at least for every registered ID,
    and no row for an ID the registry does not enforce."""
    results = tmp_path / "results.jsonl"
    outcome = run_pytest(
        str(POLICY_DIR), "--clm", str(write_log(healthy_records)), "--calpolicy-config", str(_dead_config(tmp_path)),
        "--calpolicy-now", NOW.isoformat(), "--calpolicy-results", str(results), cwd=REPO,
    )  # fmt: skip
    assert outcome.returncode == 1, outcome.stdout[-2000:] + outcome.stderr[-2000:]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    reported = {cid for row in rows for cid in row["controls"]}
    assert reported == set(registered())
    assert {row["status"] for row in rows} <= {"pass", "fail", "error"}
    data_rows = {cid: row["status"] for row in rows for cid in row["controls"] if "test_clm_integrity" in row["nodeid"]}
    assert data_rows == dict.fromkeys(DATA_IDS, "pass")
