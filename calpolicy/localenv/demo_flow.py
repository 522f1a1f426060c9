"""The end-to-end part of ``calpolicy demo``: preflight → run → verify → approve (restart and confirm) → trades
→ watch → rollback, then one STOP case, on a live local environment, through the real commands.

The AI-engine unit behaves like the real engine (``calpolicy/localenv/ai_engine.py``): it loads
``calibration.json`` once at start, logs the real loader lines, has no hot reload and runs with
Restart=always. So approve and rollback run with ``--allow-restart`` and are confirmed only by the engine's
own log line from its new main process: the path an operator sees on the real host. The hot-reload loader
is the upgrade path (``ai_engine.py --hot-reload``), described in docs/demo.md.

Each step prints one line, its verdict first. The commands are the operator's own (``calpolicy verify``,
``approve``, ``watch``, ``rollback`` called in-process through ``calpolicy.cli.main``; ``run_preflight`` and
``run_job`` for the two whose structured result the demo needs); nothing is mocked.

Demo-only settings (written into the demo's own ``calpolicy.toml`` before the watch step, nowhere else):
the real watch needs an hour after approval (``watch.min_post_hours``) and judges the 24 h before it; the
demo's post-apply window is seconds, so it sets ``watch.min_post_hours`` to 2 s and ``watch.baseline_hours``
to the time the AI-engine stand-in ran before the approval (so HOLDs per hour compare like with like).
The trade baseline then widens to the last 50 trades before the approval, and the watch says so.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calpolicy.files.strict_json import parse_json
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.vocabulary.verdict import Verdict

ENGINE = "quantum-ai-engine"
LOADED = "[CalibrationLoader] ✅ Loaded calibration: "  # the real engine's line
EXISTING = "cal_20260206_060303"  # the version LocalEnvironment's live calibration.json holds
# the existing tool's shape (REAL_SYSTEM.md): what the live engine serves before the demo's approval
EXISTING_CALIBRATION = {
    "version": EXISTING,
    "created_at": "2026-02-06T06:03:03.350649",
    "approved_by": None,
    "approved_at": None,
    "confidence_calibration": {
        "enabled": True,
        "method": "isotonic",
        "mapping": {"0.5": 0.5, "0.6": 0.58, "0.7": 0.66, "0.8": 0.74, "0.9": 0.82, "1.0": 0.9},
    },
    "ensemble_weights": {"enabled": False, "weights": {"xgb": 0.3, "lgbm": 0.3, "nhits": 0.2, "patchtst": 0.2}},
}
DEMO_MIN_POST_HOURS = 2.0 / 3600.0
# demo-only: its engine (like the real one) never acknowledges, so approve and rollback would wait the full
# deploy.ack_timeout_s (10 s on a host, time for a hot-reloading loader to answer) before their one restart
DEMO_ACK_TIMEOUT_S = 3.0
POST_TRADES = 40
ENGINE_TICK_S = 0.05


def cli(*argv: str) -> tuple[int, list[str]]:
    """Run a calpolicy command in-process, as the operator would type it; its exit code and output lines."""
    from calpolicy.cli import main
    from calpolicy.cli.commands.common import CONFIG_NOTE

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        code = main(list(argv))
    # the "which config" note is for a person at a terminal; the demo names its config itself
    return code, [line for line in buffer.getvalue().splitlines() if line.strip() and not line.startswith(CONFIG_NOTE)]


def step(out: Callable[[str], None], verdict: str, name: str, text: str, more: Sequence[str] = ()) -> None:
    out(f"{verdict:<13} {name:<9} {text}")
    for line in more:
        out(f"{'':<23} {line}")


def _live_from(env: LocalEnvironment, version: str, approved_at: datetime) -> datetime:
    """When the engine was first shown to serve ``version`` (the apply history's confirmation), else approval."""
    from calpolicy.jobs import history as apply_history

    history = env.live_dir / "config" / "calibration_archive" / apply_history.HISTORY_NAME
    return apply_history.live_from(history, version, approved_at)


def post_apply_trades(log: Path, approved_at: datetime, until: datetime, count: int = POST_TRADES) -> int:
    """Append ``count`` trades between ``approved_at`` and ``until`` that trade like the baseline did.

    Their win share and mean PnL are those of the last 50 trades before the approval (a calibration that
    changed the engine's confidence, not its outcomes), so the watch has a real, non-breaching signal.
    """
    records = [parse_json(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    baseline = [float(r["pnl_percent"]) for r in records[-50:]]
    wins = [p for p in baseline if p > 0]
    losses = [p for p in baseline if p <= 0]
    win_value = sum(wins) / len(wins)
    loss_value = sum(losses) / len(losses) if losses else -win_value
    share = len(wins) / len(baseline)
    span = (until - approved_at) / (count + 1)
    lines = []
    for i in range(count):
        # wins spread evenly: after i+1 trades, round((i+1)·share) of them have won
        win = round((i + 1) * share) > round(i * share)
        template = dict(records[-count + i])
        pnl = round(win_value if win else loss_value, 4)
        entry = float(template["entry_price"])
        sign = 1 if template["action"] == "BUY" else -1
        template.update(
            trade_id=f"post_apply_{i + 1:04d}",
            timestamp=(approved_at + span * (i + 1)).astimezone(UTC).replace(tzinfo=None).isoformat(),
            exit_price=round(entry * (1 + sign * pnl / 100), 6),
            pnl_percent=pnl,
            outcome_label="WIN" if pnl > 0 else "LOSS",
        )
        lines.append(json.dumps(template) + "\n")
    with log.open("a", encoding="utf-8") as handle:
        handle.writelines(lines)
    return count


def demo_flow(
    workdir: Path, out: Callable[[str], None] = print, n_trades: int = 1100, systemd: bool | None = None
) -> bool:
    """The whole checklist on a local environment; True when every step's verdict is the expected one.

    ``systemd=False`` runs it as on a machine without root/systemd (what cannot run is said plainly).
    """
    from calpolicy.localenv.systemd_ns import _hidden
    from calpolicy.preflight import run_preflight
    from calpolicy.run.job import run_job

    started = time.monotonic()
    workdir = Path(workdir).resolve()
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
    with LocalEnvironment(workdir / "env", n_trades=n_trades, systemd=systemd) as env:
        config = env.write_config(overrides={"deploy.ack_timeout_s": DEMO_ACK_TIMEOUT_S})
        ns = env.systemd
        where = f"systemd namespace PID {ns.pid}" if ns else "NO systemd"
        out(f"environment: {env.workdir} (redis {env.redis.url}, readiness {env.readiness.url}, {where})")
        if ns is None or _hidden(str(env.workdir)):
            return _without_systemd(env, config, until, out)

        from calpolicy.localenv.ai_engine import UNIT_PROPERTIES, engine_argv
        from calpolicy.localenv.systemd_ns import wait_journal

        live_file = env.live_dir / "config" / "calibration.json"
        live_file.write_text(json.dumps(EXISTING_CALIBRATION, indent=2) + "\n", encoding="utf-8")
        argv = engine_argv(sys.executable, live_file, "--tick", str(ENGINE_TICK_S), "--decisions")
        ns.start_unit(ENGINE, argv, UNIT_PROPERTIES)
        try:
            wait_journal(ns, ENGINE, 1, 20, f"{LOADED}{EXISTING}")
            ok = True
        except TimeoutError:
            ok = False
        engine_since = datetime.now(UTC)
        serves = (
            f"{ENGINE} (like the real engine: loads once at start, no hot reload, Restart=always) "
            f"logged '{LOADED}{EXISTING}'"
        )
        step(out, "OK" if ok else "STOP", "engine", serves)
        if not ok:
            return False

        pre = run_preflight(config, operator="demo", on_call_until=until)
        step(out, _word(pre.verdict.exit_code), "preflight", _headline(pre.verdict))
        ok = pre.verdict.exit_code == 0

        made = run_job(config, operator="demo", on_call_until=until)
        job, job_dir = made.job_id, made.job_dir
        step(
            out,
            _word(made.verdict.exit_code),
            "run",
            f"job {job}: {_headline(made.verdict)}",
            [f"report: {job_dir / 'policy_report.html'}", f"report: {job_dir / 'report.md'}"] if job_dir else [],
        )
        if made.verdict.exit_code != 0 or job is None:
            return False

        code, lines = cli("verify", job, "--config", str(config))
        step(
            out,
            f"{'OK' if code == 0 else 'STOP'} (exit {code})",
            "verify",
            lines[0] if lines else "",
            [] if code == 0 else lines[1:6],
        )
        if code != 0:
            return False

        code, lines = cli(
            "approve",
            job,
            "--approver",
            "demo",
            "--reviewed",
            "--on-call-until",
            until,
            "--yes",
            "--allow-restart",
            "--config",
            str(config),
        )
        applied = [line for line in lines if line.startswith(("APPLIED", "STOP", "written"))]
        step(
            out,
            f"{'GO' if code == 0 else 'STOP'} (exit {code})",
            "approve",
            (applied[0] if applied else "(no verdict)") + " — after signature, state, policy results, "
            "CLM prefix and a fresh preflight; --allow-restart: the engine has no hot reload",
            [line.strip() for line in lines if _confirming(line)] if code == 0 else lines[1:6],
        )
        if code != 0:
            return False

        loaded = f"{LOADED}{job}"
        seen = ns.journal_count(ENGINE, loaded)
        step(out, "OK" if seen else "STOP", "reload", f"{ENGINE}'s journal after the restart: {loaded!r} ({seen} line)")
        ok = ok and seen > 0

        live = parse_json((env.live_dir / "config" / "calibration.json").read_text(encoding="utf-8"))
        approved_at = datetime.fromisoformat(live["approved_at"])
        approved_at = approved_at if approved_at.tzinfo else approved_at.replace(tzinfo=UTC)
        # the engine serves the new map only from its restart: the watch counts from then (apply history)
        approved_at = _live_from(env, job, approved_at)
        wait = approved_at + timedelta(hours=DEMO_MIN_POST_HOURS, seconds=0.3) - datetime.now(UTC)
        time.sleep(max(wait.total_seconds(), 0.0))
        now = datetime.now(UTC)
        added = post_apply_trades(env.clm_file, approved_at, now)
        decisions = ns.journal_count(ENGINE, "[AI-ENGINE]")
        step(
            out,
            "--",
            "trades",
            f"{added} post-apply trades appended to {env.clm_file}; {decisions} decision lines in {ENGINE}'s journal",
        )

        baseline_hours = max((approved_at - engine_since).total_seconds(), 1.0) / 3600.0
        watch_config = env.write_config(
            workdir / "env" / "calpolicy-watch-demo.toml",
            overrides={
                "deploy.ack_timeout_s": DEMO_ACK_TIMEOUT_S,
                "watch.baseline_hours": baseline_hours,
                "watch.min_post_hours": DEMO_MIN_POST_HOURS,
                # the demo's whole watch window is the seconds since approval, so its looks are complete
                "watch.hours": (datetime.now(UTC) - approved_at).total_seconds() / 3600.0,
            },
        )
        code, lines = cli("watch", "--config", str(watch_config))
        step(
            out,
            f"{lines[0].split(' ')[0] if lines else '?'} (exit {code})",
            "watch",
            f"demo windows ({watch_config.name}: post-apply ≥ 2 s, baseline = the engine's "
            f"{baseline_hours * 3600:.0f} s before approval)",
            [line.strip() for line in lines[1:6]],
        )
        ok = ok and code == 0

        code, lines = cli("rollback", "--by", "demo", "--allow-restart", "--config", str(config))
        back = ns.journal_count(ENGINE, f"{LOADED}{EXISTING}")
        step(
            out,
            f"{'OK' if code == 0 else 'STOP'} (exit {code})",
            "rollback",
            lines[0] if lines else "",
            [line.strip() for line in lines if _confirming(line)]
            + [f"{ENGINE}'s journal: 'Loaded calibration: {EXISTING}' {back} times (start, then rollback)"],
        )
        ok = ok and code == 0 and back >= 2

        env.set_halt("quantum:global:kill_switch", "true")  # as the host's ops scripts write it
        bad = run_preflight(config, operator="demo", on_call_until=until)
        reasons = [f"{f.id}: {f.message.splitlines()[0]}" for f in bad.verdict.failures]
        step(out, _word(bad.verdict.exit_code), "stop case", "preflight after the kill switch was set", reasons)
        ok = ok and bad.verdict.exit_code == 1

        ns.stop_unit(ENGINE)
    out(
        f"demo: {'every step as expected' if ok else 'UNEXPECTED verdicts — see above'} "
        f"in {time.monotonic() - started:.1f} s"
    )
    return ok


def _confirming(line: str) -> bool:
    """The lines that say how the new version was made live and confirmed."""
    return any(word in line for word in ("LIVE", "restarted", "acknowledged"))


def _word(exit_code: int) -> str:
    return {0: "GO", 1: "STOP"}.get(exit_code, f"STOP (could not check, exit {exit_code})")


def _headline(verdict: Verdict) -> str:
    """The verdict's counts ("all 30 items passed", "2 of 30 items failed (…)") without its title."""
    from calpolicy.vocabulary.render import headline

    return headline(verdict, "").split(":", 1)[-1].strip()


def _without_systemd(env: LocalEnvironment, config: Path, until: str, out: Callable[[str], None]) -> bool:
    """Say plainly what cannot run; show the preflight's honest "could not check"."""
    from calpolicy.preflight import run_preflight

    why = env.systemd_note or f"{env.workdir} is under /tmp or /var/tmp, which the namespace replaces"
    out(f"NOT RUN: the AI-engine unit, approve, reload, watch and rollback need systemd here: {why}")
    pre = run_preflight(config, operator="demo", on_call_until=until)
    step(out, _word(pre.verdict.exit_code), "preflight", _headline(pre.verdict))
    out("demo: without systemd no GO can honestly be shown; run as root for the whole flow")
    return pre.verdict.exit_code != 0
