"""The readiness probe against a real HTTP server on loopback, driven through every bad answer."""

from __future__ import annotations

import pytest

from calpolicy.config import ReadinessConfig
from calpolicy.localenv.ports import free_port
from calpolicy.localenv.readiness_server import ReadinessServer, Reply
from calpolicy.probes import ProbeError
from calpolicy.probes.readiness import fetch_readiness, readiness_findings

FAST = {"connect_timeout_s": 0.5, "read_timeout_s": 0.5, "deadline_s": 2.0, "retries": 1}


def _verdict(server: ReadinessServer, reply: Reply, url: str | None = None) -> dict[str, str]:
    server.reply = reply
    config = ReadinessConfig(url=url or server.url, **FAST)
    response = fetch_readiness(config)
    return {f.id: f"{f.status}: {f.message}" for f in readiness_findings(response, config)}


def test_ready_with_calibration_passes(readiness_server: ReadinessServer) -> None:
    found = _verdict(readiness_server, Reply(body={"ready": True, "actions": ["calibration"]}))
    assert all(v.startswith("pass") for v in found.values()), found
    assert set(found) == {"P0.3.a", "P0.3.b", "P0.3.c"}


def test_not_ready_names_the_reason(readiness_server: ReadinessServer) -> None:
    body = {"ready": False, "reason": "❌ Gate failed: Time span: 0.4/3 days", "actions": []}
    found = _verdict(readiness_server, Reply(body=body))
    assert found["P0.3.a"] == "fail: the learning cadence is NOT READY (reason: ❌ Gate failed: Time span: 0.4/3 days)"
    assert found["P0.3.b"].startswith("fail: 'calibration' is not in actions")


@pytest.mark.parametrize("ready", ["true", 1, None, "yes"])
def test_ready_must_be_the_json_boolean(readiness_server: ReadinessServer, ready: object) -> None:
    found = _verdict(readiness_server, Reply(body={"ready": ready, "actions": ["calibration"]}))
    assert found["P0.3.a"].startswith("fail: 'ready' must be the JSON boolean true, got")


def test_missing_fields_fail(readiness_server: ReadinessServer) -> None:
    found = _verdict(readiness_server, Reply(body={}))
    assert found["P0.3.a"] == "fail: the readiness answer has no 'ready' field"
    assert found["P0.3.b"] == found["P0.3.c"] == "fail: the readiness answer has no 'actions' field"


def test_actions_must_be_a_list_of_strings(readiness_server: ReadinessServer) -> None:
    found = _verdict(readiness_server, Reply(body={"ready": True, "actions": "calibration"}))
    assert found["P0.3.b"].startswith("fail: 'actions' must be a list of strings")


@pytest.mark.parametrize("extra", ["retrain", "weights_update", "shadow", "promotion"])
def test_an_action_outside_the_allowlist_fails(readiness_server: ReadinessServer, extra: str) -> None:
    found = _verdict(readiness_server, Reply(body={"ready": True, "actions": ["calibration", extra]}))
    assert found["P0.3.b"].startswith("pass")
    assert found["P0.3.c"].startswith(f"fail: actions ['{extra}'] are outside the allowlist ['calibration']")


def test_a_json_array_body_fails_every_item(readiness_server: ReadinessServer) -> None:
    found = _verdict(readiness_server, Reply(body=["calibration"]))
    assert all(v.startswith("fail: the readiness API answered list JSON") for v in found.values())


def test_the_checklist_url_404_names_the_real_route(readiness_server: ReadinessServer) -> None:
    readiness_server.reply = Reply()
    config = ReadinessConfig(url=readiness_server.checklist_url, **FAST)
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(config)
    message = str(caught.value)
    assert "answered 404 Not Found" in message
    assert "serves GET /readiness/simple (alias /cadence/ready)" in message
    assert f'readiness.url = "http://127.0.0.1:{readiness_server.port}/readiness/simple"' in message


def test_a_server_error_is_retried_then_reported(readiness_server: ReadinessServer) -> None:
    readiness_server.reply = Reply(body={"detail": "database is locked"}, status=500)
    before = readiness_server.requests
    with pytest.raises(ProbeError, match=r"after 2 attempt\(s\).*HTTP 500.*database is locked"):
        fetch_readiness(ReadinessConfig(url=readiness_server.url, **FAST))
    assert readiness_server.requests - before == 2


def test_a_non_json_body_is_reported(readiness_server: ReadinessServer) -> None:
    readiness_server.reply = Reply(raw=b"<html>ok</html>", content_type="text/html")
    expected = r"the body is not JSON a gate may read \(not valid JSON: .*\): '<html>ok</html>'"
    with pytest.raises(ProbeError, match=expected):
        fetch_readiness(ReadinessConfig(url=readiness_server.url, **FAST))


def test_a_slow_answer_times_out_within_the_deadline(readiness_server: ReadinessServer) -> None:
    readiness_server.reply = Reply(delay_s=1.5)
    config = ReadinessConfig(url=readiness_server.url, connect_timeout_s=0.5, read_timeout_s=0.3, deadline_s=1.0)
    with pytest.raises(ProbeError, match="no answer within the timeout"):
        fetch_readiness(config)


def test_connection_refused_is_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/readiness/simple"
    with pytest.raises(ProbeError, match="connection failed"):
        fetch_readiness(ReadinessConfig(url=url, **FAST))
