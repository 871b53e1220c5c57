"""The dashboard's JSON API over a running system, and ``tandem dashboard`` on its own."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from typing import Any

import pytest
from dashboard_support import CLI, System

from support import http, http_json

pytestmark = pytest.mark.e2e


def poll(what: str, predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def get(system: System, path: str) -> tuple[int, Any]:
    return http_json("GET", system.url.rstrip("/") + path)


def test_apps_and_replicas_match_tandem_list(system: System) -> None:
    status, body = get(system, "/api/apps")
    assert status == 200
    apps = {a["appId"]: a for a in body["apps"]}
    assert set(apps) == {"board", "quiet"}
    assert (apps["quiet"]["replicas"], apps["quiet"]["healthy"]) == (2, 2)
    listed = json.loads(system.tandem("list", "-o", "json").stdout)
    by_sidecar = {e["daprdPid"]: e for e in listed}
    for app in apps.values():
        assert set(app["components"]) == {"pubsub", "statestore"}
        for inst in app["instances"]:
            entry = by_sidecar[inst["daprdPid"]]
            assert (inst["httpPort"], inst["appPort"], inst["appPid"], inst["cliPid"]) == \
                (entry["httpPort"], entry["appPort"], entry["appPid"], entry["cliPid"])
            assert inst["health"] == "healthy" and inst["uptimeSeconds"] > 0 and inst["appUptimeSeconds"] > 0
    assert sorted(i["replica"] for i in apps["quiet"]["instances"]) == [0, 1]


def _board_port(system: System) -> int:
    _, body = get(system, "/api/apps")
    return int(next(a for a in body["apps"] if a["appId"] == "board")["instances"][0]["httpPort"])


def test_one_app_components_subscriptions_and_logs(system: System) -> None:
    def subscribed() -> Any:
        status, detail = get(system, "/api/apps/board")
        return detail if status == 200 and detail["subscriptions"] else None

    detail = poll("board's subscription", subscribed)
    assert {(c["name"], c["type"], c["version"]) for c in detail["components"]} == \
        {("pubsub", "pubsub.sqlite", "v1"), ("statestore", "state.sqlite", "v1")}
    assert "ACTOR" in next(c for c in detail["components"] if c["name"] == "statestore")["capabilities"]
    [sub] = detail["subscriptions"]
    assert (sub["pubsubname"], sub["topic"], sub["deadLetterTopic"]) == ("pubsub", "orders", "orders-dead")
    assert [r["path"] for r in sub["routes"]] == ["/orders"]
    assert detail["actors"] == [{"type": "Board", "count": 0}]
    port = _board_port(system)
    for actor_id in ("b1", "b2"):
        assert http("PUT", f"http://127.0.0.1:{port}/v1.0/actors/Board/{actor_id}/method/pin")[0] == 200
    poll("two active Board actors", lambda: get(system, "/api/apps/board")[1]["actors"] == [
        {"type": "Board", "count": 2}])

    status, logs = get(system, "/api/apps/board/logs?lines=50")
    assert status == 200 and logs["source"] == "app"
    assert "board started" in logs["logs"][0]["lines"]
    status, sidecar = get(system, "/api/apps/board/logs?source=sidecar")
    assert any("app id 'board'" in line for line in sidecar["logs"][0]["lines"])


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/apps/ghost", 404, "ERR_APP_NOT_FOUND"),
    ("/api/apps/ghost/logs", 404, "ERR_APP_NOT_FOUND"),
    ("/api/apps/board/logs?lines=0", 400, "ERR_MALFORMED_REQUEST"),
    ("/api/apps/board/logs?source=disk", 400, "ERR_MALFORMED_REQUEST"),
    ("/api/nothing/here", 404, "ERR_NOT_FOUND"),
])
def test_bad_requests_get_daprs_error_shape(system: System, path: str, status: int, code: str) -> None:
    got, body = get(system, path)
    assert (got, body["errorCode"]) == (status, code)
    assert body["message"]


def test_tandem_dashboard_alone_serves_the_same_registry(system: System) -> None:
    out = system.root / "alone.log"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([*CLI, "dashboard", "--port", "0"], env=system.env, stdout=sink,
                                stderr=subprocess.STDOUT)
    try:
        match = poll("the dashboard's address", lambda: re.search(r"on (http://\S+/) ", out.read_text()))
        status, body = http_json("GET", match.group(1) + "api/apps")
        assert status == 200 and {a["appId"] for a in body["apps"]} == {"board", "quiet"}
        status, _, page = http("GET", match.group(1))
        assert status == 200 and b"<title>Tandem dashboard</title>" in page
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, out.read_text()
    taken = system.tandem("dashboard", "--port", system.url.rsplit(":", 1)[1].strip("/"))
    assert taken.returncode == 1 and "cannot serve on 127.0.0.1" in taken.stderr
