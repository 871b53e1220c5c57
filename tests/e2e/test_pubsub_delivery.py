"""Pub/sub delivery through real sidecars, the embedded ``pubsub.sqlite`` broker and plain HTTP apps."""
from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from support import Sidecar, SidecarLauncher, component_yaml, free_port, http, http_json, read_json_lines, wait_until

pytestmark = pytest.mark.e2e

SUBSCRIBER = Path(__file__).resolve().parents[1] / "apps" / "subscriber_app.py"


class Subscriber:
    """A plain HTTP subscriber app beside its own sidecar."""

    def __init__(self, world: World, app_id: str, subscriptions: list[dict[str, Any]]) -> None:
        self.world = world
        self.app_id = app_id
        self.port = free_port()
        self.record = world.base / f"{app_id}-{self.port}.jsonl"
        self.record.touch()
        self.app = subprocess.Popen([sys.executable, str(SUBSCRIBER), str(self.port), str(self.record),
                                     json.dumps(subscriptions)])
        self.sidecar = self.start_sidecar()

    def start_sidecar(self) -> Sidecar:
        sidecar = self.world.launcher.start(app_id=self.app_id, resources=self.world.resources,
                                            args=("--app-port", str(self.port)))
        wait_until(lambda: bool(http_json("GET", sidecar.url + "/v1.0/metadata")[1]["subscriptions"]),
                   f"{self.app_id} subscribed")
        return sidecar

    def deliveries(self) -> list[dict[str, Any]]:
        return read_json_lines(self.record)

    def stop(self) -> None:
        self.sidecar.stop()
        self.app.terminate()
        self.app.wait()


class World:
    """Sidecars sharing one components folder: a ``pubsub.sqlite`` broker named ``pubsub``."""

    def __init__(self, base: Path, **pubsub_metadata: str) -> None:
        self.base = base
        self.launcher = SidecarLauncher(base)
        self.resources = base / "resources"
        self.resources.mkdir()
        metadata = {"connectionString": str(base / "pubsub.db"), "processingTimeout": "3s", **pubsub_metadata}
        (self.resources / "pubsub.yaml").write_text(component_yaml("pubsub", "pubsub.sqlite", metadata))
        self.subscribers: list[Subscriber] = []
        self.publisher = self.launcher.start(app_id="publisher", resources=self.resources)

    def subscriber(self, app_id: str, subscriptions: list[dict[str, Any]]) -> Subscriber:
        sub = Subscriber(self, app_id, subscriptions)
        self.subscribers.append(sub)
        return sub

    def publish(self, topic: str, data: Any, *, content_type: str = "application/json", query: str = "") -> None:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        status, _, reply = http("POST", f"{self.publisher.url}/v1.0/publish/pubsub/{topic}{query}", body,
                                {"content-type": content_type})
        assert status == 204, reply

    def close(self) -> None:
        for sub in self.subscribers:
            sub.app.terminate()
            sub.app.wait()
        self.launcher.stop_all()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.close()


def route(topic: str, path: str = "/orders", **extra: Any) -> dict[str, Any]:
    return {"pubsubname": "pubsub", "topic": topic, "route": path, **extra}


def ids(sub: Subscriber, path: str | None = None) -> list[Any]:
    return [d["event"]["data"]["n"] for d in sub.deliveries() if path is None or d["path"] == path]


def test_every_app_gets_every_message_and_replicas_share_them(world: World) -> None:
    one = world.subscriber("one", [route("orders")])
    two = world.subscriber("two", [route("orders")])
    replica_a = world.subscriber("shared", [route("orders")])
    replica_b = world.subscriber("shared", [route("orders")])
    for n in range(30):
        world.publish("orders", {"n": n})
    wait_until(lambda: sorted(ids(one)) == list(range(30)) and sorted(ids(two)) == list(range(30)),
               "both apps got all 30")
    wait_until(lambda: len(ids(replica_a)) + len(ids(replica_b)) >= 30, "the replicas got all 30")
    time.sleep(0.5)
    assert sorted(ids(replica_a) + ids(replica_b)) == list(range(30))  # each once, none twice


def test_the_apps_answer_decides(world: World) -> None:
    sub = world.subscriber("app", [route("orders", deadLetterTopic="poison"), route("poison", "/poison")])
    world.publish("orders", {"n": 1, "answers": ["RETRY", "RETRY", "SUCCESS"]})
    world.publish("orders", {"n": 2, "answers": ["500", "SUCCESS"]})
    world.publish("orders", {"n": 3, "answers": ["EMPTY"]})
    world.publish("orders", {"n": 4, "answers": ["DROP"]})
    world.publish("orders", {"n": 5, "answers": ["404"]})
    world.publish("orders", {"n": 6, "answers": ["BOGUS", "SUCCESS"]})
    wait_until(lambda: ids(sub, "/orders").count(1) == 3 and ids(sub, "/orders").count(2) == 2
               and 4 in ids(sub, "/poison") and ids(sub, "/orders").count(6) == 2, "the retries and the DLQ")
    time.sleep(1.0)
    orders = ids(sub, "/orders")
    assert [orders.count(n) for n in range(1, 7)] == [3, 2, 1, 1, 1, 2]
    assert ids(sub, "/poison") == [4]  # DROP is dead-lettered; 404 is not


