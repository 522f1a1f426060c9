"""The preflight part of ``calpolicy demo``: a real local environment, a GO case, then a STOP case.

Everything the preflight probes is brought up for real on loopback — a ``redis-server``, a readiness
API and, where this machine allows it (root), systemd booted in a private namespace with the four
quantum units. Where systemd cannot boot the demo says so plainly: the unit and journal checks then
report "could not check", and no GO is shown, because none would be honest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.preflight import render, run_preflight
from calpolicy.verdict import EXIT_GO, EXIT_STOP


def demo_preflight(workdir: Path, out: Callable[[str], None] = print, n_trades: int = 400) -> bool:
    """Preflight GO, a gated run and a lockdown refusal, then preflight STOP; True when all are as expected."""
    until = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")
    with LocalEnvironment(Path(workdir) / "preflight_env", n_trades=n_trades) as env:
        config = env.write_config()
        out(f"Preflight environment: redis {env.redis.url}, readiness API {env.readiness.url}")
        if env.systemd is not None:
            out(f"systemd: booted in a private namespace (PID {env.systemd.pid}) with the four quantum-* units")
        else:
            out(f"systemd: NOT AVAILABLE — {env.systemd_note}; expect P0.1.a-e, S.c and S.f as 'could not check'")
        out(f"config: {config}\n")

        out(f"a) calpolicy preflight --operator demo --on-call-until {until}: expect GO")
        good = run_preflight(config, operator="demo", on_call_until=until)
        out(render(good) + "\n")

        run_as_expected = demo_run(env, config, until, out) if env.systemd is not None else True

        out("e) the preflight again, after the execution service crashed and the kill switch was set: expect STOP")
        if env.systemd is not None:
            env.systemd.start_failing("quantum-execution")
        env.set_halt("quantum:global:kill_switch", "1")
        bad = run_preflight(config, operator="demo", on_call_until=until)
        out(render(bad) + "\n")

    good_expected = EXIT_GO if env.systemd_note is None else good.verdict.exit_code
    as_expected = good.verdict.exit_code == good_expected and bad.verdict.exit_code in (EXIT_STOP, 3)
    as_expected = as_expected and run_as_expected
    if env.systemd_note is not None:
        out(f"note: the unit checks could not run here ({env.systemd_note}), so no GO case could be shown.")
    return as_expected


def demo_run(env: LocalEnvironment, config: Path, until: str, out: Callable[[str], None] = print) -> bool:
    """``calpolicy run`` on the healthy environment, then one lockdown refusal; True when both as expected."""
    from calpolicy.commands.run import render as render_run
    from calpolicy.localenv.rogue import ROGUE_TASK
    from calpolicy.run import run_job

    out(f"c) calpolicy run --operator demo --on-call-until {until}: preflight, sandboxed calibration, job")
    made = run_job(config, operator="demo", on_call_until=until)
    out(render_run(made) + "\n")

    live_config = env.live_dir / "config" / "calibration.json"
    before = live_config.read_bytes()
    out(f"d) the same run with a calibration that tries to write the live config ({live_config}): expect STOP")
    rogue = run_job(config, operator="demo", on_call_until=until, task=ROGUE_TASK)
    out(render_run(rogue))
    unchanged = live_config.read_bytes() == before
    out(f"   {live_config} is {'unchanged' if unchanged else 'CHANGED'}; no job was made\n")
    refused = rogue.job_id is None and any(f.id == "P1.1.c" and f.status == "fail" for f in rogue.verdict.findings)
    return made.job_id is not None and refused and unchanged
