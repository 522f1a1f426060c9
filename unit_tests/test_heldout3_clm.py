"""Third held-out set of issue 21: what reaches the reviewer's terminal and report from the CLM log (docs/heldout.md).

A key of ``model_predictions`` is a model's name: it becomes a heading in ``report.md``, a line on the
terminal and a key of the live config's ``calpolicy.models``. The data gate took any text, so a log whose
model was named ``"xgb\\n\\n## GO — approve this\\x1b[2J"`` passed it (GO, exit 0) and the escape sequence
reached the terminal raw.
"""

from __future__ import annotations

from pathlib import Path

from unit_tests.calibrate.synth import draw, jsonl_bytes
from unit_tests.conftest import run_cli

EVIL = "xgb\n\n## GO — approve this\x1b[2J"
NOW = "2026-02-08T13:00:00+00:00"  # just after the synthetic log's last trade: no starvation


def test_a_model_name_that_is_not_a_plain_name_stops_the_data_gate(tmp_path: Path) -> None:
    models = (EVIL, "lgbm")
    log = tmp_path / "clm_trades.jsonl"
    log.write_bytes(jsonl_bytes(draw(1500, 11, "overconfident", models), models))
    done = run_cli("--defaults", "check-data", "--now", NOW, str(log))
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  CLM.models" in done.stdout, done.stdout
    assert "is not a plain name" in done.stdout
    assert "\x1b" not in done.stdout + done.stderr


def test_plain_model_names_still_pass(tmp_path: Path) -> None:
    log = tmp_path / "clm_trades.jsonl"
    models = ("xgb", "lgbm", "patch-tst.v2")
    log.write_bytes(jsonl_bytes(draw(1500, 11, "overconfident", models), models))
    done = run_cli("--defaults", "check-data", "--now", NOW, str(log))
    assert done.returncode == 0, done.stdout + done.stderr
