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
    # per model: the reliability panel and, under it on the same x axis, a strip with the trades per bin
    height = PANEL_IN * rows + 1.0  # inches: panels plus a band on top for the title and the legend
    fig = Figure(figsize=(4.0 * cols, height), dpi=90)
    outer = fig.add_gridspec(rows, cols, hspace=0.28, wspace=0.32, left=0.07, right=0.98,
                             bottom=0.35 / height, top=1 - 1.05 / height)  # fmt: skip
    panels = []
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        cell = outer[row, col].subgridspec(2, 1, height_ratios=[3.3, 1.0], hspace=0.06)
        ax = fig.add_subplot(cell[0])
        strip = fig.add_subplot(cell[1], sharex=ax)
        if index >= len(tables):
            ax.set_axis_off()
            strip.set_axis_off()
            continue
        _panel(ax, tables[index], band)
        _counts(strip, tables[index]["bins"])
        panels.append(ax)
    handles, labels = panels[0].get_legend_handles_labels() if panels else ([], [])
    fig.legend(
        handles, labels, loc="center", ncols=3, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1 - 0.62 / height)
    )
    fig.suptitle(f"Reliability — job {report.get('job_id')} — {report['verdict']}", fontsize=11, y=1 - 0.08 / height)
    names = ",".join(t["model"] for t in tables)
    fig.savefig(path, format="png", metadata={PANELS_KEY: names, "Title": f"calpolicy {report.get('job_id')}"})
    return path


PANEL_IN = 5.4  # one model: a 3.3-part reliability panel over a 1-part trades-per-bin strip, and gaps
COUNT_FONT = 6.5
_PANEL_WIDTH_PT = 0.75 * 4.0 * 72  # about the axes' width in points (a 4-inch column, its margins removed)


def _counts(ax: Any, raw: list[dict[str, Any]]) -> None:
    """Trades per bin in a strip of its own under the panel (same confidence axis, its own count scale),
    each bar's count written level above it where it fits: a reviewer reads how much data backs a point."""
    ax.set_ylabel("trades\nper bin", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("confidence", fontsize=8)
    if not raw:
        ax.text(0.5, 0.5, "no out-of-sample trades", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        return
    lo = [b["confidence_lo"] for b in raw]
    widths = [max(b["confidence_hi"] - b["confidence_lo"], 0.01) for b in raw]
    counts = [b["n"] for b in raw]
    most = max(max(counts), 1)
    ax.bar(lo, counts, width=widths, align="edge", color=COUNTS, edgecolor="#e59866", lw=0.5)
    ax.set_ylim(0, most * 1.45)
    ax.set_yticks([0, most])
    for left, width, n in zip(lo, widths, counts, strict=True):
        label = str(n)
        if len(label) * 0.62 * COUNT_FONT <= width * _PANEL_WIDTH_PT:
            ax.text(left + width / 2, n + most * 0.04, label, fontsize=COUNT_FONT, ha="center", va="bottom",
                    color="#6e2c00")  # fmt: skip


def _panel(ax: Any, table: dict[str, Any], band: float) -> None:
    grid = [0.0, 1.0]
    ax.fill_between(grid, [-band, 1 - band], [band, 1 + band], color="#e5e5e5", label=f"±{band:g} band")
    ax.plot(grid, grid, color="#555555", lw=1, ls="--", label="perfect calibration")
    raw = table["bins"]
    if raw:
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
    ax.set_title(table["model"], fontsize=10, fontweight="bold")
    ax.tick_params(labelbottom=False)
    ax.set_ylabel("observed win rate", fontsize=8)
    ax.tick_params(labelsize=7)
