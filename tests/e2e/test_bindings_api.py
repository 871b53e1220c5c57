"""Bindings through a real ``tandemd`` (spec §4): output calls and their errors, cron events to plain HTTP apps."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import Sidecar, SidecarLauncher, component_yaml, free_port, http, http_json, read_json_lines, wait_until

pytestmark = pytest.mark.e2e

APPS = Path(__file__).resolve().parents[1] / "apps"
GO_TIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})? \+0000 UTC$"


def start_app(script: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """A plain HTTP test app on a free port, once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(APPS / script), str(port), *args])
    wait_until(lambda: _listening(port), f"{script} to listen")
    return proc, port


def _listening(port: int) -> bool:
    try:
        http("GET", f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except OSError:
        return False


def invoke(sidecar: Sidecar, name: str, payload: Any, method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return http(method, f"{sidecar.url}/v1.0/bindings/{name}", body, {"content-type": "application/json"})


# -- output bindings ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecar, Path]]:
    base = tmp_path_factory.mktemp("bindings")
    root = base / "files"
    launcher = SidecarLauncher(base)
    sidecar = launcher.start({"files": {"type": "bindings.localstorage", "metadata": {"rootPath": str(root)}}})
    yield sidecar, root
    launcher.stop_all()


@pytest.mark.parametrize(("name", "payload", "status", "code", "message"), [
    ("nope", {"operation": "create"}, 500, "ERR_INVOKE_OUTPUT_BINDING",
     "error invoking output binding nope: couldn't find output binding nope"),
    ("files", {"operation": "explode"}, 500, "ERR_INVOKE_OUTPUT_BINDING",
     "error invoking output binding files: binding files does not support operation explode. "
     "supported operations:create get list delete"),
    ("files", {"data": 1}, 500, "ERR_INVOKE_OUTPUT_BINDING",
     "error invoking output binding files: operation field is missing from request"),
    ("files", b"{not json", 400, "ERR_MALFORMED_REQUEST", None),
    ("files", b"", 400, "ERR_MALFORMED_REQUEST", None),
    ("files", [1, 2], 400, "ERR_MALFORMED_REQUEST", None),
    ("files", {"operation": "get", "metadata": {"fileName": 3}}, 400, "ERR_MALFORMED_REQUEST", None),
    ("files", {"operation": 7}, 400, "ERR_MALFORMED_REQUEST", None),
])
def test_output_errors_return_daprs_codes(storage: tuple[Sidecar, Path], name: str, payload: Any, status: int,
                                          code: str, message: str | None) -> None:
    got, headers, body = invoke(storage[0], name, payload)
    error = json.loads(body)
    assert (got, error["errorCode"]) == (status, code), body
    assert headers["content-type"] == "application/json"
    if message is not None:
        assert error["message"] == message
    else:
        assert error["message"].startswith("failed deserializing HTTP body: ")


def test_localstorage_round_trip(storage: tuple[Sidecar, Path]) -> None:
    sidecar, root = storage
    status, headers, body = invoke(sidecar, "files", {"operation": "create", "data": "hello",
                                                      "metadata": {"fileName": "notes/a.txt"}})
    assert (status, json.loads(body)) == (200, {"fileName": "notes/a.txt"})
    assert headers["content-type"] == "application/json"
    assert (root / "notes" / "a.txt").read_bytes() == b"hello"

    status, _, body = invoke(sidecar, "files", {"operation": "create", "data": {"b": 1, "a": "<&>"},
                                                "metadata": {"fileName": "doc.json"}}, method="PUT")
    assert status == 200
    # data reaches the binding as Go's json.Marshal writes it: keys sorted, HTML characters escaped.
    assert (root / "doc.json").read_bytes() == b'{"a":"\\u003c\\u0026\\u003e","b":1}'

    status, headers, body = invoke(sidecar, "files", {"operation": "get", "metadata": {"fileName": "notes/a.txt"}})
    assert (status, body, headers["content-type"]) == (200, b"hello", "application/json")

    status, _, body = invoke(sidecar, "files", {"operation": "list"})
    assert (status, json.loads(body)) == (200, [str(root / "doc.json"), str(root / "notes" / "a.txt")])

    status, _, body = invoke(sidecar, "files", {"operation": "delete", "metadata": {"fileName": "notes/a.txt"}})
    assert (status, body) == (204, b"")
    assert not (root / "notes" / "a.txt").exists()
    status, _, body = invoke(sidecar, "files", {"operation": "get", "metadata": {"fileName": "notes/a.txt"}})
    assert (status, json.loads(body)["errorCode"]) == (500, "ERR_INVOKE_OUTPUT_BINDING")
    assert "file not found" in json.loads(body)["message"]


@pytest.mark.parametrize("name", ["../escaped.txt", "notes/../../escaped.txt", "/etc/passwd", "/tmp/escaped.txt"])
def test_localstorage_refuses_paths_outside_root(storage: tuple[Sidecar, Path], name: str) -> None:
    sidecar, root = storage
    for operation in ("create", "get", "delete"):
        status, _, body = invoke(sidecar, "files", {"operation": operation, "data": "x",
                                                    "metadata": {"fileName": name}})
        error = json.loads(body)
        assert (status, error["errorCode"]) == (500, "ERR_INVOKE_OUTPUT_BINDING")
        assert "outside rootPath" in error["message"] and name in error["message"]
    assert not (root.parent / "escaped.txt").exists()


def test_http_binding_returns_status_and_headers_as_metadata(tmp_path: Path) -> None:
    echo, port = start_app("echo_app.py")
    launcher = SidecarLauncher(tmp_path)
    try:
        sidecar = launcher.start({"web": {"type": "bindings.http",
                                          "metadata": {"url": f"http://127.0.0.1:{port}/base"}}})
        status, headers, body = invoke(sidecar, "web", {"operation": "post", "data": {"q": 1},
                                                        "metadata": {"path": "orders", "X-Tenant": "t1"}})
        assert status == 200, body
        sent = json.loads(body)
        assert (sent["method"], sent["path"], sent["body"]) == ("POST", "/base/orders", '{"q":1}')
        assert sent["headers"]["x-tenant"] == "t1" and sent["headers"]["traceparent"].startswith("00-")
        assert (headers["metadata.statuscode"], headers["metadata.status"]) == ("200", "200 OK")
        assert headers["metadata.x-echo"] == "yes"

        status, headers, body = invoke(sidecar, "web", {"operation": "get", "metadata": {"path": "x?status=404"}})
        error = json.loads(body)
        assert (status, error["errorCode"]) == (500, "ERR_INVOKE_OUTPUT_BINDING")
        assert error["message"] == "error invoking output binding web: received status code 404"
        assert headers["metadata.statuscode"] == "404"  # the response metadata comes back on errors too
    finally:
        launcher.stop_all()
        echo.terminate()
        echo.wait()


# -- input bindings -----------------------------------------------------------------------


class InputWorld:
    """The plain binding app beside a sidecar whose components are given per test."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.launcher = SidecarLauncher(base)
        self.apps: list[subprocess.Popen[bytes]] = []

    def start(self, components: str, probe_status: int = 200) -> tuple[Sidecar, Path]:
        record = self.base / f"record-{len(self.apps)}.jsonl"
        record.touch()
        app, port = start_app("binding_app.py", str(record), str(probe_status))
        self.apps.append(app)
        sidecar = self.launcher.start(components, args=("--app-port", str(port)))
        return sidecar, record

    def close(self) -> None:
        self.launcher.stop_all()
        for app in self.apps:
            app.terminate()
            app.wait()


def calls(record: Path, method: str | None = None) -> list[dict[str, Any]]:
    found = read_json_lines(record)
    return [c for c in found if method is None or c["method"] == method]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[InputWorld]:
    w = InputWorld(tmp_path)
    yield w
    w.close()


def test_cron_every_second_calls_the_app_with_daprs_headers(world: InputWorld) -> None:
    sidecar, record = world.start(component_yaml("tick", "bindings.cron", {"schedule": "@every 1s"}))
    wait_until(lambda: len(calls(record, "POST")) >= 3, "three cron events")
    probes = calls(record, "OPTIONS")
    assert [(p["path"], p["headers"]["content-type"]) for p in probes] == [("/tick", "application/json")]
    events = calls(record, "POST")
    for event in events:
        assert (event["path"], event["body"]) == ("/tick", "")
        assert event["headers"]["content-type"] == "application/json"
        assert event["headers"]["timezone"] == "Local"
        assert re.match(GO_TIME, event["headers"]["readtimeutc"])
        assert event["headers"]["traceparent"].startswith("00-")
    components = http_json("GET", sidecar.url + "/v1.0/metadata")[1]["components"]
    assert {"name": "tick", "type": "bindings.cron", "version": "v1", "capabilities": ["INPUT_BINDING"]} in components


def test_route_and_explicit_direction(world: InputWorld) -> None:
    yaml = component_yaml("tick", "bindings.cron", {"schedule": "@every 1s", "route": "/jobs/run",
                                                      "direction": "input"})
    _, record = world.start(yaml, probe_status=404)  # the probe is skipped: its answer does not matter
    wait_until(lambda: len(calls(record, "POST")) >= 2, "two cron events on the route")
    assert calls(record, "OPTIONS") == []
    assert {c["path"] for c in calls(record, "POST")} == {"/jobs/run"}


def test_an_app_refusing_the_probe_gets_no_events_and_one_log_line(world: InputWorld) -> None:
    sidecar, record = world.start(component_yaml("tick", "bindings.cron", {"schedule": "@every 1s"}),
                                  probe_status=404)
    wait_until(lambda: "the app answered 404 to OPTIONS /tick" in sidecar.log(), "the refusal in the log")
    lines = len(sidecar.log().splitlines())
    time.sleep(3.5)  # three ticks' worth
    assert calls(record, "POST") == []
    assert len(calls(record, "OPTIONS")) == 1
    log = sidecar.log()
    assert log.count("the app answered 404 to OPTIONS /tick") == 1, log
    assert len(log.splitlines()) == lines, log  # nothing logged per tick