def test_an_expired_message_is_not_delivered(tmp_path: Path) -> None:
    world = World(tmp_path, maxRedeliveryBackoff="200ms")  # a retried message comes back 5 times a second
    try:
        sub = world.subscriber("app", [route("orders")])
        world.publish("orders", {"n": 1, "answers": ["RETRY"]}, query="?metadata.ttlInSeconds=3")
        wait_until(lambda: len(ids(sub)) >= 2, "redeliveries")
        time.sleep(3.5)  # expired after at most 3 s (whole seconds)
        settled = len(ids(sub))
        time.sleep(1.5)
        assert len(ids(sub)) == settled  # without the expiry check, ~7 more deliveries would be here
        assert sub.deliveries()[0]["event"]["expiration"].endswith("Z")
    finally:
        world.close()


def test_cel_rules_route_events(world: World) -> None:
    sub = world.subscriber("app", [{"pubsubname": "pubsub", "topic": "things", "routes": {
        "rules": [{"match": 'event.type == "widget"', "path": "/widgets"},
                  {"match": 'event.data.kind == "gadget" && event.data.n > 1', "path": "/gadgets"}],
        "default": "/other"}}])
    world.publish("things", {"n": 1}, query="?metadata.cloudevent.type=widget")
    world.publish("things", {"n": 2, "kind": "gadget"})
    world.publish("things", {"n": 3, "kind": "gadget"}, query="?metadata.cloudevent.type=widget")
    world.publish("things", {"n": 0, "kind": "gadget"})
    wait_until(lambda: len(sub.deliveries()) == 4, "four deliveries")
    assert sorted(ids(sub, "/widgets")) == [1, 3]
    assert ids(sub, "/gadgets") == [2]
    assert ids(sub, "/other") == [0]


def test_delivered_envelopes_and_headers(world: World) -> None:
    sub = world.subscriber("app", [route("json", "/json"), route("text", "/text"), route("bin", "/bin"),
                                   route("ce", "/ce"), route("raw", "/raw", metadata={"rawPayload": "true"})])
    world.publish("json", {"n": 1}, query="?metadata.custom=yes")
    world.publish("text", b"hello", content_type="text/plain")
    world.publish("bin", b"\x00\x01\x02", content_type="application/octet-stream")
    world.publish("ce", {"id": "my-id", "source": "me", "type": "t", "specversion": "1.0", "data": {"n": 4},
                         "extra": "kept"}, content_type="application/cloudevents+json")
    world.publish("raw", b"raw bytes", content_type="text/plain", query="?metadata.rawPayload=true")
    wait_until(lambda: len(sub.deliveries()) == 5, "five deliveries")
    got = {d["path"]: d for d in sub.deliveries()}
    event = got["/json"]["event"]
    assert event["data"] == {"n": 1} and event["datacontenttype"] == "application/json"
    assert (event["source"], event["type"], event["specversion"]) == ("publisher", "com.dapr.event.sent", "1.0")
    assert (event["topic"], event["pubsubname"]) == ("json", "pubsub")
    assert event["traceparent"] == event["traceid"] and event["id"] and event["time"]
    headers = got["/json"]["headers"]
    assert headers["content-type"] == "application/cloudevents+json" and headers["pubsubname"] == "pubsub"
    assert headers["custom"] == "yes" and headers["traceparent"]
    assert got["/text"]["event"]["data"] == "hello"
    assert base64.b64decode(got["/bin"]["event"]["data_base64"]) == b"\x00\x01\x02"
    ce = got["/ce"]["event"]
    assert (ce["id"], ce["source"], ce["extra"], ce["data"], ce["topic"]) == ("my-id", "me", "kept", {"n": 4}, "ce")
    raw = got["/raw"]["event"]
    assert base64.b64decode(raw["data_base64"]) == b"raw bytes"
    assert raw["datacontenttype"] == "application/octet-stream"


def test_declarative_subscriptions_with_scopes(world: World) -> None:
    doc = ("apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: decl}\n"
           "spec:\n  pubsubname: pubsub\n  topic: decl\n  routes:\n    default: /declared\nscopes: [decl-app]\n")
    (world.resources / "subscription.yaml").write_text(doc)
    sub = world.subscriber("decl-app", [])
    world.publish("decl", {"n": 7})
    wait_until(lambda: ids(sub, "/declared") == [7], "the declarative delivery")
    kinds = [s["type"] for s in http_json("GET", sub.sidecar.url + "/v1.0/metadata")[1]["subscriptions"]]
    assert kinds == ["DECLARATIVE"]


def test_nothing_is_lost_when_the_subscribers_sidecar_is_killed(tmp_path: Path) -> None:
    world = World(tmp_path, processingTimeout="2s")
    total = 10_000
    try:
        sub = world.subscriber("counter", [route("bulk")])

        async def publish_all() -> None:
            async with aiohttp.ClientSession() as session:
                queue = iter(range(total))

                async def worker() -> None:
                    for n in queue:
                        async with session.post(f"{world.publisher.url}/v1.0/publish/pubsub/bulk",
                                                json={"n": n}) as reply:
                            assert reply.status == 204
                        if n == total // 3:
                            sub.sidecar.process.send_signal(signal.SIGKILL)

                await asyncio.gather(*(worker() for _ in range(16)))

        asyncio.run(publish_all())
        sub.sidecar.process.wait()
        assert len(set(ids(sub))) < total  # the kill really interrupted delivery
        sub.sidecar = sub.start_sidecar()
        wait_until(lambda: len(set(ids(sub))) == total, f"all {total} messages delivered", timeout=240)
    finally:
        world.close()
