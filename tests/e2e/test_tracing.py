"""Distributed tracing through real sidecars, real Tandem apps and a real span collector.

Apps a, b, c, d (``tests/apps/trace_app.py``) each run beside their own ``tandemd``;
the sidecars export to a Zipkin (or OTLP/HTTP) receiver the test runs
(``tests/apps/span_receiver.py``). The apps hold no tracing code: the framework
continues the sidecar's trace in handlers and the client carries it on.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import Sidecar, SidecarLauncher, component_yaml, free_port, http, http_json, read_json_lines, wait_until

pytestmark = pytest.mark.e2e

APPS = Path(__file__).resolve().parents[1] / "apps"
INTERNAL = "/dapr.proto.internals.v1.ServiceInvocation/CallLocal"


def read_lines(path: Path) -> list[dict[str, Any]]:
    return read_json_lines(path)


class Receiver:
    """The span collector, in its own process."""

    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.record = base / "spans.jsonl"
        self.record.touch()
        self.process = subprocess.Popen([sys.executable, str(APPS / "span_receiver.py"), str(self.port),
                                         str(self.record)])
        wait_until(lambda: self._ready(), "the span receiver")

    def _ready(self) -> bool:
        try:
            return http("GET", f"http://127.0.0.1:{self.port}/ready", timeout=1)[0] == 200
        except OSError:
            return False

    def spans(self, trace_id: str | None = None) -> list[dict[str, Any]]:
        return [s for s in read_lines(self.record) if trace_id is None or s["trace_id"] == trace_id]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def configuration(base: Path, tracing: dict[str, Any]) -> Path:
    path = base / "tracing.yaml"
    path.write_text(json.dumps({"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration",
                                "metadata": {"name": "tracing"}, "spec": {"tracing": tracing}}))
    return path


class World:
    """Trace apps beside their sidecars, sharing a ``pubsub.sqlite`` broker and one Configuration."""

    def __init__(self, base: Path, config: Path, app_ids: list[str]) -> None:
        self.base = base
        self.launcher = SidecarLauncher(base)
        self.resources = base / "resources"
        self.resources.mkdir()
        (self.resources / "pubsub.yaml").write_text(component_yaml(
            "pubsub", "pubsub.sqlite", {"connectionString": str(base / "pubsub.db"), "processingTimeout": "3s"}))
        self.record = base / "handlers.jsonl"
        self.record.touch()
        self.sidecars: dict[str, Sidecar] = {}
        self.apps: list[subprocess.Popen[bytes]] = []
        # A short export delay, so that spans reach the receiver while the test waits.
        env = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
        for app_id in app_ids:
            port = free_port()
            sidecar = self.launcher.start(app_id=app_id, resources=self.resources, env=env, args=(
                "--app-port", str(port), "--config", str(config), "--metrics-port", "0"))
            self.sidecars[app_id] = sidecar
            self.apps.append(subprocess.Popen(
                [sys.executable, str(APPS / "trace_app.py"), str(port), str(self.record)],
                env={**os.environ, "APP_ID": app_id, "DAPR_HTTP_PORT": str(sidecar.http_port)}))
        for sidecar in self.sidecars.values():
            wait_until(lambda s=sidecar: http_json("GET", s.url + "/v1.0/metadata")[1]["subscriptions"],
                       "the apps to subscribe")

    def handlers(self) -> list[dict[str, Any]]:
        return read_lines(self.record)

    def close(self) -> None:
        self.launcher.stop_all()
        for app in self.apps:
            app.terminate()
            app.wait()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    found = Receiver(tmp_path)
    yield found
    found.stop()


def span_id(traceparent: str) -> str:
    return traceparent.split("-")[2]


def test_a_chain_of_three_apps_and_a_publish_make_one_trace(tmp_path: Path, receiver: Receiver) -> None:
    config = configuration(tmp_path, {"samplingRate": "1", "zipkin": {
        "endpointAddress": f"http://127.0.0.1:{receiver.port}/api/v2/spans"}})
    world = World(tmp_path, config, ["a", "b", "c", "d"])
    try:
        trace_id, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        status, headers, body = http(
            "POST", world.sidecars["a"].url + "/v1.0/invoke/a/method/chain",
            json.dumps({"next": ["b", "c"], "topic": "to-d"}).encode(),
            {"content-type": "application/json", "traceparent": f"00-{trace_id}-{client_span}-01"})
        assert status == 200, body
        assert json.loads(body)["reply"]["reply"] == {"published_by": "c"}
        spans = wait_until(lambda: (found := receiver.spans(trace_id)) and len(found) >= 7 and found,
                           "seven spans of the trace", explain=lambda: (receiver.spans(), world.handlers()))
        by_key = {(s["service"], s["name"]): s for s in spans}
        chain = [("a", "CallLocal/a/chain", "CLIENT"), ("a", "CallLocal/b/chain", "CLIENT"),
                 ("b", INTERNAL, "SERVER"), ("b", "CallLocal/c/chain", "CLIENT"), ("c", INTERNAL, "SERVER"),
                 ("c", "/v1.0/publish/pubsub/to-d", "PRODUCER"), ("d", "pubsub/to-d", "CONSUMER")]
        assert set(by_key) == {(service, name) for service, name, _ in chain}, sorted(by_key)
        # One trace, each hop the child of the one before; the client's span is continued, not replaced.
        parent = client_span
        for service, name, kind in chain:
            span = by_key[(service, name)]
            assert (span["parent_id"], span["kind"]) == (parent, kind), (service, name, span)
            parent = span["span_id"]
        # Each handler ran in the context of its sidecar's last span: that is what it carried on.
        seen = {(h["app"], h["route"]): span_id(h["traceparent"]) for h in world.handlers()}
        assert seen == {("a", "chain"): by_key[("a", "CallLocal/a/chain")]["span_id"],
                        ("b", "chain"): by_key[("b", INTERNAL)]["span_id"],
                        ("c", "chain"): by_key[("c", INTERNAL)]["span_id"],
                        ("d", "traced"): by_key[("d", "pubsub/to-d")]["span_id"]}
        # Named and attributed the way Dapr's spans are.
        first = by_key[("a", "CallLocal/b/chain")]["attributes"]
        assert first["rpc.service"] == "ServiceInvocation" and first["net.peer.name"] == "b"
        assert first["dapr.api"] == "POST /v1.0/invoke/b/method/chain" and first["dapr.protocol"] == "http"
        assert first["dapr.status_code"] == "200"
        publish = by_key[("c", "/v1.0/publish/pubsub/to-d")]["attributes"]
        assert publish["messaging.system"] == "pubsub" and publish["messaging.destination.name"] == "to-d"
        assert publish["dapr.status_code"] == "204"
        # The reply tells the caller which trace its call joined.
        assert headers["traceparent"].split("-")[1] == trace_id

        # Without a traceparent the first sidecar starts the trace: its span is the root.
        status, headers, _ = http("POST", world.sidecars["a"].url + "/v1.0/invoke/b/method/chain",
                                  b'{"next": [], "topic": "nobody"}', {"content-type": "application/json"})
        assert status == 200
        new_trace = headers["traceparent"].split("-")[1]
        assert new_trace != trace_id
        roots = wait_until(lambda: [s for s in receiver.spans(new_trace) if not s["parent_id"]], "the new root")
        assert [(r["service"], r["name"]) for r in roots] == [("a", "CallLocal/b/chain")]
    finally:
        world.close()


def test_sampling_rate_zero_exports_nothing_but_the_context_flows(tmp_path: Path, receiver: Receiver) -> None:
    config = configuration(tmp_path, {"samplingRate": "0", "zipkin": {
        "endpointAddress": f"http://127.0.0.1:{receiver.port}/api/v2/spans"}})
    world = World(tmp_path, config, ["a", "b"])
    try:
        trace_id = "0af7651916cd43dd8448eb211c80319c"
        status, headers, _ = http("POST", world.sidecars["a"].url + "/v1.0/invoke/b/method/chain",
                                  b'{"next": [], "topic": "to-a"}',
                                  {"content-type": "application/json",
                                   "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"})
        assert status == 200
        handlers = wait_until(lambda: len(found := world.handlers()) >= 2 and found, "b's call and a's delivery")
        assert {h["traceparent"].split("-")[1] for h in handlers} == {trace_id}
        assert "traceparent" not in headers  # no span, no span to report
    finally:
        world.close()  # stopping flushes whatever a tracer would still hold
    assert receiver.spans() == []
    logs = "".join(s.log() for s in world.sidecars.values())
    assert "samplingRate is 0" in logs and "not installed" not in logs


def test_spans_go_to_an_otlp_http_collector(tmp_path: Path, receiver: Receiver,
                                            tandemd: Callable[..., Sidecar]) -> None:
    config = configuration(tmp_path, {"samplingRate": "1", "otel": {
        "endpointAddress": f"127.0.0.1:{receiver.port}", "isSecure": False, "protocol": "http"}})
    sidecar = tandemd({"store": "state.in-memory"}, app_id="otlp", env={"OTEL_BSP_SCHEDULE_DELAY": "100"},
                      args=("--config", str(config), "--metrics-port", "0"))
    assert http_json("POST", sidecar.url + "/v1.0/state/store", [{"key": "k", "value": 1}])[0] == 204
    spans = wait_until(lambda: receiver.spans(), "a span over OTLP/HTTP")
    assert len(spans) == 1
    span = spans[0]
    assert (span["format"], span["service"], span["name"], span["kind"]) == (
        "otlp", "otlp", "/v1.0/state/store", "CLIENT")
    assert span["attributes"]["db.system"] == "state" and span["attributes"]["db.name"] == "store"
    assert span["attributes"]["dapr.api"] == "POST /v1.0/state/store"


def test_without_the_sdk_tandemd_says_so_once_and_still_propagates(
        tmp_path: Path, tandemd: Callable[..., Sidecar]) -> None:
    # An installation without tandem[otel]: opentelemetry.sdk cannot be imported.
    hide = tmp_path / "no-sdk" / "opentelemetry" / "sdk"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError('opentelemetry-sdk is not installed')\n")
    config = configuration(tmp_path, {"samplingRate": "1", "zipkin": {"endpointAddress": "http://127.0.0.1:9/x"}})
    echo_port = free_port()
    echo = subprocess.Popen([sys.executable, str(APPS / "echo_app.py"), str(echo_port)])
    try:
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "no-sdk"), os.environ.get("PYTHONPATH")]))}
        sidecar = tandemd({}, app_id="echo", env=env,
                          args=("--config", str(config), "--app-port", str(echo_port), "--metrics-port", "0"))
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        status, _, body = wait_until(lambda: (r := http("GET", sidecar.url + "/v1.0/invoke/echo/method/x",
                                                        headers={"traceparent": parent}))[0] == 200 and r,
                                     "the echo app")
        seen = json.loads(body)["headers"]["traceparent"].split("-")
        assert seen[1] == "0af7651916cd43dd8448eb211c80319c" and seen[2] != "b7ad6b7169203331"
        warnings = [line for line in sidecar.log().splitlines() if "pip install 'tandem[otel]'" in line]
        assert len(warnings) == 1 and "opentelemetry-sdk is not installed" in warnings[0]
        assert sidecar.process.poll() is None
    finally:
        echo.terminate()
        echo.wait()
