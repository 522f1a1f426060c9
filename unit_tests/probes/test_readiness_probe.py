"""The readiness probe against a real HTTP server on loopback, driven through every bad answer."""

from __future__ import annotations

import json
import zlib

import pytest

from calpolicy.config import ReadinessConfig
from calpolicy.localenv.ports import free_port
from calpolicy.localenv.readiness_server import ReadinessServer, Reply
from calpolicy.probes import ProbeError
from calpolicy.probes.readiness import MAX_DECODED_BYTES, _origin, fetch_readiness, readiness_findings
from calpolicy.verdict import Finding
from unit_tests.adversaries import RawHTTPServer, http_response

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


def test_the_checklist_url_falls_back_to_the_real_route_on_the_same_host(readiness_server: ReadinessServer) -> None:
    """The real service answers 404 at the checklist's URL and serves /readiness/simple: the default config
    works against it, and the operator is told which URL answered."""
    readiness_server.reply = Reply(body={"ready": True, "reason": "ok", "actions": ["calibration"]})
    config = ReadinessConfig(url=readiness_server.checklist_url, **FAST)
    response = fetch_readiness(config)
    real = f"http://127.0.0.1:{readiness_server.port}/readiness/simple"
    assert response.url == real
    assert response.attempts == 1
    assert response.note == (
        f"the checklist's URL {readiness_server.checklist_url} answered 404 Not Found, as it does on the real "
        f"service; read the real route {real} instead"
    )
    findings = {f.id: f for f in readiness_findings(response, config)}
    assert all(f.status == "pass" for f in findings.values()), findings
    assert findings["P0.3.a"].message == f"the learning cadence is READY ({response.note})"
    assert findings["P0.3.b"].evidence["note"] == response.note


def test_a_service_at_the_checklist_url_is_read_there() -> None:
    with ReadinessServer(path="/api/learning/readiness/simple") as server:
        response = fetch_readiness(ReadinessConfig(url=server.checklist_url, **FAST))
    assert response.url == server.checklist_url
    assert response.note == ""


def test_a_404_at_the_checklist_url_and_at_the_real_route_is_could_not_check() -> None:
    with ReadinessServer(path="/somewhere/else") as server, pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=server.checklist_url, **FAST))
    real = f"http://127.0.0.1:{server.port}/readiness/simple"
    assert str(caught.value) == f"readiness API {real} answered 404 Not Found"


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


# ---------------------------------------------------------------- exact findings: what the operator reads


def _findings(server: ReadinessServer, body: object) -> tuple[ReadinessConfig, list[Finding]]:
    server.reply = Reply(body=body)
    config = ReadinessConfig(url=server.url, **FAST)
    return config, readiness_findings(fetch_readiness(config), config)


def test_each_finding_names_its_item_and_carries_the_url_and_the_body_it_judged(
    readiness_server: ReadinessServer,
) -> None:
    for body in (
        {"ready": True, "actions": ["calibration"]},
        {"actions": ["calibration"]},
        {"ready": False, "actions": ["calibration"]},
        {"ready": "true", "actions": ["calibration"]},
        ["calibration"],
    ):
        _, findings = _findings(readiness_server, body)
        assert [f.id for f in findings] == ["P0.3.a", "P0.3.b", "P0.3.c"], body
        for finding in findings:
            assert finding.evidence == {"url": readiness_server.url, "body": body}, finding


def test_the_ready_verdicts_read_exactly(readiness_server: ReadinessServer) -> None:
    cases = {
        "pass: the learning cadence is READY": {"ready": True, "actions": []},
        "fail: the readiness answer has no 'ready' field": {"actions": []},
        "fail: the learning cadence is NOT READY": {"ready": False, "reason": "", "actions": []},
        "fail: 'ready' must be the JSON boolean true, got str 'true'": {"ready": "true", "actions": []},
        "fail: 'ready' must be the JSON boolean true, got int 1 (reason: warming up)": {
            "ready": 1, "reason": "warming up", "actions": [],
        },
    }  # fmt: skip
    for expected, body in cases.items():
        _, findings = _findings(readiness_server, body)
        assert f"{findings[0].status}: {findings[0].message}" == expected


def test_a_404_on_the_real_route_adds_no_route_hint(readiness_server: ReadinessServer) -> None:
    readiness_server.reply = Reply()
    url = f"http://127.0.0.1:{readiness_server.port}/readiness/simple/"  # the real route; the server wants no "/"
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=url, **FAST))
    assert str(caught.value) == f"readiness API {url} answered 404 Not Found"


