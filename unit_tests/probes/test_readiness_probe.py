"""The readiness probe against a real HTTP server on loopback, driven through every bad answer."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pytest

from calpolicy.localenv.ports import free_port
from calpolicy.localenv.readiness_server import ReadinessServer, Reply
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.readiness import (
    MAX_DECODED_BYTES,
    MAX_RAW_BYTES,
    _origin,
    fetch_readiness,
    readiness_findings,
)
from calpolicy.vocabulary.config import ReadinessConfig
from calpolicy.vocabulary.verdict import Finding
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


@pytest.mark.parametrize(
    "extra", ["retrain", "weights_update", "promotion", "PROMOTION", "retrain_full", "model_deploy", "rollout"]
)
def test_a_forbidden_action_or_one_like_it_fails_naming_it(readiness_server: ReadinessServer, extra: str) -> None:
    found = _verdict(readiness_server, Reply(body={"ready": True, "actions": ["calibration", extra]}))
    assert found["P0.3.b"].startswith("pass")
    assert found["P0.3.c"] == (
        f"fail: forbidden action(s) ['{extra}']: they change what trades live (readiness.forbidden_actions / "
        f"readiness.forbidden_patterns) — offered: calibration: allowed, {extra}: forbidden"
    )


def test_the_real_hosts_healthy_answer_passes_without_a_waiver(readiness_server: ReadinessServer) -> None:
    """Issue 20 point 2: cadence_policy.py offers shadow once >= 100 trades span >= 3 days; the default lets it by."""
    body = {"ready": True, "reason": "✅ All gates passed", "actions": ["calibration", "shadow"]}
    readiness_server.reply = Reply(body=body)
    config = ReadinessConfig(url=readiness_server.url, **FAST)
    findings = {f.id: f for f in readiness_findings(fetch_readiness(config), config)}
    assert {f.status for f in findings.values()} == {"pass"}, findings
    assert findings["P0.3.c"].message == (
        "every action is allowed (no live effect): calibration: allowed, shadow: allowed"
    )
    assert findings["P0.3.c"].evidence["classes"] == [
        {"action": "calibration", "class": "allowed"},
        {"action": "shadow", "class": "allowed"},
    ]


def test_an_unknown_action_is_a_stop_naming_it(readiness_server: ReadinessServer) -> None:
    found = _verdict(readiness_server, Reply(body={"ready": True, "actions": ["calibration", "shadow", "rebalance"]}))
    assert found["P0.3.c"].startswith("fail: unknown action(s) ['rebalance']: nobody has classified them")
    assert found["P0.3.c"].endswith("offered: calibration: allowed, shadow: allowed, rebalance: unknown")


def test_the_real_alias_route_is_read_as_well(readiness_server: ReadinessServer) -> None:
    readiness_server.reply = Reply()  # the localenv's default: the real host's healthy answer
    config = ReadinessConfig(url=readiness_server.alias_url, **FAST)
    response = fetch_readiness(config)
    assert response.body["actions"] == ["calibration", "shadow"]
    assert {f.status for f in readiness_findings(response, config)} == {"pass"}


def test_the_action_classes_are_configurable() -> None:
    from calpolicy.preflight.probes.readiness import classify_action

    config = ReadinessConfig(allowed_actions=("calibration",), forbidden_actions=("shadow",), forbidden_patterns=("x",))
    assert [classify_action(a, config) for a in ("Calibration", "shadow", "xgb_refit", "retrain")] == [
        "allowed", "forbidden", "forbidden", "unknown",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="empty pattern"):
        ReadinessConfig(forbidden_patterns=("train", " "))


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
        {"ready": True},
        {"ready": True, "actions": "calibration"},
        {"ready": True, "actions": []},
    ):
        _, findings = _findings(readiness_server, body)
        assert [f.id for f in findings] == ["P0.3.a", "P0.3.b", "P0.3.c"], body
        for finding in findings:
            evidence = {k: v for k, v in finding.evidence.items() if k != "classes"}  # P0.3.c adds each action's class
            assert evidence == {"url": readiness_server.url, "body": body}, finding


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


@pytest.mark.parametrize(
    ("actions", "offered", "allowed"),
    [
        (
            ["calibration"],
            "pass: 'calibration' is offered: ['calibration']",
            "pass: every action is allowed (no live effect): calibration: allowed",
        ),
        ([], "fail: 'calibration' is not in actions []", "pass: every action is allowed (no live effect): no action"),
        ("calibration", *["fail: 'actions' must be a list of strings, got 'calibration'"] * 2),
        (["calibration", 7], *["fail: 'actions' must be a list of strings, got ['calibration', 7]"] * 2),
        (
            ["retrain"],
            "fail: 'calibration' is not in actions ['retrain']",
            "fail: forbidden action(s) ['retrain']: they change what trades live (readiness.forbidden_actions / "
            "readiness.forbidden_patterns) — offered: retrain: forbidden",
        ),
    ],
)
def test_the_action_verdicts_read_exactly(
    readiness_server: ReadinessServer, actions: object, offered: str, allowed: str
) -> None:
    """P0.3.b and P0.3.c as the operator reads them, for each shape of 'actions' (P0.3.c fails on a malformed
    list too: a list the gate cannot read is not a list of allowed actions)."""
    _, findings = _findings(readiness_server, {"ready": True, "actions": actions})
    assert [f"{f.status}: {f.message}" for f in findings[1:]] == [offered, allowed]


def test_a_forbidden_action_is_named_in_the_evidence(readiness_server: ReadinessServer) -> None:
    body = {"ready": True, "actions": ["calibration", "retrain", "promotion"]}
    _, findings = _findings(readiness_server, body)
    assert findings[2].evidence == {
        "url": readiness_server.url,
        "body": body,
        "classes": [
            {"action": "calibration", "class": "allowed"},
            {"action": "retrain", "class": "forbidden"},
            {"action": "promotion", "class": "forbidden"},
        ],
        "forbidden": ["retrain", "promotion"],
    }


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


@pytest.mark.parametrize("encoding", ["identity", "IDENTITY", "\x0b"])  # a blank value (http.client keeps \x0b)
def test_an_identity_body_is_read_as_it_came(encoding: str) -> None:
    assert _fetch_encoded(b'{"ready": true}', encoding) == {"ready": True}


def test_an_unsupported_content_encoding_is_refused_by_name() -> None:
    with pytest.raises(ProbeError, match=r"/readiness/simple used Content-Encoding 'br', which is not supported$"):
        _fetch_encoded(b'{"ready": true}', "BR")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_corrupt_compressed_body_is_refused_by_kind(encoding: str) -> None:
    with pytest.raises(ProbeError, match=rf"/readiness/simple sent a corrupt {encoding} body: Error -3 "):
        _fetch_encoded(b"this is not compressed at all", encoding)


def test_a_body_labelled_gzip_must_be_gzip_not_another_zlib_format() -> None:
    """The label says how to decode; a zlib-wrapped (deflate) body sent as gzip is corrupt, not guessed at."""
    with pytest.raises(ProbeError, match=r"/readiness/simple sent a corrupt gzip body: Error -3 .*incorrect header"):
        _fetch_encoded(_compressed(b'{"ready": true}', "deflate"), "gzip")


def test_a_gzip_bomb_is_inflated_no_further_than_the_cap() -> None:
    """In process, so the bound itself is measured: 16 MiB of whitespace must never all be in memory at once."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join([packer.compress(b"{"), *(packer.compress(b" " * 2**20) for _ in range(16)), packer.flush()])
    tracemalloc.start()
    try:
        with pytest.raises(ProbeError, match=f"decodes to more than {MAX_DECODED_BYTES} bytes"):
            _fetch_encoded(bomb, "gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 * MAX_DECODED_BYTES, peak  # the cap and some change, not the 16 MiB the bomb expands to


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


# ---------------------------------------------------------------- the exchange: attempts, deadline, statuses


def test_the_checklist_url_with_a_trailing_slash_falls_back_to_the_real_route_too(
    readiness_server: ReadinessServer,
) -> None:
    readiness_server.reply = Reply(body={"ready": True, "actions": ["calibration"]})
    response = fetch_readiness(ReadinessConfig(url=readiness_server.checklist_url + "/", **FAST))
    assert response.url == f"http://127.0.0.1:{readiness_server.port}/readiness/simple"
    assert response.note.startswith(f"the checklist's URL {readiness_server.checklist_url}/ answered 404 Not Found")


def test_a_refused_connection_is_tried_retries_plus_one_times_a_fifth_of_a_second_apart() -> None:
    url = f"http://127.0.0.1:{free_port()}/readiness/simple"
    started = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=url, **{**FAST, "retries": 2, "deadline_s": 10.0}))
    elapsed = time.monotonic() - started
    assert str(caught.value) == (
        f"readiness API {url} could not be read after 3 attempt(s) within 10 s: connection failed: "
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert 0.5 <= elapsed < 2.0, elapsed  # three pauses of 0.2 s; the deadline (10 s) is not waited out


def test_the_pause_after_a_failed_attempt_never_outlasts_the_deadline() -> None:
    url = f"http://127.0.0.1:{free_port()}/readiness/simple"
    started = time.monotonic()
    with pytest.raises(ProbeError, match=r"could not be read after 1 attempt\(s\) within 0\.05 s"):
        fetch_readiness(ReadinessConfig(url=url, **{**FAST, "retries": 5, "deadline_s": 0.05}))
    assert time.monotonic() - started < 0.15  # a full 0.2 s pause would overrun the 0.05 s deadline


def test_a_deadline_too_short_for_any_attempt_says_no_attempt_was_made(readiness_server: ReadinessServer) -> None:
    before = readiness_server.requests
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=readiness_server.url, **{**FAST, "deadline_s": 1e-9}))
    assert str(caught.value) == (
        f"readiness API {readiness_server.url} could not be read after 0 attempt(s) within 1e-09 s: no attempt was made"
    )
    assert readiness_server.requests == before


