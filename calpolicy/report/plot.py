"""reliability.png: one panel per model — raw and calibrated reliability, the diagonal, the ±band, counts.

Drawn with matplotlib's Agg backend (no display on a server). The panel titles are also written into the
PNG's text metadata (``calpolicy:panels``) so a test can hold the picture to the proposal's model list
without image recognition.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

PANELS_KEY = "calpolicy:panels"


def write_plot(path: Path, report: dict[str, Any], band: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    tables = report["reliability"]["tables"]
    cols = min(3, max(1, len(tables)))
    rows = max(1, math.ceil(len(tables) / cols))
    fig = Figure(figsize=(4.2 * cols, 4.0 * rows), dpi=90, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(tables):
            ax.set_axis_off()
            continue
        _panel(ax, tables[index], band)
    fig.suptitle(f"Reliability — job {report.get('job_id')} — {report['verdict']}", fontsize=11)
    names = ",".join(t["model"] for t in tables)
    fig.savefig(path, format="png", metadata={PANELS_KEY: names, "Title": f"calpolicy {report.get('job_id')}"})
    return path


def _panel(ax: Any, table: dict[str, Any], band: float) -> None:
    grid = [0.0, 1.0]
    ax.fill_between(grid, [-band, 1 - band], [band, 1 + band], color="#dddddd", alpha=0.6, label=f"±{band:g} band")
    ax.plot(grid, grid, color="#555555", lw=1, ls="--", label="perfect calibration")
    raw = table["bins"]
    if raw:
        x = [b["mean_confidence"] for b in raw]
        yv = [b["win_rate"] for b in raw]
        err = [[b["win_rate"] - b["wilson_lo"] for b in raw], [b["wilson_hi"] - b["win_rate"] for b in raw]]
        ax.errorbar(x, yv, yerr=err, fmt="o-", color="#c0392b", ms=4, lw=1.2, capsize=2, label="raw (Wilson 95%)")
        top = max(b["n"] for b in raw)
        for b in raw:
            width = max(b["confidence_hi"] - b["confidence_lo"], 0.01)
            ax.bar(b["confidence_lo"], 0.12 * b["n"] / top, width=width, align="edge", bottom=0.0,
                   color="#f5cba7", edgecolor="#e59866", lw=0.5)  # fmt: skip
            ax.text(b["confidence_lo"] + width / 2, 0.005, str(b["n"]), fontsize=5.5, ha="center", va="bottom",
                    rotation=90, color="#6e2c00")  # fmt: skip
        ax.plot(x, [b["calibrated"] for b in raw], "s:", color="#7f8c8d", ms=3, lw=1, label="map at raw bins")
    cal = table["calibrated_bins"]
    if cal:
        ax.plot(
            [b["mean_confidence"] for b in cal], [b["win_rate"] for b in cal], "^-", color="#2471a3", ms=4, lw=1.2,
            label="calibrated (out of sample)",
        )  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_title(f"{table['model']}  (bars: trades per bin)", fontsize=9)
    ax.set_xlabel("confidence", fontsize=8)
    ax.set_ylabel("observed win rate", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left")
