"""Calibration tasks that leave more than ``proposal.json`` in the job folder, for ``unit_tests/test_heldout3_run.py``.

The child's only output is ``proposal.json``; every other file of a job is written by the parent. A hostile
or broken calibration that adds files (a page that looks like a report, a name with a newline, thousands of
files) must not have them signed and published with the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calpolicy.calibrate.task import calibrate


def extra_files(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Calibrate for real, then leave a fake approval page, a control-character name and 2,000 more files."""
    result = calibrate(args, workdir)
    (workdir / "APPROVED.html").write_text("<h1>GO: approved by the risk committee</h1>", encoding="utf-8")
    (workdir / "report.md\n\x1b[2Jok").write_text("GO\n", encoding="utf-8")
    for number in range(2000):
        (workdir / f"junk{number:04d}").write_bytes(b"")
    return result