def test_the_response_carries_the_status_and_the_time_the_answer_took(readiness_server: ReadinessServer) -> None:
    readiness_server.reply = Reply(delay_s=0.3)
    response = fetch_readiness(ReadinessConfig(url=readiness_server.url, **FAST))
    assert response.status_code == 200
    assert 300.0 <= response.elapsed_ms < 2000.0, response.elapsed_ms


def test_an_unexpected_status_is_reported_with_the_first_200_bytes_of_its_body_even_if_not_utf8(
    readiness_server: ReadinessServer,
) -> None:
    readiness_server.reply = Reply(status=403, raw=b"\xff" + b"x" * 300, content_type="text/plain")
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=readiness_server.url, **FAST))
    assert str(caught.value) == f"readiness API {readiness_server.url} answered HTTP 403: \ufffd" + "x" * 199


def test_a_failing_real_route_behind_the_checklist_url_says_how_it_was_reached(
    readiness_server: ReadinessServer,
) -> None:
    readiness_server.reply = Reply(body={"detail": "database is locked"}, status=503)
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=readiness_server.checklist_url, **FAST))
    real = f"http://127.0.0.1:{readiness_server.port}/readiness/simple"
    assert str(caught.value) == (
        f'readiness API {real} could not be read after 2 attempt(s) within 2 s: HTTP 503: {{"detail": "database is '
        f"locked\"}} (the checklist's URL {readiness_server.checklist_url} answered 404 Not Found, as it does on the "
        f"real service; read the real route {real} instead)"
    )


