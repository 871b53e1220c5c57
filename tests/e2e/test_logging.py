"""``tandemd``'s logs: ``--log-as-json``, and API logging (flag and Configuration)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support import Sidecar, http, http_json, json_lines

pytestmark = pytest.mark.e2e

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def api_lines(sidecar: Sidecar) -> list[str]:
    return [line for line in sidecar.log().splitlines() if "HTTP API Called" in line]


def wait_api_lines(sidecar: Sidecar, count: int, timeout: float = 10) -> list[str]:
    """The API lines once ``count`` are written (each is written after its reply has gone out)."""
    deadline = time.monotonic() + timeout
    while len(api_lines(sidecar)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return api_lines(sidecar)


def config(tmp_path: Path, **api_logging: bool) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration", "metadata": {"name": "c"},
                                "spec": {"logging": {"apiLogging": api_logging}}}))
    return str(path)


def test_json_logs_carry_daprs_fields_and_one_api_line_per_call(tandemd: Callable[..., Sidecar]) -> None:
    sidecar = tandemd({"store": "state.in-memory"}, app_id="logs",
                      args=("--log-as-json", "--enable-api-logging", "--metrics-port", "0"))
    assert http_json("POST", sidecar.url + "/v1.0/state/store", [{"key": "k", "value": 1}],
                     headers={"traceparent": PARENT})[0] == 204
    assert http("GET", sidecar.url + "/v1.0/state/nostore/k")[0] == 400
    # The API line is written once the reply has gone out: wait for it rather than race it.
    deadline = time.monotonic() + 10
    while "/v1.0/state/nostore/k" not in sidecar.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    lines: list[dict[str, Any]] = json_lines(sidecar.log())
    for line in lines:
        assert {"time", "level", "type", "msg", "scope", "app_id", "instance", "ver"} <= set(line), line
        assert line["app_id"] == "logs" and line["type"] == "log"
    calls = [line for line in lines if line["msg"].startswith("HTTP API Called")]
    saved = [c for c in calls if c["path"] == "/v1.0/state/store"]
    assert len(saved) == 1
    assert (saved[0]["method"], saved[0]["status"], saved[0]["trace_id"]) == (
        "POST", 204, "0af7651916cd43dd8448eb211c80319c")
    assert saved[0]["duration_ms"] >= 0 and saved[0]["level"] == "info"
    failed = [c for c in calls if c["path"] == "/v1.0/state/nostore/k"]
    assert len(failed) == 1 and failed[0]["status"] == 400 and len(failed[0]["trace_id"]) == 32


def test_the_configuration_turns_api_logging_on_with_its_options(
        tmp_path: Path, tandemd: Callable[..., Sidecar]) -> None:
    sidecar = tandemd({"store": "state.in-memory"}, args=(
        "--config", config(tmp_path, enabled=True, obfuscateURLs=True, omitHealthChecks=True), "--metrics-port", "0"))
    assert http_json("POST", sidecar.url + "/v1.0/state/store", [{"key": "secret-key", "value": 1}])[0] == 204
    assert http("GET", sidecar.url + "/v1.0/state/store/secret-key")[0] == 200
    assert http("GET", sidecar.url + "/v1.0/healthz")[0] == 204
    assert http("GET", sidecar.url + "/v1.0/state/store/secret-key")[0] == 200  # after the health check
    lines = wait_api_lines(sidecar, 3)
    assert len(lines) == 3, lines  # health checks left out
    assert all("/v1.0/state/store " in line for line in lines)
    assert "secret-key" not in sidecar.log()


def test_the_flag_wins_over_the_configuration(tmp_path: Path, tandemd: Callable[..., Sidecar]) -> None:
    sidecar = tandemd({}, args=("--config", config(tmp_path, enabled=True), "--enable-api-logging=false",
                                "--metrics-port", "0"))
    assert http("GET", sidecar.url + "/v1.0/metadata")[0] == 200
    time.sleep(0.5)  # what would have been logged by now
    assert api_lines(sidecar) == []
