"""Which ensemble weights the engine will use for a ``calibration.json`` (issue 21 §5: engine_weights' mutants).

Exact values and sentences: approve STOPs on ``change``'s sentence, and ``run`` prints ``apply_would_change``'s.
"""

from __future__ import annotations

import json

from calpolicy.lockdown.engine_weights import (
    BASELINE,
    FALLBACK,
    MODELS,
    Effective,
    apply_would_change,
    change,
    effective,
)

OWN = {"xgb": 0.4, "lgbm": 0.2, "nhits": 0.25, "patchtst": 0.15}
FALLBACK_SOURCE = "the loader's fixed fallback, used once any file is loaded without an override"
SHOWN_FALLBACK = (
    "xgb 0.3, lgbm 0.3, nhits 0.2, patchtst 0.2 "
    "(the loader's fixed fallback, used once any file is loaded without an override)"
)
NO_FILE = BASELINE + ": no calibration.json"
UNREADABLE = BASELINE + ": the loader cannot read the file"


def doc(**ensemble: object) -> bytes:
    return json.dumps({"version": "v", "ensemble_weights": ensemble}).encode()


def test_the_fixed_fallback_and_the_models() -> None:
    assert FALLBACK == {"xgb": 0.30, "lgbm": 0.30, "nhits": 0.20, "patchtst": 0.20}
    assert MODELS == ("xgb", "lgbm", "nhits", "patchtst")
    assert BASELINE == "the engine's own baseline weights (its ModelSupervisor's dynamic weights, or its defaults)"


def test_no_file_keeps_the_engines_baseline() -> None:
    assert effective(None) == Effective(None, NO_FILE)
    assert effective(None).shown() == NO_FILE


def test_a_file_the_loader_cannot_read_keeps_the_baseline() -> None:
    for data in (b"{not json", b"[1, 2]", b'"text"', b"null", b'{"ensemble_weights": 5}',
                 b'{"ensemble_weights": {"enabled": true, "weights": [1]}}', b"\xff\xfe"):  # fmt: skip
        assert effective(data) == Effective(None, UNREADABLE), data


def test_an_enabled_override_gives_the_files_weights_for_the_four_models_only() -> None:
    weights = {**OWN, "other": 0.9}
    found = effective(doc(enabled=True, weights=weights))
    assert found == Effective(OWN, "the file's enabled override")
    assert found.shown() == "xgb 0.4, lgbm 0.2, nhits 0.25, patchtst 0.15 (the file's enabled override)"
    partial = effective(doc(enabled=True, weights={"xgb": 0.5}))
    assert partial.weights == {"xgb": 0.5, "lgbm": None, "nhits": None, "patchtst": None}
    assert partial.shown() == "xgb 0.5, lgbm None, nhits None, patchtst None (the file's enabled override)"


def test_a_file_without_an_enabled_override_gives_the_fixed_fallback() -> None:
    for data in (doc(enabled=False, weights=OWN), doc(weights=OWN), b'{"version": "v"}', b"{}", doc(enabled=None),
                 doc(enabled=0, weights=OWN)):  # fmt: skip
        found = effective(data)
        assert found == Effective(FALLBACK, FALLBACK_SOURCE)
        assert found.shown() == SHOWN_FALLBACK
    assert effective(b"{}").weights is not FALLBACK  # a copy: the module's table is never handed out


def test_an_enabled_block_without_weights_is_an_override_of_nothing() -> None:
    """The real loader reads the four names from an empty mapping: every weight None, still "the file's"."""
    empty = {k: None for k in MODELS}
    assert effective(doc(enabled=True)) == Effective(empty, "the file's enabled override")
    assert effective(doc(enabled=True, weights={})) == Effective(empty, "the file's enabled override")


def test_change_is_none_while_the_engine_keeps_the_same_weights() -> None:
    assert change(None, None) is None
    assert change(None, b"{not json") is None  # baseline both ways
    assert change(b"{}", doc(enabled=False, weights=OWN)) is None  # fallback both ways
    assert change(doc(enabled=True, weights=OWN), doc(enabled=True, weights={**OWN, "other": 1})) is None