def test_the_overall_deadline_holds_when_it_is_shorter_than_a_second() -> None:
    """A server trickling a byte every 0.1 s never trips the socket timeout; the watchdog stops it at 0.4 s."""
    full = http_response(b'{"ready": true, "actions": ["calibration"]}')
    with RawHTTPServer(full, byte_delay_s=0.1) as server:
        started = time.monotonic()
        with pytest.raises(ProbeError, match=r"within the overall deadline of 0\.4 s \(readiness\.deadline_s\)"):
            fetch_readiness(ReadinessConfig(url=server.url, connect_timeout_s=5, read_timeout_s=5, deadline_s=0.4))
        assert time.monotonic() - started < 0.8


# ---------------------------------------------------------------- redirects


def _hops(line: str) -> bytes:
    """``/hop/N`` redirects to ``/hop/N-1`` on the same host; ``/hop/0`` answers ready."""
    left = int(line.split()[1].rsplit("/", 1)[1])
    if left:
        return http_response(b"", "302 Found", {"Location": f"/hop/{left - 1}"})
    return http_response(b'{"ready": true}')


def test_three_redirects_on_the_same_host_are_followed_and_a_fourth_is_not() -> None:
    with RawHTTPServer(_hops) as server:
        response = fetch_readiness(ReadinessConfig(url=f"http://127.0.0.1:{server.port}/hop/3", **FAST))
        assert (response.body, response.url) == ({"ready": True}, f"http://127.0.0.1:{server.port}/hop/0")
        url = f"http://127.0.0.1:{server.port}/hop/4"
        with pytest.raises(ProbeError) as caught:
            fetch_readiness(ReadinessConfig(url=url, **FAST))
    assert str(caught.value) == f"readiness API {url} redirected more than 3 times"


def test_a_redirect_without_a_location_names_its_status() -> None:
    with RawHTTPServer(http_response(b"", "303 See Other")) as server, pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=server.url, **FAST))
    assert str(caught.value) == f"readiness API {server.url} answered HTTP 303 without a Location"


# ---------------------------------------------------------------- the raw-body cap


