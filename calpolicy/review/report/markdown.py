"""report.md from the report dict: the verdict on line one, then the five sections in order.

Only presentation lives here; every figure comes from the dict ``content.build_report`` made, which is
also what report.json holds.
"""

from __future__ import annotations

from typing import Any

from calpolicy.review.report.content import DRIFT_COLUMNS, SECTION_CONTROLS, SECTION_TITLES, readable, sig


def render_markdown(report: dict[str, Any]) -> str:
    out = [f"# {report['headline']}", ""]
    out += _summary(report["summary"], report)
    out += _metrics(report["metrics"])
    out += _reliability(report["reliability"])
    out += _bullets("risks", [f"**{r['kind']}**: {r['text']}" for r in report["risks"]])
    out += _drift_tables(report["risks"])
    out += _bullets("do_not_apply_if", report["do_not_apply_if"])
    return "\n".join(out).rstrip() + "\n"


def _heading(key: str) -> list[str]:
    return [f"## {SECTION_TITLES[key]}  ({SECTION_CONTROLS[key]})", ""]


def _summary(summary: dict[str, Any], report: dict[str, Any]) -> list[str]:
    out = _heading("summary")
    out.append(f"**Verdict: {report['verdict']}**")
    out += [f"- {reason}" for reason in report["reasons"]]
    data = summary["data"]
    job = summary["job"]
    out += [
        "",
        f"Data analysed: {_v(data['trades'])} trades ({_v(data['lines'])} lines, {_v(data['bytes'])} bytes) "
        f"of `{_v(data['path'])}`, sha256 `{_v(data['sha256'])}`.",
        f"Span: {_num(data['span_days'], 1)} days, last trade {_v(data['last_trade'])}.",
        f"Operator: {_v(job['operator'])}, on call until {_v(job['on_call_until'])}. "
        f"Config digest `{_v(job['config_digest'])}`, calpolicy {_v(job['calpolicy_version'])}.",
        "",
    ]
    out += _table(
        ["model", "n", "n held out", "status", "Brier before", "Brier after", "improvement", "max change"],
        [
            [
                m["model"],
                m["n"],
                _v(m.get("n_evaluated")),
                m["status"],
                _num(m["brier_before"]),
                _num(m["brier_after"]),
                _pct(m["improvement"]),
                _num(m["max_change"], 3),
            ]
            for m in summary["models"]
        ],
    )
    binding = summary.get("band_binding")
    if binding:
        out += [f"**Bound binding:** {binding['text']}.", ""]
    largest = summary["largest_change"]
    if largest:
        out += [
            f"Largest confidence change: {_num(largest['max_change'], 3)} ({largest['model']}, "
            f"at confidence {_num(largest['at'], 3)}).",
            "",
        ]
    out += ["Safety bounds:", ""]
    out += _table(["ID", "status", "result"], [[b["id"], b["status"].upper(), b["message"]] for b in summary["bounds"]])
    return out


