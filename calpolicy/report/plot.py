"""reliability.png: one panel per model — raw and calibrated reliability, the diagonal, the ±band, counts.

Drawn with matplotlib's Agg backend (no display on a server). The panel titles are also written into the
PNG's text metadata (``calpolicy:panels``) so a test can hold the picture to the proposal's model list
without image recognition. One legend for the figure and a fixed layout keep it fast (a few hundred ms
for five panels): it runs inside ``calpolicy run``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

PANELS_KEY = "calpolicy:panels"
RAW = "#c0392b"
CALIBRATED = "#2471a3"
MAP = "#7f8c8d"
COUNTS = "#f5cba7"


def write_plot(path: Path, report: dict[str, Any], band: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    tables = report["reliability"]["tables"]
    cols = min(3, max(1, len(tables)))
    rows = max(1, math.ceil(len(tables) / cols))
    height = 4.0 * rows + 1.0  # inches: panels plus a band on top for the title and the legend
    fig = Figure(figsize=(4.0 * cols, height), dpi=90)
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.45 / height, top=1 - 1.05 / height, wspace=0.3, hspace=0.32)
    for index, ax in enumerate(axes.flat):
        if index >= len(tables):
            ax.set_axis_off()
            continue
        _panel(ax, tables[index], band)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="center", ncols=3, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1 - 0.62 / height)
    )
    fig.suptitle(f"Reliability — job {report.get('job_id')} — {report['verdict']}", fontsize=11, y=1 - 0.08 / height)
    names = ",".join(t["model"] for t in tables)
    fig.savefig(path, format="png", metadata={PANELS_KEY: names, "Title": f"calpolicy {report.get('job_id')}"})
    return path


def _panel(ax: Any, table: dict[str, Any], band: float) -> None:
    grid = [0.0, 1.0]
    ax.fill_between(grid, [-band, 1 - band], [band, 1 + band], color="#e5e5e5", label=f"±{band:g} band")
    ax.plot(grid, grid, color="#555555", lw=1, ls="--", label="perfect calibration")
    raw = table["bins"]
    if raw:
        lo = [b["confidence_lo"] for b in raw]
        widths = [max(b["confidence_hi"] - b["confidence_lo"], 0.01) for b in raw]
        most = max(b["n"] for b in raw)
        ax.bar(
            lo,
            [0.12 * b["n"] / most for b in raw],
            width=widths,
            align="edge",
            color=COUNTS,
            edgecolor="#e59866",
            lw=0.5,
            label="trades per bin",
        )
        for left, width, b in zip(lo, widths, raw, strict=True):
            ax.text(
                left + width / 2,
                0.005,
                str(b["n"]),
                fontsize=5.5,
                ha="center",
                va="bottom",
                rotation=90,
                color="#6e2c00",
            )
        x = [b["mean_confidence"] for b in raw]
        ax.vlines(x, [b["wilson_lo"] for b in raw], [b["wilson_hi"] for b in raw], color=RAW, lw=1)
        ax.plot(x, [b["win_rate"] for b in raw], "o-", color=RAW, ms=3.5, lw=1.2, label="raw (Wilson 95%)")
        ax.plot(x, [b["calibrated"] for b in raw], "s:", color=MAP, ms=3, lw=1, label="proposed map")
    cal = table["calibrated_bins"]
    if cal:
        ax.plot(
            [b["mean_confidence"] for b in cal],
            [b["win_rate"] for b in cal],
            "^-",
            color=CALIBRATED,
            ms=3.5,
            lw=1.2,
            label="calibrated, out of sample",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_title(table["model"], fontsize=10, fontweight="bold")
    ax.set_xlabel("confidence", fontsize=8)
    ax.set_ylabel("observed win rate", fontsize=8)
    ax.tick_params(labelsize=7)