def test_change_names_the_weights_before_and_after() -> None:
    assert change(None, b"{}") == (
        f"the AI engine's ensemble weights would change: now {NO_FILE}; with the new file {SHOWN_FALLBACK}"
    )
    assert change(doc(enabled=True, weights=OWN), b"{}") == (
        "the AI engine's ensemble weights would change: now xgb 0.4, lgbm 0.2, nhits 0.25, patchtst 0.15 "
        f"(the file's enabled override); with the new file {SHOWN_FALLBACK}"
    )
    assert change(b"{}", None) == (
        f"the AI engine's ensemble weights would change: now {SHOWN_FALLBACK}; with the new file {NO_FILE}"
    )


def test_apply_would_change_over_no_file_an_override_or_a_fallback() -> None:
    assert apply_would_change(None) == (
        f"the AI engine's ensemble weights would change: now {NO_FILE}; with the new file {SHOWN_FALLBACK}"
    )
    assert apply_would_change(b"{broken") == (
        f"the AI engine's ensemble weights would change: now {UNREADABLE}; with the new file {SHOWN_FALLBACK}"
    )
    assert apply_would_change(doc(enabled=True, weights=OWN)) == (
        "the AI engine's ensemble weights would change: now xgb 0.4, lgbm 0.2, nhits 0.25, patchtst 0.15 "
        f"(the file's enabled override); with the new file {SHOWN_FALLBACK}"
    )
    assert apply_would_change(doc(enabled=False, weights=OWN)) is None
    assert apply_would_change(doc(enabled=True, weights=FALLBACK)) is None  # an override equal to the fallback


# ============================================================================== the real loader fails elsewhere


def full(**fields: object) -> bytes:
    return json.dumps({"version": "v", "ensemble_weights": {"enabled": False, "weights": OWN}, **fields}).encode()


def test_a_file_the_real_loader_fails_on_outside_the_weights_keeps_the_baseline() -> None:
    """Its ``reload()`` reads ``created_at``, the confidence mapping and sums an enabled override before it says
    "loaded"; any exception there serves nothing, so the engine keeps its baseline — not the fallback."""
    for data in (
        full(created_at="6 February"),
        full(created_at=20260206),
        full(created_at="2026-02-06Z1554"),  # Python reads it as it is, not once its Z is "+00:00" as the loader has it
        full(confidence_calibration=5),
        full(confidence_calibration={"enabled": True, "mapping": {"high": 0.9}}),
        full(confidence_calibration={"enabled": False, "mapping": {"0.5": "x"}}),
        full(confidence_calibration={"mapping": {"0.5": None}}),
        full(confidence_calibration={"mapping": [[0.5, 0.4]]}),
        json.dumps({"version": "v", "ensemble_weights": {"enabled": True, "weights": {**OWN, "xgb": "0.4"}}}).encode(),
        b"\xef\xbb\xbf" + full(),  # a UTF-8 BOM: the loader opens the file as text, and json refuses the BOM
        full().decode().encode("utf-16"),
    ):
        assert effective(data) == Effective(None, UNREADABLE), data[:80]


def test_what_the_real_loader_reads_fine_outside_the_weights_changes_nothing() -> None:
    for data in (
        full(created_at="2026-02-06T06:03:03.350649"),
        full(created_at="2026-02-06T06:03:03Z"),
        full(created_at="2026-02-06Z"),  # refused by Python as it is, read once the loader made its Z "+00:00"
        full(created_at=""),
        full(created_at=None),
        full(confidence_calibration={"enabled": "yes", "mapping": {"0.5": 0.4, "1": 1}}),
        full(confidence_calibration={"mapping": {"NaN": "inf"}}),
        full(confidence_calibration={}),
    ):
        assert effective(data).weights == FALLBACK, data[:80]
    enabled = {"version": "v", "ensemble_weights": {"enabled": True, "weights": {**OWN, "xgb": None}}}
    assert effective(json.dumps(enabled).encode()).weights == {**OWN, "xgb": None}


def test_an_approve_over_a_file_the_engine_could_not_load_says_the_weights_change() -> None:
    """The engine kept its baseline with it; what approve writes is loaded, and brings the fallback."""
    refused = b'{"version": "cal_20260206_060303", "confidence_calibration": 5}\n'
    assert apply_would_change(refused) == (
        f"the AI engine's ensemble weights would change: now {UNREADABLE}; with the new file {SHOWN_FALLBACK}"
    )