def _metrics(metrics: dict[str, Any]) -> list[str]:
    out = _heading("metrics")
    ev = metrics["evaluation"]
    out += [
        f"Evaluation: {ev.get('description') or _v(ev['split'])}. Deciding rule: {ev['rule']}",
        "",
    ]
    out += [f"- decided by {f['id']} {f['status'].upper()}: {f['message']}" for f in ev["deciding_findings"]]
    out.append("")
    rows = []
    for m in metrics["models"]:
        interval = m["interval"]
        shown = (
            "—" if interval is None else f"[{_num(interval[0], 5)}, {_num(interval[1], 5)}] ({m['interval_method']})"
        )
        rows.append(
            [
                m["model"],
                m["n_evaluated"],
                _num(m["brier_before"]),
                _num(m["brier_after"]),
                _pct(m["improvement"]),
                shown,
                _num(m["spiegelhalter_z_before"], 2),
                _num(m["spiegelhalter_z_after"], 2),
            ]
        )
    out += _table(
        [
            "model",
            "n scored",
            "Brier before",
            "Brier after",
            "rel. improvement",
            "95% interval of per-trade gain",
            "Z before",
            "Z after",
        ],
        rows,
    )
    for m in metrics["models"]:
        notes = []
        if m["reason"]:
            notes.append(f"reason: {m['reason']}")
        if m["excluded"]:
            notes.append("excluded: " + ", ".join(f"{k} {v}" for k, v in m["excluded"].items()))
        notes += [f"{k}: {readable(v)}" for k, v in m["more"].items() if k != "drift"]
        if isinstance(m["more"].get("drift"), dict):
            notes.append("drift: see the drift table under Risks")
        if notes:
            out.append(f"- {m['model']}: " + "; ".join(notes))
    decisions = metrics.get("map_decisions") or []
    if decisions:
        out += ["", "What ships per model:", ""]
        for d in decisions:
            line = f"- {d['model']}: {d['ships']}"
            if d["reason"]:
                line += f" — {d['reason']}"
            if d["fitted_improvement"] is not None:
                line += (
                    f" (the fitted map: {_pct(d['fitted_improvement'])}, one-sided lower bound "
                    f"{_pct(d['fitted_improvement_lower'])})"
                )
            out.append(line)
    out += ["", "Every bound finding:", ""]
    out += _table(
        ["ID", "status", "result"], [[f["id"], f["status"].upper(), f["message"]] for f in metrics["bound_findings"]]
    )
    return out


def _reliability(reliability: dict[str, Any]) -> list[str]:
    out = _heading("reliability")
    out += [f"![reliability plot]({reliability['plot']})", ""]
    for table in reliability["tables"]:
        out += [f"### {table['model']}", ""]
        if not table["bins"]:
            out += ["(no out-of-sample trades to bin)", ""]
            continue
        out += _table(
            ["bin", "count", "mean confidence", "observed win rate", "95% Wilson", "calibrated"],
            [
                [
                    f"{b['confidence_lo']:.3f}–{b['confidence_hi']:.3f}",
                    b["n"],
                    _num(b["mean_confidence"], 3),
                    _num(b["win_rate"], 3),
                    f"[{b['wilson_lo']:.3f}, {b['wilson_hi']:.3f}]",
                    _num(b["calibrated"], 3),
                ]
                for b in table["bins"]
            ],
        )
    by_symbol = reliability.get("by_symbol") or []
    if by_symbol:
        out += ["### Per symbol (held-out trades, the map that ships)", ""]
        out += _table(
            ["model", "symbol", "n", "mean conf. before", "mean conf. after", "win rate", "Brier before",
             "Brier after", "rel. improvement", "one-sided lower bound"],
            [
                [r["model"], r["symbol"], r["n"], _num(r["mean_confidence_before"], 3),
                 _num(r["mean_confidence_after"], 3), _num(r["win_rate"], 3), _num(r["brier_before"]),
                 _num(r["brier_after"]), _pct(r["improvement"]), _pct(r["improvement_lower"])]
                for r in by_symbol
            ],
        )  # fmt: skip
    return out


def _drift_tables(risks: list[dict[str, Any]]) -> list[str]:
    """The drift risk's table (4 significant digits), after the risk bullets; the conclusion is in its bullet."""
    out: list[str] = []
    for risk in risks:
        rows = risk.get("table")
        if risk.get("kind") == "drift" and rows:
            out += _table([title for _, title in DRIFT_COLUMNS], [[sig(r[k]) for k, _ in DRIFT_COLUMNS] for r in rows])
    return out


def _bullets(key: str, items: list[str]) -> list[str]:
    return [*_heading(key), *[f"- {item}" for item in items], ""]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return [*lines, ""]


def _v(value: Any) -> str:
    return "—" if value is None else str(value)


def _num(value: Any, digits: int = 4) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):+.2f}%"
