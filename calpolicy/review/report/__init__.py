"""The review report of a job (checklist 3.1): report.md, report.json and reliability.png.

``write_report`` is what ``calpolicy run`` calls after the proposal and the bounds check; everything it
writes goes through a temp file and ``os.replace`` so a crash never leaves half a report in a job folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from calpolicy.files.atomic_io import write_atomic
from calpolicy.review.report.content import DO_NOT_APPLY, READY, SECTION_CONTROLS, SECTION_TITLES, build_report
from calpolicy.review.report.markdown import render_markdown
from calpolicy.review.report.plot import PANELS_KEY, write_plot
from calpolicy.vocabulary.verdict import Verdict

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
PLOT_PNG = "reliability.png"


def write_report(job_dir: Path, proposal: Any, bounds: Verdict, data: Verdict, manifest: dict[str, Any]) -> list[Path]:
    """Write report.md, report.json and reliability.png into ``job_dir``; return their paths in that order."""
    job_dir = Path(job_dir)
    report = build_report(proposal, bounds, data, manifest)
    band = float((getattr(proposal, "thresholds", {}) or {}).get("max_confidence_change", 0.15))
    md = _atomic(job_dir / REPORT_MD, render_markdown(report).encode("utf-8"))
    js = _atomic(job_dir / REPORT_JSON, (json.dumps(report, indent=1, allow_nan=False) + "\n").encode("utf-8"))
    with tempfile.NamedTemporaryFile(dir=job_dir, prefix=".reliability.", suffix=".png", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        tmp_path.chmod(0o644)
        write_plot(tmp_path, report, band)
        _fsync(tmp_path)
        os.replace(tmp_path, job_dir / PLOT_PNG)
    finally:
        tmp_path.unlink(missing_ok=True)
    return [md, js, job_dir / PLOT_PNG]


def _atomic(path: Path, payload: bytes) -> Path:
    write_atomic(path, payload)
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "DO_NOT_APPLY",
    "PANELS_KEY",
    "PLOT_PNG",
    "READY",
    "REPORT_JSON",
    "REPORT_MD",
    "SECTION_CONTROLS",
    "SECTION_TITLES",
    "build_report",
    "render_markdown",
    "write_report",
]
