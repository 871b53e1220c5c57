"""Bad input against a real ``tandemd``: refused in Dapr's shape and order, never a 500 or a traceback."""
from __future__ import annotations

import http.client as http_client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import Sidecar, SidecarLauncher, component_yaml, free_port, http, wait_until

pytestmark = pytest.mark.e2e

ECHO = Path(__file__).resolve().parents[1] / "apps" / "echo_app.py"
STORES = ["mem", "sq"]
LIMIT = 4096


class World:
    def __init__(self, sidecar: Sidecar, app_port: int, launcher: SidecarLauncher) -> None:
        self.sidecar = sidecar
        self.app_port = app_port
        self.launcher = launcher

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        status, _, data = http(method, self.sidecar.url + path, body,
                               {"content-type": "application/json", **(headers or {})})
        return status, json.loads(data) if data else None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("badinput")
    app_port = free_port()
    app = subprocess.Popen([sys.executable, str(ECHO), str(app_port)])
    launcher = SidecarLauncher(base)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{app_port}/calls"), "the echo app to listen")
        components = "---\n".join([
            component_yaml("mem", "state.in-memory"),
            component_yaml("sq", "state.sqlite", {"connectionString": str(base / "state.db")}),
            component_yaml("pubsub", "pubsub.in-memory"),
            component_yaml("lock", "lock.in-memory"),
        ])
        sidecar = launcher.start(components, app_id="bad", args=(
            "--app-port", str(app_port), "--max-body-size", str(LIMIT)))
        yield World(sidecar, app_port, launcher)
        assert "Traceback" not in sidecar.log()
    finally:
        launcher.stop_all()
        app.terminate()
        app.wait()


def _answers(url: str) -> bool:
    try:
        return bool(http("GET", url, timeout=1)[0] == 200)
    except OSError:
        return False


def _malformed(reply: tuple[int, Any]) -> str:
    status, body = reply
    assert status == 400, reply
    assert body["errorCode"] == "ERR_MALFORMED_REQUEST", body
    return str(body["message"])


# -- 4. NaN and ±Infinity ------------------------------------------------------------------

NOT_JSON_NUMBERS = [b"NaN", b"Infinity", b"-Infinity"]
#: Every route that reads a JSON body, with a body template where ``@`` is the bad number.
JSON_ROUTES = [
    ("POST", "/v1.0/state/mem", b'[{"key": "k", "value": @}]'),
    ("POST", "/v1.0/state/sq", b'[{"key": "k", "value": {"a": [@]}}]'),
    ("POST", "/v1.0/state/mem/bulk", b'{"keys": ["k"], "parallelism": @}'),
    ("POST", "/v1.0/state/sq/transaction",
     b'{"operations": [{"operation": "upsert", "request": {"key": "k", "value": @}}]}'),
    ("POST", "/v1.0-alpha1/lock/lock", b'{"resourceId": "r", "lockOwner": "o", "expiryInSeconds": @}'),
    ("POST", "/v1.0/bindings/nosuch", b'{"operation": "create", "data": @}'),
    ("POST", "/v1.0-alpha1/publish/bulk/pubsub/t",
     b'[{"entryId": "1", "event": @, "contentType": "application/json"}]'),
]


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
@pytest.mark.parametrize(("method", "path", "template"), JSON_ROUTES)
def test_nan_and_infinity_are_refused_on_every_json_route(world: World, method: str, path: str, template: bytes,
                                                          number: bytes) -> None:
    status, body = world.call(method, path, template.replace(b"@", number))
    assert status == 400, body
    assert body["errorCode"] in ("ERR_MALFORMED_REQUEST", "ERR_PUBSUB_EVENTS_SER"), body
    assert "invalid character" in body["message"]


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("number", [b"1e400", b"-1e999"])
def test_numbers_beyond_float64_are_refused_not_stored_as_infinity(world: World, store: str, number: bytes) -> None:
    message = _malformed(world.call("POST", f"/v1.0/state/{store}", b'[{"key": "big", "value": ' + number + b"}]"))
    assert "cannot unmarshal number" in message
    assert world.call("GET", f"/v1.0/state/{store}/big") == (204, None)


@pytest.mark.parametrize("store", STORES)
def test_nothing_is_stored_for_a_refused_nan(world: World, store: str) -> None:
    assert world.call("POST", f"/v1.0/state/{store}", b'[{"key": "nan", "value": NaN}]')[0] == 400
    assert world.call("GET", f"/v1.0/state/{store}/nan") == (204, None)


