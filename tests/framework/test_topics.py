"""Pub/sub: the /dapr/subscribe document, deliveries and their status replies."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from tandem import App, CloudEvent, Drop, Retry

CE = "application/cloudevents+json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


def event(data: Any = None, **extra: Any) -> dict[str, Any]:
    envelope = {
        "id": "e1",
        "source": "checkout",
        "type": "com.dapr.event.sent",
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "topic": "orders",
        "pubsubname": "pubsub",
        "traceparent": "00-abc-def-01",
        "data": data,
    }
    envelope.update(extra)
    return envelope


async def deliver(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(path, json=body, headers={"content-type": CE})


@pytest.mark.anyio
async def test_subscribe_document_simple_route() -> None:
    app = App()

    @app.topic("pubsub", "orders")
    def on_order(order: dict[str, Any]) -> None: ...

    @app.topic("pubsub", "orders/eu", route="eu-orders", dead_letter_topic="poison", raw_payload=True)
    def on_eu(order: bytes) -> None: ...

    async with client_for(app) as http:
        resp = await http.get("/dapr/subscribe")
    assert resp.status_code == 200
    assert resp.json() == [
        {"pubsubname": "pubsub", "topic": "orders", "route": "/pubsub/orders"},
        {
            "pubsubname": "pubsub",
            "topic": "orders/eu",
            "route": "/eu-orders",
            "deadLetterTopic": "poison",
            "metadata": {"rawPayload": "true"},
        },
    ]


def test_subscribe_document_rules_by_priority() -> None:
    app = App()

    @app.topic("pubsub", "orders")
    def fallback(order: Any) -> None: ...

    @app.topic("pubsub", "orders", match='event.type == "refund"', priority=2)
    def refunds(order: Any) -> None: ...

    @app.topic("pubsub", "orders", match='event.type == "big"', priority=1, route="/big", metadata={"k": "v"})
    def big(order: Any) -> None: ...

    assert app.subscriptions() == [
        {
            "pubsubname": "pubsub",
            "topic": "orders",
            "routes": {
                "rules": [
                    {"match": 'event.type == "big"', "path": "/big"},
                    {"match": 'event.type == "refund"', "path": "/pubsub/orders/refunds"},
                ],
                "default": "/pubsub/orders",
            },
            "metadata": {"k": "v"},
        }
    ]


def test_rules_without_default() -> None:
    app = App()
    app.add_topic("ps", "t", lambda: None, match="true", route="/only")
    assert app.subscriptions() == [
        {"pubsubname": "ps", "topic": "t", "routes": {"rules": [{"match": "true", "path": "/only"}]}}
    ]


def test_subscription_conflicts_are_rejected() -> None:
    app = App()
    app.add_topic("ps", "t", lambda: None, dead_letter_topic="dl1")
    with pytest.raises(ValueError, match="default handler"):
        app.add_topic("ps", "t", lambda: None, route="/other")
    with pytest.raises(ValueError, match="dead_letter_topic"):
        app.add_topic("ps", "t", lambda: None, match="true", route="/x", dead_letter_topic="dl2")


def test_default_route_is_sanitised() -> None:
    app = App()
    app.add_topic("my pubsub", "a/b{c}", lambda: None)
    assert app.subscriptions()[0]["route"] == "/my-pubsub/a-b-c-"


@pytest.mark.anyio
async def test_handler_receives_data_by_default() -> None:
    app = App()
    received: list[Any] = []

    @app.topic("pubsub", "orders")
    async def on_order(order: dict[str, Any]) -> None:
        received.append(order)

    async with client_for(app) as http:
        resp = await deliver(http, "/pubsub/orders", event({"id": 1}))
    assert (resp.status_code, resp.json()) == (200, {"status": "SUCCESS"})
    assert received == [{"id": 1}]


@pytest.mark.anyio
async def test_handler_receives_cloud_event_when_annotated() -> None:
    app = App()
    received: list[CloudEvent] = []

    @app.topic("pubsub", "orders")
    def on_order(evt: CloudEvent) -> None:
        received.append(evt)

    async with client_for(app) as http:
        await deliver(http, "/pubsub/orders", event({"id": 1}))
    (evt,) = received
    assert (evt.id, evt.source, evt.type, evt.specversion) == ("e1", "checkout", "com.dapr.event.sent", "1.0")
    assert (evt.topic, evt.pubsubname, evt.datacontenttype) == ("orders", "pubsub", "application/json")
    assert evt.data == {"id": 1}
    assert evt.extensions == {"traceparent": "00-abc-def-01"}


@pytest.mark.anyio
async def test_data_base64_and_raw_payload() -> None:
    app = App()
    got: dict[str, Any] = {}

    @app.topic("pubsub", "raw", raw_payload=True)
    def as_bytes(body: bytes) -> None:
        got["bytes"] = body

    @app.topic("pubsub", "json-raw", raw_payload=True)
    def as_json(body: dict[str, Any]) -> None:
        got["json"] = body

    @app.topic("pubsub", "event")
    def as_event(evt: CloudEvent) -> None:
        got["event"] = evt.data

    def raw(payload: bytes) -> dict[str, Any]:
        envelope = event(datacontenttype="application/octet-stream")
        del envelope["data"]
        envelope["data_base64"] = base64.b64encode(payload).decode()
        return envelope

    async with client_for(app) as http:
        await deliver(http, "/pubsub/raw", raw(b"\x00\xff"))
        await deliver(http, "/pubsub/json-raw", raw(b'{"a": 1}'))
        await deliver(http, "/pubsub/event", raw(b"bin"))
    assert got == {"bytes": b"\x00\xff", "json": {"a": 1}, "event": b"bin"}


@pytest.mark.anyio
async def test_retry_drop_and_failure() -> None:
    app = App()

    @app.topic("pubsub", "retry")
    def retry() -> None:
        raise Retry()

    @app.topic("pubsub", "drop")
    def drop() -> None:
        raise Drop("bad order")

    @app.topic("pubsub", "fail")
    async def fail() -> None:
        raise KeyError("oops")

    async with client_for(app) as http:
        assert (await deliver(http, "/pubsub/retry", event())).json() == {"status": "RETRY"}
        assert (await deliver(http, "/pubsub/drop", event())).json() == {"status": "DROP"}
        failed = await deliver(http, "/pubsub/fail", event())
    assert failed.status_code == 500
    assert failed.json()["errorCode"] == "ERR_APP_HANDLER"


@pytest.mark.anyio
async def test_request_injection_and_plain_json_body() -> None:
    app = App()
    seen: list[Any] = []

    @app.topic("pubsub", "headers")
    async def with_request(request: Request) -> None:
        seen.append(request.headers["pubsubname"])

    @app.topic("pubsub", "plain")
    def plain(body: Any) -> None:
        seen.append(body)

    async with client_for(app) as http:
        await http.post("/pubsub/headers", json=event(), headers={"pubsubname": "pubsub"})
        # Not a CloudEvent (e.g. a hand-made POST): the whole body is the data.
        await http.post("/pubsub/plain", json={"x": 1})
        malformed = await deliver(http, "/pubsub/plain", {"specversion": "1.0", "data_base64": "!!"})
    assert seen == ["pubsub", {"x": 1}]
    assert malformed.json() == {"status": "DROP"}


def test_cloud_event_handler_is_topic_only() -> None:
    app = App()

    def handler(evt: CloudEvent) -> None: ...

    with pytest.raises(TypeError, match="topic"):
        app.add_method("m", handler)
    app.add_topic("ps", "t", handler)


@pytest.mark.anyio
async def test_cloud_event_data_is_decoded_by_content_type() -> None:
    app = App()
    got: list[CloudEvent] = []

    @app.topic("pubsub", "orders")
    def on_event(evt: CloudEvent) -> None:
        got.append(evt)

    encoded = base64.b64encode(b'{"a": 1}').decode()
    envelopes = [
        event({"orderId": 1}),                                        # application/json: the object
        event([1, 2]),
        event("plain words", datacontenttype="text/plain"),           # text/*: a str
        event("<order id='1'/>", datacontenttype="application/xml"),  # other text-ish types: a str
        event('{"a": 1}', datacontenttype="application/vnd.shop+json; charset=utf-8"),  # Dapr sent it as text
        event("not json", datacontenttype="application/problem+json"),  # kept as text when it does not parse
        {**event(datacontenttype="application/octet-stream"), "data": None, "data_base64": encoded},
        event('"quoted"'),  # a JSON string stays a string
    ]
    async with client_for(app) as http:
        for envelope in envelopes:
            if "data_base64" in envelope:
                del envelope["data"]
            resp = await deliver(http, "/pubsub/orders", envelope)
            assert resp.json() == {"status": "SUCCESS"}
    assert [e.data for e in got] == [
        {"orderId": 1}, [1, 2], "plain words", "<order id='1'/>", {"a": 1}, "not json", b'{"a": 1}', '"quoted"',
    ]
    assert all(isinstance(e, CloudEvent) for e in got)


@pytest.mark.anyio
async def test_outcomes_of_sync_and_async_handlers() -> None:
    app = App()
    calls: list[str] = []

    @app.topic("pubsub", "ok")
    def ok(order: dict[str, Any]) -> str:
        calls.append("ok")
        return "ignored: returning normally acknowledges"

    @app.topic("pubsub", "retry")
    async def retry(evt: CloudEvent) -> None:
        raise Retry("later")

    @app.topic("pubsub", "drop")
    def drop(evt: CloudEvent) -> None:
        raise Drop()

    @app.topic("pubsub", "boom")
    def boom(order: Any) -> None:
        raise RuntimeError("secret detail")

    async with client_for(app) as http:
        ok_resp = await deliver(http, "/pubsub/ok", event({"id": 1}))
        retry_resp = await deliver(http, "/pubsub/retry", event())
        drop_resp = await deliver(http, "/pubsub/drop", event())
        boom_resp = await deliver(http, "/pubsub/boom", event())
    assert (ok_resp.status_code, ok_resp.json(), calls) == (200, {"status": "SUCCESS"}, ["ok"])
    assert (retry_resp.status_code, retry_resp.json()) == (200, {"status": "RETRY"})
    assert (drop_resp.status_code, drop_resp.json()) == (200, {"status": "DROP"})
    assert boom_resp.status_code == 500
    assert "secret detail" not in boom_resp.text