def test_a_body_of_exactly_the_raw_cap_is_read_and_one_byte_more_is_refused() -> None:
    at_cap = b'{"ready": true}' + b" " * (MAX_RAW_BYTES - len(b'{"ready": true}'))
    with RawHTTPServer(http_response(at_cap)) as server:  # announced, and read in many chunks
        assert fetch_readiness(ReadinessConfig(url=server.url, **FAST)).body == {"ready": True}
    with RawHTTPServer(http_response(at_cap + b" ")) as server, pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=server.url, **FAST))
    assert str(caught.value) == (
        f"readiness API {server.url} announced a {MAX_RAW_BYTES + 1}-byte body, over the {MAX_RAW_BYTES}-byte "
        "cap: not read"
    )

    def unannounced(body: bytes) -> Iterator[bytes]:
        yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + body

    with RawHTTPServer(stream=lambda: unannounced(at_cap)) as server:
        assert fetch_readiness(ReadinessConfig(url=server.url, **FAST)).body == {"ready": True}
    with RawHTTPServer(stream=lambda: unannounced(at_cap + b" ")) as server, pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=server.url, **FAST))
    assert str(caught.value) == (
        f"readiness API {server.url} sent a body over the {MAX_RAW_BYTES}-byte cap: not read further"
    )


# ---------------------------------------------------------------- the request itself


def _asked(url_of: Callable[[int], str]) -> tuple[str, dict[str, str]]:
    """The request line and headers (names lower-cased) the probe sent for ``url_of(port)``."""
    with RawHTTPServer(http_response(b'{"ready": true}')) as server:
        fetch_readiness(ReadinessConfig(url=url_of(server.port), **FAST))
    line, *fields = server.requests[0].decode("latin-1").split("\r\n\r\n")[0].split("\r\n")
    return line, {name.lower(): value.strip() for name, value in (field.split(":", 1) for field in fields)}


def test_the_request_asks_for_json_offers_compression_names_itself_and_sends_the_urls_credentials() -> None:
    line, headers = _asked(lambda port: f"http://ops:s%3Acr%40t@127.0.0.1:{port}/readiness/simple?window=3d")
    assert line == "GET /readiness/simple?window=3d HTTP/1.1"
    assert headers["accept"].lower() == "application/json"  # media types and codings are case-insensitive
    assert headers["accept-encoding"].lower() == "gzip, deflate"
    assert headers["user-agent"] == "calpolicy"  # what the service's access log shows for the gate
    scheme, credentials = headers["authorization"].split(" ")
    assert scheme.lower() == "basic"
    assert base64.b64decode(credentials) == b"ops:s:cr@t"  # percent-escapes undone before encoding


def test_a_user_name_without_a_password_is_sent_with_an_empty_password() -> None:
    _, headers = _asked(lambda port: f"http://ops@127.0.0.1:{port}/readiness/simple")
    assert base64.b64decode(headers["authorization"].split(" ")[1]) == b"ops:"


def test_a_url_without_path_or_query_asks_for_the_root_and_sends_no_credentials() -> None:
    line, headers = _asked(lambda port: f"http://127.0.0.1:{port}")
    assert line == "GET / HTTP/1.1"
    assert "authorization" not in headers


def test_an_https_url_is_spoken_in_tls_so_a_plain_http_server_cannot_answer_it(
    readiness_server: ReadinessServer,
) -> None:
    url = readiness_server.url.replace("http://", "https://")
    with pytest.raises(ProbeError, match=r"could not be read after 1 attempt\(s\).*connection failed: SSLError"):
        fetch_readiness(ReadinessConfig(url=url, **{**FAST, "retries": 0}))


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose listener never accepts and whose backlog is full: a connect there hangs (SYNs dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    yield port
    for sock in (*fillers, listener):
        sock.close()


def test_a_connect_that_hangs_is_given_up_at_the_connect_timeout(unanswered_port: int) -> None:
    url = f"http://127.0.0.1:{unanswered_port}/readiness/simple"
    started = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        fetch_readiness(ReadinessConfig(url=url, connect_timeout_s=0.3, read_timeout_s=5, deadline_s=5, retries=0))
    assert str(caught.value) == (
        f"readiness API {url} could not be read after 1 attempt(s) within 5 s: no answer within the timeout "
        "(connect 0.3 s, read 5 s)"
    )
    assert time.monotonic() - started < 2.0


def test_a_connect_that_hangs_is_given_up_at_the_overall_deadline_when_that_comes_first(unanswered_port: int) -> None:
    """The watchdog cannot shut a socket that is still connecting: the connect's own timeout must be the rest
    of the deadline."""
    url = f"http://127.0.0.1:{unanswered_port}/readiness/simple"
    started = time.monotonic()
    with pytest.raises(ProbeError, match=r"no complete answer within the overall deadline of 0\.4 s"):
        fetch_readiness(ReadinessConfig(url=url, connect_timeout_s=5, read_timeout_s=5, deadline_s=0.4, retries=3))
    assert time.monotonic() - started < 2.0