@pytest.mark.parametrize("data", [b"NaN", b'"\\ud800"', b"[" * 1500 + b"]" * 1500])
def test_a_cloudevent_that_cannot_be_kept_gets_daprs_envelope_error(world: World, data: bytes) -> None:
    event = b'{"id": "1", "source": "s", "type": "t", "specversion": "1.0", "data": ' + data + b"}"
    status, body = world.call("POST", "/v1.0/publish/pubsub/t", event,
                              {"content-type": "application/cloudevents+json"})
    # Dapr's code and status when ``FromCloudEvent`` cannot read the body (500, not the catch-all ERROR).
    assert (status, body["errorCode"]) == (500, "ERR_PUBSUB_CLOUD_EVENTS_SER"), body


# -- 5. lone surrogates and deep nesting: 400, and both stores agree ------------------------

@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("body", [
    b'[{"key": "s", "value": "\\ud800"}]',
    b'[{"key": "s", "value": {"\\udfff": 1}}]',
    b'[{"key": "\\ud800", "value": 1}]',
    b'[{"key": "s", "value": ' + b"[" * 2000 + b"]" * 2000 + b"}]",
    b'[{"key": "s", "value": ' + b"[" * 400 + b"]" * 400 + b"}]",
], ids=["value", "object-key", "state-key", "deep-2000", "deep-400"])
def test_lone_surrogates_and_deep_nesting_are_malformed_in_both_stores(world: World, store: str,
                                                                      body: bytes) -> None:
    _malformed(world.call("POST", f"/v1.0/state/{store}", body))
    assert world.call("GET", f"/v1.0/state/{store}/s") == (204, None)


@pytest.mark.parametrize("store", STORES)
def test_a_surrogate_pair_and_moderate_nesting_round_trip_in_both_stores(world: World, store: str) -> None:
    value = {"smile": "\U0001F600", "nested": json.loads("[" * 100 + "]" * 100)}
    body = json.dumps([{"key": "pair", "value": value}]).encode()  # ASCII: the emoji as a \ud83d\ude00 pair
    assert world.call("POST", f"/v1.0/state/{store}", body)[0] == 204
    assert world.call("GET", f"/v1.0/state/{store}/pair") == (200, value)


@pytest.mark.parametrize(("method", "path", "content_type"), [
    ("POST", "/v1.0/state/mem/transaction", "application/json"),
    ("POST", "/v1.0-alpha1/publish/bulk/pubsub/t", "application/json"),
    ("POST", "/v1.0-alpha1/state/mem/query", "application/json"),
    ("POST", "/v1.0-alpha1/lock/lock", "application/json"),
])
def test_deep_nesting_is_a_400_on_other_json_routes_too(world: World, method: str, path: str,
                                                        content_type: str) -> None:
    status, body = world.call(method, path, b'{"a": ' + b"[" * 1500 + b"]" * 1500 + b"}",
                              {"content-type": content_type})
    assert status != 413, "the body must stay under the limit to reach the parser"
    assert 400 <= status < 500 and body["errorCode"].startswith("ERR_"), body


# -- 6. an over-limit chunked body on invocation: 413 --------------------------------------

def test_an_over_limit_chunked_invocation_gets_413_not_a_500_blaming_the_app(world: World) -> None:
    conn = http_client.HTTPConnection("127.0.0.1", world.sidecar.http_port, timeout=10)
    chunks = [b"x" * 1024] * 8
    try:
        conn.request("POST", "/v1.0/invoke/bad/method/upload", body=iter(chunks), encode_chunked=True)
        reply = conn.getresponse()
        body = json.loads(reply.read())
    finally:
        conn.close()
    assert reply.status == 413, body
    assert body["errorCode"] == "ERR_BODY_READ" and "--max-body-size" in body["message"]


def test_the_target_sidecars_limit_is_a_413_for_the_caller_too(world: World) -> None:
    caller = world.launcher.start({}, app_id="caller")  # its own limit is the default 4Mi
    conn = http_client.HTTPConnection("127.0.0.1", caller.http_port, timeout=10)
    try:
        conn.request("POST", "/v1.0/invoke/bad/method/upload", body=iter([b"x" * 1024] * 8), encode_chunked=True)
        reply = conn.getresponse()
        body = json.loads(reply.read())
    finally:
        conn.close()
        caller.stop()
    assert reply.status == 413, body
    assert body["errorCode"] == "ERR_BODY_READ"
    assert "Traceback" not in caller.log()


def test_a_chunked_invocation_within_the_limit_still_reaches_the_app(world: World) -> None:
    conn = http_client.HTTPConnection("127.0.0.1", world.sidecar.http_port, timeout=10)
    try:
        conn.request("POST", "/v1.0/invoke/bad/method/upload", body=iter([b"a" * 1000, b"b" * 1000]),
                     encode_chunked=True)
        reply = conn.getresponse()
        seen = json.loads(reply.read())
    finally:
        conn.close()
    assert reply.status == 200 and seen["body"] == "a" * 1000 + "b" * 1000


# -- 7. what the HTTP parser refuses, in Dapr's shape; any method token is read -------------

