"""Service invocation across two real sidecars and a plain HTTP app (spec §1)."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import Sidecar, SidecarLauncher, free_port, http, http_json

pytestmark = pytest.mark.e2e

ECHO = Path(__file__).resolve().parents[1] / "apps" / "echo_app.py"


def start_echo(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(ECHO), str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if http("GET", f"http://127.0.0.1:{port}/calls", timeout=1)[0] == 200:
                return proc
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the echo app did not start")


class Pair:
    """App A's sidecar (no app) and app B (the echo app) beside its sidecar."""

    def __init__(self, launcher: SidecarLauncher) -> None:
        self.launcher = launcher
        self.app_port = free_port()
        self.app = start_echo(self.app_port)
        self.b = self.start_b()
        self.a = launcher.start({}, app_id="a", args=("--app-startup-wait", "1"))  # unknown ids fail soon

    def start_b(self, **kw: object) -> Sidecar:
        return self.launcher.start({}, app_id="b", args=("--app-port", str(self.app_port)), **kw)  # type: ignore[arg-type]

    def calls(self) -> int:
        return json.loads(http("GET", f"http://127.0.0.1:{self.app_port}/calls")[2])["calls"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    launcher = SidecarLauncher(tmp_path_factory.mktemp("invoke"))
    pair = Pair(launcher)
    yield pair
    launcher.stop_all()
    pair.app.terminate()
    pair.app.wait()


def echo(reply: tuple[int, dict[str, str], bytes]) -> dict:  # type: ignore[type-arg]
    return json.loads(reply[2])


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_every_verb_carries_path_query_headers_and_body(pair: Pair, verb: str) -> None:
    body = b'{"order": 1}' if verb != "GET" else None
    status, headers, data = http(verb, f"{pair.a.url}/v1.0/invoke/b/method/orders/42?x=1&y=a%20b", body,
                                 {"x-custom": "kept", "content-type": "application/json"})
    assert status == 200 and headers["x-echo"] == "yes"
    seen = json.loads(data)
    assert seen["method"] == verb
    assert seen["path"] == "/orders/42?x=1&y=a%20b"
    assert seen["headers"]["x-custom"] == "kept"
    assert seen["body"] == (body or b"").decode()
    if body:
        assert seen["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("code", [200, 201, 204, 404, 500])
def test_the_apps_status_headers_and_body_come_back(pair: Pair, code: int) -> None:
    status, headers, data = http("POST", f"{pair.a.url}/v1.0/invoke/b/method/s?status={code}", b"x")
    assert status == code and headers["x-echo"] == "yes"
    if code == 204:
        assert data == b""
    else:
        assert echo((status, headers, data))["body"] == "x"


def test_an_error_answer_of_the_app_is_not_retried(pair: Pair) -> None:
    before = pair.calls()
    assert http("POST", f"{pair.a.url}/v1.0/invoke/b/method/fail?status=500", b"")[0] == 500
    assert pair.calls() == before + 1


def test_header_form_and_url_form_give_the_same_result(pair: Pair) -> None:
    by_url = echo(http("POST", f"{pair.a.url}/v1.0/invoke/b/method/neworder?q=1", b"hi"))
    by_header = echo(http("POST", f"{pair.a.url}/neworder?q=1", b"hi", {"dapr-app-id": "b"}))
    basic = base64.b64encode(b"dapr-app-id:b").decode()
    by_basic = echo(http("POST", f"{pair.a.url}/neworder?q=1", b"hi", {"authorization": f"Basic {basic}"}))
    for seen in (by_header, by_basic):
        assert (seen["method"], seen["path"], seen["body"]) == (by_url["method"], by_url["path"], by_url["body"])
    assert "dapr-app-id" not in by_header["headers"]
    assert "authorization" not in by_basic["headers"]


def test_the_header_form_does_not_shadow_sidecar_routes(pair: Pair) -> None:
    assert http("GET", f"{pair.a.url}/v1.0/healthz", headers={"dapr-app-id": "b"})[0] == 204


def test_daprs_headers_are_added_and_private_ones_removed(pair: Pair) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    seen = echo(http("GET", f"{pair.a.url}/v1.0/invoke/b/method/h", None,
                     {"dapr-api-token": "not-for-the-app", "traceparent": parent}))["headers"]
    assert seen["dapr-caller-app-id"] == "a" and seen["dapr-callee-app-id"] == "b"
    assert seen["x-forwarded-for"] and seen["x-forwarded-host"] and "for=" in seen["forwarded"]
    assert "dapr-api-token" not in seen
    trace = seen["traceparent"].split("-")
    assert trace[1] == "0af7651916cd43dd8448eb211c80319c" and trace[2] != "b7ad6b7169203331"


def test_a_call_to_ones_own_app_id_goes_straight_to_the_app(pair: Pair) -> None:
    seen = echo(http("GET", f"{pair.b.url}/v1.0/invoke/b/method/self"))
    assert seen["path"] == "/self" and "dapr-caller-app-id" not in seen["headers"]


@pytest.mark.parametrize("path,expected", [
    ("/v1.0/invoke/b/method/a//b", "/a/b"),
    ("/v1.0/invoke/b/method/a/./b/../c", "/a/c"),
    ("/v1.0/invoke/b/method/../../etc/passwd", "/etc/passwd"),
    ("/v1.0/invoke/b/method/", "/"),
    ("/v1.0/invoke/b/method/x%2Fy", "/x%2Fy"),
])
def test_method_paths_are_normalised(pair: Pair, path: str, expected: str) -> None:
    assert echo(http("GET", pair.a.url + path))["path"] == expected


@pytest.mark.parametrize("method", ["a%00b", "a%23b", "a%3Fb", "a%0Ab"])
def test_unsafe_method_paths_are_refused(pair: Pair, method: str) -> None:
    status, body = http_json("GET", f"{pair.a.url}/v1.0/invoke/b/method/{method}")
    assert status == 400 and body["errorCode"] == "ERR_DIRECT_INVOKE"


def test_no_app_id_is_404(pair: Pair) -> None:
    for path in ("/v1.0/invoke/b/method", "/something"):
        status, body = http_json("GET", pair.a.url + path)
        assert status == 404 and body["errorCode"] == "ERR_DIRECT_INVOKE"


def test_an_unknown_app_id_is_500_naming_it(pair: Pair) -> None:
    began = time.monotonic()
    status, body = http_json("GET", f"{pair.a.url}/v1.0/invoke/ghost/method/x")
    assert status == 500 and body["errorCode"] == "ERR_DIRECT_INVOKE" and "ghost" in body["message"]
    assert time.monotonic() - began < 5
    status, body = http_json("GET", f"{pair.a.url}/v1.0/invoke/a.b.c/method/x")
    assert status == 500 and "invalid app id" in body["message"]


def test_a_large_body_streams_through_intact(pair: Pair) -> None:
    payload = os.urandom(1_500_000).hex().encode()[:3_000_000]
    seen = echo(http("PUT", f"{pair.a.url}/v1.0/invoke/b/method/big", payload))
    assert seen["length"] == len(payload) and seen["headers"]["content-length"] == str(len(payload))
    assert seen["body"].encode("latin-1") == payload


def test_a_chunked_body_streams_through(pair: Pair) -> None:
    import http.client as http_client

    conn = http_client.HTTPConnection("127.0.0.1", pair.a.http_port, timeout=10)
    try:
        conn.request("POST", "/v1.0/invoke/b/method/chunks", body=iter([b"one,", b"two,", b"three"]),
                     encode_chunked=True)
        reply = conn.getresponse()
        assert reply.status == 200 and json.loads(reply.read())["body"] == "one,two,three"
    finally:
        conn.close()


@pytest.fixture
def fresh_pair(tmp_path: Path) -> Iterator[Pair]:
    """A pair of its own, for tests that take B down."""
    launcher = SidecarLauncher(tmp_path)
    pair = Pair(launcher)
    yield pair
    launcher.stop_all()
    pair.app.terminate()
    pair.app.wait()


def fails_fast_then_recovers(pair: Pair, take_down: Callable[[], None]) -> None:
    """With B's sidecar down, A answers 500 naming B at once; with it back, A reaches it unrestarted."""
    assert http("GET", f"{pair.a.url}/v1.0/invoke/b/method/up")[0] == 200
    take_down()
    began = time.monotonic()
    status, body = http_json("GET", f"{pair.a.url}/v1.0/invoke/b/method/down")
    assert status == 500 and body["errorCode"] == "ERR_DIRECT_INVOKE" and "id: b" in body["message"]
    assert time.monotonic() - began < 10
    pair.b = pair.start_b()
    assert http("GET", f"{pair.a.url}/v1.0/invoke/b/method/again")[0] == 200


def test_a_stopped_target_fails_fast_and_is_found_again_when_back(fresh_pair: Pair) -> None:
    fails_fast_then_recovers(fresh_pair, fresh_pair.b.stop)


def test_a_crashed_target_sidecar_is_not_trusted(fresh_pair: Pair) -> None:
    def crash() -> None:
        fresh_pair.b.process.send_signal(signal.SIGKILL)
        fresh_pair.b.process.wait()
        run = fresh_pair.launcher.base / "home" / "run"
        assert list(run.glob(f"{fresh_pair.b.process.pid}.json"))  # the stale entry is left behind

    fails_fast_then_recovers(fresh_pair, crash)


def test_namespaced_app_ids(tmp_path: Path) -> None:
    launcher = SidecarLauncher(tmp_path)
    app_port = free_port()
    app = start_echo(app_port)
    try:
        launcher.start({}, app_id="b", args=("--app-port", str(app_port)), env={"NAMESPACE": "prod"})
        a = launcher.start({}, app_id="a", env={"NAMESPACE": "prod"})
        assert http("GET", f"{a.url}/v1.0/invoke/b.prod/method/x")[0] == 200
        assert http("GET", f"{a.url}/v1.0/invoke/b/method/x")[0] == 200
        status, body = http_json("GET", f"{a.url}/v1.0/invoke/b.dev/method/x")
        assert status == 500 and "b.dev" in body["message"]
    finally:
        launcher.stop_all()
        app.terminate()
        app.wait()


def test_a_sidecar_without_app_port_says_so(tmp_path: Path) -> None:
    launcher = SidecarLauncher(tmp_path)
    try:
        launcher.start({}, app_id="noapp")
        a = launcher.start({}, app_id="a")
        status, body = http_json("GET", f"{a.url}/v1.0/invoke/noapp/method/x")
        assert status == 500 and "app channel" in body["message"]
    finally:
        launcher.stop_all()


def test_invocation_needs_the_api_token_when_set(tmp_path: Path) -> None:
    launcher = SidecarLauncher(tmp_path)
    app_port = free_port()
    app = start_echo(app_port)
    try:
        launcher.start({}, app_id="b", args=("--app-port", str(app_port)), env={"DAPR_API_TOKEN": "t"})
        a = launcher.start({}, app_id="a", env={"DAPR_API_TOKEN": "t"})
        assert http("GET", f"{a.url}/v1.0/invoke/b/method/x")[0] == 401
        seen = echo(http("GET", f"{a.url}/v1.0/invoke/b/method/x", headers={"dapr-api-token": "t"}))
        assert "dapr-api-token" not in seen["headers"]
    finally:
        launcher.stop_all()
        app.terminate()
        app.wait()