@pytest.mark.parametrize(
    ("path", "shown"),
    [("/api/learning/readiness/simpleX", None), ("", "/"), ("/readiness/simpleX", None)],
)
def test_a_404_elsewhere_names_the_path_that_was_asked_and_the_real_one(
    readiness_server: ReadinessServer, path: str, shown: str | None
) -> None:
    readiness_server.reply = Reply()
    url = f"http://127.0.0.1:{readiness_server.port}{path}"
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=url, **FAST))
    real = f"http://127.0.0.1:{readiness_server.port}/readiness/simple"
    assert str(caught.value) == (
        f"readiness API {url} answered 404 Not Found; the real quantum-learning-api serves GET /readiness/simple "
        f'(alias /cadence/ready), not {shown or path} — set readiness.url = "{real}"'
    )


def test_the_same_origin_rule_fills_in_the_default_port_and_ignores_the_hosts_case() -> None:
    assert _origin("http://Ready.Example/x") == ("http", "ready.example", 80)
    assert _origin("https://ready.example/x") == ("https", "ready.example", 443)
    assert _origin("https://ready.example:8443/x") == ("https", "ready.example", 8443)
    assert _origin("http:///x") == ("http", "", 80)


def test_a_redirect_to_another_host_on_the_same_port_is_not_followed() -> None:
    """127.0.0.2 is loopback too, but another host: the rule compares hosts, not only ports."""
    hop = RawHTTPServer(lambda _: http_response(b"", "302 Found", {"Location": f"http://127.0.0.2:{hop.port}/r"}))
    with hop, pytest.raises(ProbeError, match="off the configured host: not followed"):
        fetch_readiness(ReadinessConfig(url=hop.url, **FAST))


@pytest.mark.parametrize(
    ("length", "shown"), [(239, "x" * 237 + "\r\n"), (240, "x" * 238 + "\r\n…"), (402, "x" * 240 + "…")]
)
def test_a_transport_error_of_240_characters_or_more_is_cut_at_240_with_an_ellipsis(length: int, shown: str) -> None:
    """A garbage status line is quoted in the message (http.client's BadStatusLine), but never at length."""
    with RawHTTPServer(b"x" * (length - 2) + b"\r\n") as server, pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=server.url, **{**FAST, "retries": 0}))
    assert str(caught.value).endswith(" 1 attempt(s) within 2 s: connection failed: BadStatusLine: " + shown)


# ---------------------------------------------------------------- compressed bodies


def _compressed(data: bytes, kind: str) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS if kind == "deflate" else 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _fetch_encoded(body: bytes, encoding: str) -> object:
    with RawHTTPServer(http_response(body, headers={"Content-Encoding": encoding})) as server:
        return fetch_readiness(ReadinessConfig(url=server.url, **{**FAST, "retries": 0})).body


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", " GZip "])
def test_a_gzip_or_deflate_body_is_decoded_before_it_is_judged(encoding: str) -> None:
    ready = {"ready": True, "actions": ["calibration"]}
    kind = encoding.strip().lower()
    assert _fetch_encoded(_compressed(json.dumps(ready).encode(), kind), encoding) == ready


@pytest.mark.parametrize("encoding", ["identity", "IDENTITY"])
def test_an_identity_body_is_read_as_it_came(encoding: str) -> None:
    assert _fetch_encoded(b'{"ready": true}', encoding) == {"ready": True}


def test_an_unsupported_content_encoding_is_refused_by_name() -> None:
    with pytest.raises(ProbeError, match=r"/readiness/simple used Content-Encoding 'br', which is not supported$"):
        _fetch_encoded(b'{"ready": true}', "BR")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_corrupt_compressed_body_is_refused_by_kind(encoding: str) -> None:
    with pytest.raises(ProbeError, match=rf"/readiness/simple sent a corrupt {encoding} body: Error -3 "):
        _fetch_encoded(b"this is not compressed at all", encoding)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_body_decoding_to_exactly_the_cap_is_read_and_one_byte_more_is_refused(encoding: str) -> None:
    ready = b'{"ready": true}'
    at_cap = ready + b" " * (MAX_DECODED_BYTES - len(ready))
    assert _fetch_encoded(_compressed(at_cap, encoding), encoding) == {"ready": True}
    with pytest.raises(ProbeError) as caught:
        _fetch_encoded(_compressed(at_cap + b" ", encoding), encoding)
    assert str(caught.value).endswith(
        f"/readiness/simple sent a {encoding} body that decodes to more than {MAX_DECODED_BYTES} bytes (the "
        "decoded-body cap; a compression bomb?): not read"
    )
