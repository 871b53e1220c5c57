"""Through a real ``tandemd``: the two component files a Dapr user has, unchanged, on the shared Redis."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_helpers import Tandemd, http, redis_host, start_tandemd

pytestmark = pytest.mark.e2e

# As `dapr init` writes them (pubsub named `messagebus` as in the issue), plus a Redis lock store.
DAPR_FILES = f"""\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: {redis_host()}
  - name: redisPassword
    value: ""
  - name: actorStateStore
    value: "true"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: messagebus
spec:
  type: pubsub.redis
  version: v1
  metadata:
  - name: redisHost
    value: {redis_host()}
  - name: redisPassword
    value: ""
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: lockstore
spec:
  type: lock.redis
  version: v1
  metadata:
  - name: redisHost
    value: {redis_host()}
"""


@pytest.fixture
def app_id(shared_redis: redis.Redis) -> Iterator[str]:
    """``myapp-<hex>``: the acceptance's ``myapp``, unique per run; its keys are removed afterwards."""
    value = f"myapp-{uuid.uuid4().hex[:12]}"
    yield value
    keys = list(shared_redis.scan_iter(match=f"{value}||*"))
    if keys:
        shared_redis.delete(*keys)


@pytest.fixture
def sidecar(tmp_path: Path, app_id: str) -> Iterator[Tandemd]:
    started = start_tandemd(tmp_path, app_id, DAPR_FILES)
    yield started
    started.stop()


def test_save_leaves_daprs_hash_and_get_returns_the_etag(sidecar: Tandemd, app_id: str,
                                                         shared_redis: redis.Redis) -> None:
    state = sidecar.url + "/v1.0/state/statestore"
    assert http("POST", state, [{"key": "k", "value": {"a": 1}}])[0] == 204
    assert shared_redis.hgetall(f"{app_id}||k") == {b"data": b'{"a":1}', b"version": b"1"}
    assert http("POST", state, [{"key": "k", "value": {"a": 1}}])[0] == 204
    assert shared_redis.hget(f"{app_id}||k", "version") == b"2"
    status, headers, body = http("GET", state + "/k")
    assert (status, headers["etag"], json.loads(body)) == (200, "2", {"a": 1})
    status, _, body = http("POST", state, [{"key": "k", "value": 0, "etag": "1"}])
    assert status == 409 and json.loads(body)["errorCode"] == "ERR_STATE_SAVE"
    assert http("POST", state, [{"key": "k", "value": 0, "etag": "x"}])[0] == 400
    # A value another program wrote in Dapr's layout is read back with its ETag.
    shared_redis.hset(f"{app_id}||other", mapping={"data": '{"by":"dapr"}', "version": 41})
    status, headers, body = http("GET", state + "/other")
    assert (status, headers["etag"], body) == (200, "41", b'{"by":"dapr"}')
    assert http("DELETE", state + "/k")[0] == 204 and shared_redis.exists(f"{app_id}||k") == 0


def test_publish_is_an_xadd_on_the_topic_stream(sidecar: Tandemd, shared_redis: redis.Redis) -> None:
    topic = f"orders-{uuid.uuid4().hex}"
    try:
        status, _, body = http("POST", f"{sidecar.url}/v1.0/publish/messagebus/{topic}", {"a": 1})
        assert status == 204, body
        [(_, fields)] = shared_redis.xrange(topic)
        assert list(fields) == [b"data", b"metadata"]
        event = json.loads(fields[b"data"])
        assert (event["data"], event["topic"], event["pubsubname"]) == ({"a": 1}, topic, "messagebus")
        assert isinstance(json.loads(fields[b"metadata"]), dict)
    finally:
        shared_redis.delete(topic)


def test_lock_api_on_redis(sidecar: Tandemd, shared_redis: redis.Redis) -> None:
    resource = f"res-{uuid.uuid4().hex}"
    lock = {"resourceId": resource, "lockOwner": "owner-a", "expiryInSeconds": 30}
    status, _, body = http("POST", sidecar.url + "/v1.0-alpha1/lock/lockstore", lock)
    assert (status, json.loads(body)) == (200, {"success": True})
    [key] = list(shared_redis.scan_iter(match=f"*{resource}"))
    assert shared_redis.get(key) == b"owner-a"
    status, _, body = http("POST", sidecar.url + "/v1.0-alpha1/lock/lockstore", {**lock, "lockOwner": "owner-b"})
    assert json.loads(body) == {"success": False}
    status, _, body = http("POST", sidecar.url + "/v1.0-alpha1/unlock/lockstore",
                           {"resourceId": resource, "lockOwner": "owner-a"})
    assert (status, json.loads(body)) == (200, {"status": 0})
    assert shared_redis.exists(key) == 0


class _App(BaseHTTPRequestHandler):
    """Subscribes to one topic and records every event it is sent."""

    protocol_version = "HTTP/1.1"
    topic = ""
    events: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps([{"pubsubname": "messagebus", "topic": self.topic, "route": "/orders"}]).encode()
        self._send(body if self.path == "/dapr/subscribe" else b"[]")

    def do_POST(self) -> None:  # noqa: N802
        self.events.append(json.loads(self.rfile.read(int(self.headers.get("content-length") or 0))))
        self._send(b'{"status":"SUCCESS"}')

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_published_event_reaches_the_subscribed_app(tmp_path: Path, app_id: str, shared_redis: redis.Redis) -> None:
    topic = f"orders-{uuid.uuid4().hex}"
    handler = type("App", (_App,), {"topic": topic, "events": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sidecar = start_tandemd(tmp_path, app_id, DAPR_FILES, args=("--app-port", str(server.server_address[1])))
    try:
        deadline = time.monotonic() + 15
        while not shared_redis.exists(topic):  # the subscription created its group (and the stream)
            assert time.monotonic() < deadline, sidecar.log()
            time.sleep(0.05)
        [group] = shared_redis.xinfo_groups(topic)
        assert group["name"] == app_id.encode()  # consumerID defaults to the app id
        assert http("POST", f"{sidecar.url}/v1.0/publish/messagebus/{topic}", {"n": 1})[0] == 204
        while not handler.events:
            assert time.monotonic() < deadline, sidecar.log()
            time.sleep(0.05)
        assert handler.events[0]["data"] == {"n": 1}
        while shared_redis.xpending(topic, app_id)["pending"]:
            assert time.monotonic() < deadline, "the delivery was not acknowledged"
            time.sleep(0.05)
    finally:
        sidecar.stop()
        server.shutdown()
        server.server_close()
        shared_redis.delete(topic)
