"""The phase 2 policy suite, run for real as a child process, can say GO and can say STOP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import policy_tests
from calpolicy.calibrate import propose
from calpolicy.clm.reader import read_clm
from calpolicy.vocabulary.config import Config
from unit_tests.calibrate.synth import MODELS, draw, jsonl_bytes

PHASE2 = Path(policy_tests.__file__).parent / "phase2"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(PHASE2), "-m", "proposal", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(("truth", "n", "exit_code"), [("overconfident", 20_000, 0), ("calibrated", 3_000, 1)])
def test_phase2_suite_on_a_clm_file(tmp_path: Path, truth: str, n: int, exit_code: int) -> None:
    clm = tmp_path / "clm_trades.jsonl"
    clm.write_bytes(jsonl_bytes(draw(n, 8, truth, MODELS)))
    done = _run(tmp_path, "--clm", str(clm))
    assert done.returncode == exit_code, done.stdout[-4000:] + done.stderr[-2000:]
    assert "8 passed" in done.stdout if exit_code == 0 else "P2.2.b FAIL" in done.stdout


def test_phase2_suite_on_a_job_folder(tmp_path: Path) -> None:
    clm = tmp_path / "clm_trades.jsonl"
    clm.write_bytes(jsonl_bytes(draw(3_000, 9, "overconfident", MODELS)))
    job = tmp_path / "cal_20260101_000000"
    job.mkdir()
    (job / "proposal.json").write_text(propose(read_clm(clm), Config()).to_json(), encoding="utf-8")
    assert _run(tmp_path, "--job", str(job)).returncode == 0
    text = (job / "proposal.json").read_text(encoding="utf-8")
    (job / "proposal.json").write_text(text.replace('"applied": false', '"applied": true'), encoding="utf-8")
    tampered = _run(tmp_path, "--job", str(job))
    assert tampered.returncode == 1
    assert "never applied" in tampered.stdout
