"""Prometheus metrics of a real ``tandemd``, read back with ``prometheus_client``'s own parser."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import Sidecar, component_yaml, free_port, http, http_json, wait_until

pytestmark = pytest.mark.e2e

APPS = Path(__file__).resolve().parents[1] / "apps"
_SERVED = re.compile(r"metrics served on http://[^:]+:(\d+)/metrics")


def metrics_port(sidecar: Sidecar) -> int:
    match = _SERVED.search(sidecar.log())
    assert match, sidecar.log()
    return int(match.group(1))


def scrape(sidecar: Sidecar) -> dict[str, Any]:
    """``{family name: family}`` from ``GET /metrics``; the text must parse."""
    status, headers, body = http("GET", f"http://127.0.0.1:{metrics_port(sidecar)}/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def value(families: dict[str, Any], family: str, sample: str | None = None, **labels: str) -> float:
    """The one sample of ``family`` whose labels include ``labels`` (0 when there is none)."""
    found = [s for s in families[family].samples if (sample is None or s.name == sample)
             and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, found
    return found[0].value if found else 0.0


def test_counts_match_the_calls_made(tmp_path: Path, tandemd: Callable[..., Sidecar]) -> None:
    app_port = free_port()
    record = tmp_path / "deliveries.jsonl"
    record.touch()
    subscriber = subprocess.Popen([sys.executable, str(APPS / "subscriber_app.py"), str(app_port), str(record),
                                   json.dumps([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}])])
    try:
        sidecar = tandemd({"store": "state.in-memory", "pubsub": "pubsub.in-memory"}, app_id="m",
                          args=("--metrics-port", "0", "--app-port", str(app_port)))
        wait_until(lambda: http_json("GET", sidecar.url + "/v1.0/metadata")[1]["subscriptions"], "the subscription")
        for n in range(3):
            assert http_json("POST", sidecar.url + "/v1.0/state/store", [{"key": f"k{n}", "value": n}])[0] == 204
        for key in ("k0", "k1"):
            assert http("GET", f"{sidecar.url}/v1.0/state/store/{key}")[0] == 200
        scripts = [["SUCCESS"], ["RETRY", "SUCCESS"], ["DROP"]]
        for answers in scripts:
            assert http_json("POST", sidecar.url + "/v1.0/publish/pubsub/orders", {"answers": answers})[0] == 204
        for _ in range(2):  # the subscriber answers any GET with 200
            assert http("GET", sidecar.url + "/v1.0/invoke/m/method/hello")[0] == 200
        wait_until(lambda: len(record.read_text().splitlines()) >= 4, "four deliveries (one retried)")
        families = wait_until(lambda: (f := scrape(sidecar)) and value(
            f, "dapr_component_pubsub_ingress_count", process_status="success") == 2 and f, "the counts")
    finally:
        subscriber.terminate()
        subscriber.wait()

    requests = "dapr_http_server_request_count"
    assert families[requests].type == "counter"
    assert value(families, requests, method="POST", path="/v1.0/state/store", status="204") == 3
    assert value(families, requests, method="GET", path="/v1.0/state/store", status="200") == 2
    assert value(families, requests, method="POST", path="/v1.0/publish/pubsub/orders", status="204") == 3
    assert value(families, requests, method="GET", path="/v1.0/invoke/m/method", status="200") == 2
    for sample in families[requests].samples:
        assert sample.labels["app_id"] == "m"

    latency = "dapr_http_server_latency"
    assert families[latency].type == "histogram"
    labels = {"method": "POST", "path": "/v1.0/state/store", "status": "204"}
    assert value(families, latency, latency + "_count", **labels) == 3
    assert value(families, latency, latency + "_bucket", le="+Inf", **labels) == 3
    buckets = [s.value for s in families[latency].samples if s.name == latency + "_bucket"
               and all(s.labels.get(k) == v for k, v in labels.items())]
    assert buckets == sorted(buckets) and len(buckets) == 35  # Dapr's 34 bounds, and +Inf

    invoke = {"destination_app_id": "m", "invoke_method": "hello"}
    assert value(families, "dapr_service_invocation_req_sent", **invoke) == 2
    assert value(families, "dapr_service_invocation_res_recv", status="200", **invoke) == 2

    topic = {"component": "pubsub", "topic": "orders"}
    assert value(families, "dapr_component_pubsub_egress_count", success="true", **topic) == 3
    ingress = "dapr_component_pubsub_ingress_count"
    assert value(families, ingress, process_status="success", **topic) == 2
    assert value(families, ingress, process_status="retry", **topic) == 1
    assert value(families, ingress, process_status="drop", **topic) == 1

    assert value(families, "dapr_runtime_component_loaded") == 2
    assert value(families, "dapr_runtime_component_init", component="store") == 1


def test_a_taken_metrics_port_is_one_warning_and_the_api_keeps_serving(tandemd: Callable[..., Sidecar]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        sidecar = tandemd({"store": "state.in-memory"}, args=("--metrics-port", str(port)))
        assert http_json("POST", sidecar.url + "/v1.0/state/store", [{"key": "k", "value": 1}])[0] == 204
        assert http("GET", sidecar.url + "/v1.0/healthz")[0] == 204
        assert sidecar.process.poll() is None
    warnings = [line for line in sidecar.log().splitlines() if "metrics are not served" in line]
    assert len(warnings) == 1 and str(port) in warnings[0] and "--metrics-port" in warnings[0]


@pytest.mark.parametrize("how", ["flag", "configuration"])
def test_metrics_can_be_turned_off(tmp_path: Path, tandemd: Callable[..., Sidecar], how: str) -> None:
    port = free_port()
    if how == "flag":
        args: tuple[str, ...] = ("--enable-metrics=false",)
    else:
        config = tmp_path / "config.yaml"
        config.write_text("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\n"
                          "spec:\n  metrics:\n    enabled: false\n")
        args = ("--config", str(config))
    sidecar = tandemd({}, args=("--metrics-port", str(port), *args))
    assert "metrics served" not in sidecar.log() and "metrics are not served" not in sidecar.log()
    with socket.socket() as probe:  # the port stays free: nothing listens on it
        probe.bind(("127.0.0.1", port))


def test_output_binding_and_component_errors_are_counted(tmp_path: Path, tandemd: Callable[..., Sidecar]) -> None:
    folder = tmp_path / "files"
    components = "---\n".join([
        component_yaml("files", "bindings.localstorage", {"rootPath": str(folder)}),
        # A component that fails to start but is told to be ignored: an init failure, not a stop.
        component_yaml("broken", "bindings.localstorage", {}, spec={
            "type": "bindings.localstorage", "version": "v1", "metadata": [], "ignoreErrors": True}),
    ])
    sidecar = tandemd(components, app_id="b", args=("--metrics-port", "0"))
    body = {"operation": "create", "data": "hi", "metadata": {"fileName": "a.txt"}}
    assert http_json("POST", sidecar.url + "/v1.0/bindings/files", body)[0] in (200, 204)
    assert http_json("POST", sidecar.url + "/v1.0/bindings/files", {"operation": "get", "metadata": {
        "fileName": "missing.txt"}})[0] == 500
    families = scrape(sidecar)
    binding = {"component": "files"}
    assert value(families, "dapr_component_output_binding_count", operation="create", success="true", **binding) == 1
    assert value(families, "dapr_component_output_binding_count", operation="get", success="false", **binding) == 1
    assert value(families, "dapr_runtime_component_init_fail", component="broken") == 1
