"""The whole preflight (``pytest -m preflight`` in a child process) against a real local environment.

Healthy, it must say GO; with any one thing broken it must say STOP (exit 1, or 3 when a probe could not
answer) and name the right checklist item. Nothing here replaces a probe: the faults are real.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calpolicy.cli.commands import preflight as preflight_command
from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.localenv.readiness_server import Reply
from calpolicy.localenv.systemd_ns import wait_journal
from calpolicy.preflight import PREFLIGHT_IDS, PreflightRun, render, run_preflight
from calpolicy.vocabulary.verdict import EXIT_COULD_NOT_CHECK, EXIT_GO, EXIT_STOP


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with LocalEnvironment(tmp_path_factory.mktemp("localenv"), systemd=True) as environment:
        yield environment


@pytest.fixture
def healthy(env: LocalEnvironment) -> LocalEnvironment:
    if env.redis.process is None or env.redis.process.poll() is not None:
        env.redis.start()  # a previous test stopped the bus
    env.make_healthy()
    return env


def _until(hours: float = 30) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def _run(
    env: LocalEnvironment, overrides: dict[str, Any] | None = None, operator: str | None = "ana", **kw: Any
) -> PreflightRun:
    config = env.write_config(overrides=overrides)
    kw.setdefault("on_call_until", _until())
    return run_preflight(config, operator=operator, timeout_s=90, **kw)


def _failing(run: PreflightRun) -> dict[str, str]:
    return {f.id: f"{f.status}: {f.message}" for f in run.verdict.failures}


def test_a_healthy_environment_is_go(healthy: LocalEnvironment) -> None:
    run = _run(healthy)
    assert run.verdict.exit_code == EXIT_GO, render(run)
    assert {f.id for f in run.verdict.findings} >= set(PREFLIGHT_IDS)
    assert render(run).startswith("GO — preflight")
    # A GO lists what was verified in the checks' own words (recorded through plugin.enforce), not test names.
    listed = render(run, verbose=True).splitlines()
    assert "  PASS  P0.3.a                   the learning cadence is READY" in listed
    assert any(re.fullmatch(r"  PASS  P0\.2\.b +\d+ trades \(minimum 50\)", line) for line in listed), listed
    assert not [line for line in listed if "passed (policy_tests/" in line and "P0.2" in line], listed


def _fail_unit(env: LocalEnvironment) -> None:
    assert env.systemd is not None
    env.systemd.start_failing("quantum-execution")


def _remove_unit(env: LocalEnvironment) -> None:
    assert env.systemd is not None
    env.systemd.remove_unit("quantum-learning-monitor")


def _restarting_unit(env: LocalEnvironment) -> None:
    assert env.systemd is not None
    env.systemd.start_restarting("quantum-learning-api")


def _journal_error(env: LocalEnvironment) -> None:
    assert env.systemd is not None
    line = '{"ts": "2026-03-11T03:18:56Z", "level": "ERROR", "service": "ai_engine", "msg": "Model load error"}'
    env.systemd.log_to_journal("quantum-ai-engine", [line])
    wait_journal(env.systemd, "quantum-ai-engine", 1, containing="Model load error")


def _starvation_line(env: LocalEnvironment) -> None:
    assert env.systemd is not None
    env.systemd.log_to_journal("quantum-learning-monitor", ["[sCLM] 🚨 STARVATION DETECTED: No trades for 2.4h"])
    wait_journal(env.systemd, "quantum-learning-monitor", 1, containing="STARVATION")


def _execution_log_error(env: LocalEnvironment) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    with env.execution_log.open("a") as handle:
        handle.write(f"{stamp} ERROR order rejected: insufficient margin\n")


def _not_ready(env: LocalEnvironment) -> None:
    reason = "❌ Gate failed: Time span: 0.4/3 days"
    env.readiness.reply.body = {"ready": False, "reason": reason, "actions": ["calibration"]}


def _retrain(env: LocalEnvironment) -> None:
    env.readiness.reply.body = {"ready": True, "actions": ["calibration", "retrain"]}


def _market_spike(env: LocalEnvironment) -> None:
    """The host publishes no volume: a volatility jump to 4x its own median is the extreme it can show."""
    client = env.redis.client()
    normal = float(client.hget("quantum:marketstate:ETHUSDT", "sigma") or 0)
    client.hset("quantum:marketstate:ETHUSDT", "sigma", f"{normal * 4:.8f}")


def _market_volume(env: LocalEnvironment) -> None:
    """A host that does publish a volume ratio is judged on it."""
    env.redis.client().hset("quantum:marketstate:ETHUSDT", "volume_ratio", "4.2")


def _promotion(env: LocalEnvironment) -> None:
    env.readiness.reply.body = {"ready": True, "actions": ["calibration", "shadow", "promotion"]}


CASES: dict[str, tuple[Callable[[LocalEnvironment], None], str, str]] = {
    "unit-failed": (_fail_unit, "P0.1.b", "quantum-execution is not ACTIVE: it is FAILED"),
    "unit-not-found": (_remove_unit, "P0.1.c", "does not exist on this host"),
    "unit-activating": (_restarting_unit, "P0.1.d", "still starting or restarting"),
    "journal-error": (_journal_error, "P0.1.e", "Model load error"),
    "starvation-line": (_starvation_line, "S.f", "STARVATION DETECTED"),
    "execution-log-error": (_execution_log_error, "S.c", "order rejected: insufficient margin"),
    "halt-key": (lambda e: e.set_halt("quantum:system:mode", "LOCKDOWN"), "S.e", "quantum:system:mode = 'LOCKDOWN'"),
    "kill-switch-TRUE": (
        lambda e: e.set_halt("quantum:global:kill_switch", "TRUE"),
        "S.e",
        "quantum:global:kill_switch = 'TRUE'",
    ),
    "not-ready": (_not_ready, "P0.3.a", "NOT READY (reason: ❌ Gate failed"),
    "retrain-offered": (_retrain, "P0.3.c", "forbidden action(s) ['retrain']"),
    "promotion-offered": (_promotion, "P0.3.c", "forbidden action(s) ['promotion']"),
    "market-spike": (_market_spike, "S.b", "ETHUSDT volatility sigma"),
    "market-volume": (_market_volume, "S.b", "ETHUSDT volume is 4.2× normal"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_fault_stops_with_its_item(healthy: LocalEnvironment, case: str) -> None:
    breaker, control_id, text = CASES[case]
    breaker(healthy)
    run = _run(healthy)
    failing = _failing(run)
    assert run.verdict.exit_code == EXIT_STOP, render(run)
    assert control_id in failing, render(run)
    assert failing[control_id].startswith("fail: ")
    assert text in failing[control_id], failing[control_id]
    assert set(failing) == {control_id}, render(run)  # one fault, one item: nothing else was disturbed


def test_a_backlog_stops(healthy: LocalEnvironment) -> None:
    healthy.add_backlog(20)
    failing = _failing(_run(healthy, {"redis.max_backlog": 10}))
    assert failing["P0.1.f"].startswith("fail: Redis backlog above 10")
    assert "lag 20" in failing["P0.1.f"]


def test_a_slow_bus_stops(healthy: LocalEnvironment) -> None:
    stop = threading.Event()
    blocker = healthy.redis.client()

    def stall() -> None:
        while not stop.wait(0.05):
            blocker.execute_command("DEBUG", "SLEEP", "0.08")

    thread = threading.Thread(target=stall, daemon=True)
    thread.start()
    try:
        run = _run(healthy, {"redis.latency_duration_s": 0.5, "redis.latency_samples": 50})
    finally:
        stop.set()
        thread.join(5)
    assert run.verdict.exit_code == EXIT_STOP, render(run)
    assert "Redis latency p95" in _failing(run)["P0.1.f"]


def test_redis_down_cannot_be_checked(healthy: LocalEnvironment) -> None:
    config = healthy.write_config()
    healthy.redis.stop()
    run = run_preflight(config, operator="ana", on_call_until=_until(), timeout_s=90)
    failing = _failing(run)
    assert run.verdict.exit_code == EXIT_COULD_NOT_CHECK, render(run)
    for control_id in ("P0.1.f", "S.b", "S.e"):
        assert failing[control_id].startswith("error: could not check"), failing
        assert "cannot connect to Redis" in failing[control_id]


def test_the_checklist_url_reaches_the_real_route_and_says_so(healthy: LocalEnvironment) -> None:
    """Configured with the checklist's URL (a 404 on the real service), the preflight still reads the real
    route on the same host and judges P0.3 on its answer; a failure there says which URL answered."""
    config = {"readiness.url": healthy.readiness.checklist_url}
    run = _run(healthy, config)
    assert run.verdict.exit_code == EXIT_GO, render(run)
    healthy.readiness.reply = Reply(body={"ready": False, "reason": "Time span: 0.4/3 days", "actions": []})
    try:
        failing = _failing(_run(healthy, config))
    finally:
        healthy.readiness.reply = Reply()
    assert failing["P0.3.a"].startswith("fail: the learning cadence is NOT READY (reason: Time span: 0.4/3 days)")
    assert f"read the real route {healthy.readiness.url} instead" in failing["P0.3.a"]


def test_a_readiness_url_that_answers_404_cannot_be_checked_and_says_why(healthy: LocalEnvironment) -> None:
    wrong = healthy.readiness.url.replace("/readiness/simple", "/api/readiness")
    run = _run(healthy, {"readiness.url": wrong})
    failing = _failing(run)
    assert run.verdict.exit_code == EXIT_COULD_NOT_CHECK
    assert {"P0.3.a", "P0.3.b", "P0.3.c"} <= set(failing)
    assert "serves GET /readiness/simple" in failing["P0.3.a"]


def test_no_market_source_cannot_be_checked(healthy: LocalEnvironment) -> None:
    """No symbols configured: discovered by SCAN; none published (the publisher is down) is could-not-check."""
    healthy.market.pause()
    client = healthy.redis.client()
    client.delete("quantum:marketstate:BTCUSDT", "quantum:marketstate:ETHUSDT")
    run = _run(healthy, {"market.symbols": []})
    assert run.verdict.exit_code == EXIT_COULD_NOT_CHECK
    assert "no market state found: no Redis key matches quantum:marketstate:*" in _failing(run)["S.b"]


@pytest.mark.parametrize(
    ("operator", "until", "text"),
    [(None, None, "no operator attestation"), ("ana", "short", "on call for 2.0 h only")],
)
def test_operator_attestation_is_required(
    healthy: LocalEnvironment, operator: str | None, until: str | None, text: str
) -> None:
    run = _run(healthy, operator=operator, on_call_until=_until(2) if until == "short" else until)
    assert run.verdict.exit_code == EXIT_STOP
    assert text in _failing(run)["S.d"]


def test_a_run_that_executes_no_test_is_stop(healthy: LocalEnvironment) -> None:
    run = _run(healthy, extra=["-k", "no_test_has_this_name"])
    assert run.verdict.exit_code == EXIT_COULD_NOT_CHECK
    assert "the preflight ran no test" in _failing(run)["preflight.run"]


def test_the_command_prints_json(healthy: LocalEnvironment, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    preflight_command.add_parser(parser.add_subparsers())
    config = healthy.write_config()
    args = parser.parse_args(
        ["--config", str(config), "preflight", "--json", "--operator", "ana", "--on-call-until", _until()]
    )
    assert args.handler(args) == EXIT_GO
    document = json.loads(capsys.readouterr().out)
    assert document["verdict"] == "GO"
    assert document["exit_code"] == 0
    assert {f["id"] for f in document["findings"]} >= set(PREFLIGHT_IDS)


def _headline_of(text: str) -> str:
    """The verdict line, without its duration (the only part that may differ between two runs)."""
    line = next(ln for ln in reversed(text.splitlines()) if ln.startswith(("GO —", "STOP")))
    return re.sub(r" in \d+\.\d s: ", ": ", line)


@pytest.mark.parametrize("case", ["GO", "STOP"])
def test_calpolicy_preflight_and_pytest_m_preflight_agree(healthy: LocalEnvironment, case: str, tmp_path: Path) -> None:
    """The operator's two commands give the same verdict on the same inputs (run from outside the checkout)."""
    if case == "STOP":
        _fail_unit(healthy)
        healthy.set_halt("quantum:global:kill_switch", "1")
    config = str(healthy.write_config())
    until = _until()
    cli = subprocess.run(
        [sys.executable, "-m", "calpolicy.cli", "preflight", "--config", config, "--operator", "ana",
         "--on-call-until", until],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "preflight", "--calpolicy-config", config,
         "--operator", "ana", "--on-call-until", until],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    expected_exit = EXIT_GO if case == "GO" else EXIT_STOP
    assert cli.returncode == expected_exit, cli.stdout + cli.stderr
    assert plain.returncode == expected_exit, plain.stdout[-3000:]
    assert _headline_of(cli.stdout) == _headline_of(plain.stdout)
    assert _headline_of(cli.stdout).startswith(case)
    if case == "STOP":
        assert "items failed (P0.1.b, S.e)" in _headline_of(plain.stdout)
        assert "FAIL  P0.1.b" in plain.stdout