def _raw(world: World, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", world.sidecar.http_port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("request_bytes", [
    b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"GET /v1.0/state/mem/" + b"k" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"(FOO) /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n",
], ids=["bad-header", "long-url", "not-a-token", "tls-hello"])
def test_an_unparsable_request_gets_daprs_json_400(world: World, request_bytes: bytes) -> None:
    status, headers, body = _raw(world, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["errorCode"] == "ERR_MALFORMED_REQUEST" and error["message"].startswith("invalid HTTP request: ")


def test_an_over_long_url_says_so(world: World) -> None:
    status, _, body = _raw(world, b"GET /" + b"k" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400 and "url is too long" in json.loads(body)["message"]


def test_an_unknown_method_token_reaches_the_route_which_decides(world: World) -> None:
    status, headers, body = _raw(world, b"BREW /v1.0/state/mem/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body)["errorCode"] == "ERR_DIRECT_INVOKE"  # Dapr: no such route, so invocation's 404
    status, _, body = _raw(world, b"BREW /v1.0-alpha1/jobs/j HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 501 and json.loads(body)["errorCode"] == "ERR_API_NOT_IMPLEMENTED"


def test_an_unknown_method_token_with_a_body_is_carried_to_the_app(world: World) -> None:
    status, _, body = _raw(world, b"BREW /v1.0/invoke/bad/method/pot HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                  b"Connection: close\r\n\r\ntea")
    # The echo app (Python's http.server) knows no BREW: its own 501 shows the method reached it intact.
    assert status == 501 and b"'BREW'" in body


def test_requests_after_an_unknown_method_on_one_connection_are_read_as_usual(world: World) -> None:
    status, _, body = _raw(world, b"BREW /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                  b"GET /v1.0/state/mem/none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 404  # the first reply; the second one followed on the same connection
    assert body.count(b"HTTP/1.1 204") == 1


# -- 8. validation order: the store before the body ----------------------------------------

@pytest.mark.parametrize(("path", "code", "status"), [
    ("/v1.0/state/nosuch", "ERR_STATE_STORE_NOT_FOUND", 400),
    ("/v1.0/state/nosuch/bulk", "ERR_STATE_STORE_NOT_FOUND", 400),
    ("/v1.0/state/nosuch/transaction", "ERR_STATE_STORE_NOT_FOUND", 400),
    ("/v1.0-alpha1/state/nosuch/query", "ERR_STATE_STORE_NOT_FOUND", 400),
    ("/v1.0/publish/nosuch/t", "ERR_PUBSUB_NOT_FOUND", 404),
    ("/v1.0-alpha1/publish/bulk/nosuch/t", "ERR_PUBSUB_NOT_FOUND", 404),
    ("/v1.0/publish/bulk/nosuch/t", "ERR_PUBSUB_NOT_FOUND", 404),
])
def test_an_unknown_store_is_reported_before_a_bad_body(world: World, path: str, code: str,
                                                                           status: int) -> None:
    reply = world.call("POST", path, b"{not json", {"content-type": "application/cloudevents+json"})
    assert reply[0] == status and reply[1]["errorCode"] == code, reply


@pytest.mark.parametrize("path", ["/v1.0-alpha1/lock/nosuch", "/v1.0/bindings/nosuch"])
def test_lock_and_bindings_read_the_body_first_as_dapr_does(world: World, path: str) -> None:
    # Dapr decodes these bodies before it looks the component up (protojson / OutputBindingRequest).
    _malformed(world.call("POST", path, b"{not json"))


# -- 9. Dapr APIs this sidecar does not serve yet: 501, naming the API ---------------------

@pytest.mark.parametrize(("method", "path", "api"), [
    ("POST", "/v1.0-alpha1/jobs/nightly", "jobs"),
    ("GET", "/v1.0/configuration/store?key=a", "configuration"),
    ("GET", "/v1.0-alpha1/configuration/store/subscribe", "configuration"),
    ("POST", "/v1.0-beta1/workflows/dapr/flow/start", "workflows"),
    ("GET", "/v1.0/workflows/dapr/instance-1", "workflows"),
    ("PUT", "/v1.0-alpha1/crypto/vault/encrypt", "crypto"),
    ("POST", "/v1.0-alpha1/conversation/llm/converse", "conversation"),
    ("POST", "/v1.0-alpha2/conversation/llm/converse", "conversation"),
])
def test_apis_not_served_yet_answer_501_naming_the_api(world: World, method: str, path: str, api: str) -> None:
    for headers in ({}, {"dapr-app-id": "bad"}):  # a registered Dapr route, never handed to invocation
        status, body = world.call(method, path, b"{}", headers)
        assert status == 501, body
        assert body["errorCode"] == "ERR_API_NOT_IMPLEMENTED"
        assert f"the {api} API is not implemented by this sidecar" in body["message"]
