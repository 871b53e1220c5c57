"""Health, metadata, shutdown, unknown routes, API token, body limit, the app channel."""
from __future__ import annotations

import http.server as http_server
import json
import threading
import time
from collections.abc import Iterator

import pytest
from support import free_port, http, http_json

pytestmark = pytest.mark.e2e

MEMORY = {"statestore": "state.in-memory"}


class _RecordingApp(http_server.ThreadingHTTPServer):
    """A stand-in app that records the requests its sidecar makes."""

    def __init__(self, port: int) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        app = self

        class Handler(http_server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                app.calls.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = json.dumps({"entities": ["Counter"]}).encode() if self.path == "/dapr/config" else b"[]"
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", port), Handler)


@pytest.fixture
def app_port() -> Iterator[int]:
    yield free_port()


def test_health_routes(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY)
    assert http("GET", sidecar.url + "/v1.0/healthz")[0] == 204
    assert http("GET", sidecar.url + "/v1.0/healthz/outbound")[0] == 204
    assert http("GET", sidecar.url + "/v1.0/healthz?appid=testapp")[0] == 204
    status, body = http_json("GET", sidecar.url + "/v1.0/healthz?appid=other")
    assert status == 500 and body["errorCode"] == "ERR_HEALTH_APPID_NOT_MATCH"


def test_metadata_describes_the_sidecar(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY, app_id="meta")
    status, doc = http_json("GET", sidecar.url + "/v1.0/metadata")
    assert status == 200
    assert doc["id"] == "meta" and doc["runtimeVersion"]
    [component] = doc["components"]
    assert component["name"] == "statestore" and component["type"] == "state.in-memory"
    assert component["version"] == "v1"
    assert {"ETAG", "TRANSACTIONAL", "TTL", "ACTOR"} <= set(component["capabilities"])
    assert doc["extended"]["daprRuntimeVersion"] == doc["runtimeVersion"]
    assert any(p["name"] == "tandem.builtin" for p in doc["plugins"])


def test_metadata_is_never_empty_and_takes_extended_attributes(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd({})
    assert http("PUT", sidecar.url + "/v1.0/metadata/cliPID", b"4242")[0] == 204
    doc = http_json("GET", sidecar.url + "/v1.0/metadata")[1]
    assert doc["id"] == "testapp" and doc["components"] == []
    assert doc["extended"]["cliPID"] == "4242"


def test_unknown_routes_get_daprs_404(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY)
    for method, path in [("GET", "/nothing/here"), ("PATCH", "/v1.0/state/statestore"), ("GET", "/v1.0/shutdown")]:
        status, body = http_json(method, sidecar.url + path)
        assert status == 404, path
        assert body["errorCode"] == "ERR_DIRECT_INVOKE"
        assert "dapr-app-id" in body["message"]


def test_duplicate_and_trailing_slashes_are_cleaned(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY)
    assert http("GET", sidecar.url + "//v1.0//healthz/")[0] == 204


def test_shutdown_answers_then_exits_cleanly(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY)
    assert http("POST", sidecar.url + "/v1.0/shutdown")[0] == 204
    assert sidecar.process.wait(15) == 0
    assert list((sidecar.home / "run").glob("*.json")) == []


def test_sigterm_exits_zero_and_removes_the_run_entry(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY)
    assert len(list((sidecar.home / "run").glob("*.json"))) == 1
    assert sidecar.stop() == 0
    assert list((sidecar.home / "run").glob("*.json")) == []


def test_api_token_is_required_except_for_health(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY, env={"DAPR_API_TOKEN": "s3cret"})
    item = json.dumps([{"key": "k", "value": 1}]).encode()
    status, headers, body = http("POST", sidecar.url + "/v1.0/state/statestore", item)
    assert (status, body) == (401, b"invalid api token") and headers["content-type"].startswith("text/plain")
    assert http("POST", sidecar.url + "/v1.0/state/statestore", item, {"dapr-api-token": "wrong"})[0] == 401
    assert http("GET", sidecar.url + "/v1.0/metadata")[0] == 401
    assert http("POST", sidecar.url + "/v1.0/state/statestore", item, {"dapr-api-token": "s3cret"})[0] == 204
    assert http("GET", sidecar.url + "/v1.0/state/statestore/k", headers={"dapr-api-token": "s3cret"})[0] == 200
    assert http("GET", sidecar.url + "/v1.0/healthz")[0] == 204
    assert http("GET", sidecar.url + "/v1.0/healthz/outbound")[0] == 204


def test_request_bodies_over_the_limit_get_413(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY, args=("--max-body-size", "1Ki"))
    small = json.dumps([{"key": "k", "value": "x" * 100}]).encode()
    big = json.dumps([{"key": "k", "value": "x" * 2000}]).encode()
    assert http("POST", sidecar.url + "/v1.0/state/statestore", small)[0] == 204
    status, _, body = http("POST", sidecar.url + "/v1.0/state/statestore", big)
    assert status == 413 and json.loads(body)["errorCode"] == "ERR_BODY_READ"
    assert http("GET", sidecar.url + "/v1.0/healthz")[0] == 204


def test_a_chunked_body_over_the_limit_gets_413(tandemd) -> None:  # type: ignore[no-untyped-def]
    import http.client as http_client

    sidecar = tandemd(MEMORY, args=("--max-body-size", "1Ki"))
    conn = http_client.HTTPConnection("127.0.0.1", sidecar.http_port, timeout=10)
    chunks = (b'[{"key": "k", "value": "' + b"x" * 600 + b'"', b", " + b'{"key": "j", "value": "' + b"y" * 600 + b'"}]')
    conn.request("POST", "/v1.0/state/statestore", body=iter(chunks), encode_chunked=True,
                 headers={"content-type": "application/json"})
    try:
        reply = conn.getresponse()
        assert reply.status == 413
        assert json.loads(reply.read())["errorCode"] == "ERR_BODY_READ"
    finally:
        conn.close()


def test_outbound_apis_answer_before_the_app_port_opens(tandemd, app_port: int) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY, args=("--app-port", str(app_port)))
    assert http("GET", sidecar.url + "/v1.0/healthz")[0] == 204
    assert http_json("POST", sidecar.url + "/v1.0/state/statestore", [{"key": "boot", "value": 1}])[0] == 204
    assert http("GET", sidecar.url + "/v1.0/state/statestore/boot")[2] == b"1"
    doc = http_json("GET", sidecar.url + "/v1.0/metadata")[1]
    assert doc["appConnectionProperties"]["port"] == app_port


def test_the_app_channel_sends_app_api_token_once_the_app_listens(tandemd, app_port: int) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd(MEMORY, args=("--app-port", str(app_port)), env={"APP_API_TOKEN": "app-secret"})
    time.sleep(0.3)  # the app is not listening yet: the sidecar must keep waiting, not fail
    app = _RecordingApp(app_port)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    try:
        deadline = time.monotonic() + 10
        while not app.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        method, path, headers = app.calls[0]
        assert (method, path) == ("GET", "/dapr/config")
        assert headers["dapr-api-token"] == "app-secret"
        assert headers["dapr-app-id"] == "testapp"
    finally:
        app.shutdown()
        app.server_close()


def test_the_sidecar_listens_on_loopback_only_by_default(tandemd) -> None:  # type: ignore[no-untyped-def]
    import psutil

    sidecar = tandemd(MEMORY)
    listening = [c.laddr for c in psutil.Process(sidecar.process.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)
    assert sidecar.http_port in {addr.port for addr in listening}
