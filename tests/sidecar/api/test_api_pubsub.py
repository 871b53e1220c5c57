"""Publish → delivery on the in-process sidecar: a tiny app reached as an ASGI object, no port."""
from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tandem.sidecar.testing import InProcessSidecar
from tandem.testing import await_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def subscriber(received: list[dict[str, Any]], answer: dict[str, str] | None = None) -> Starlette:
    """An app subscribed to ``pubsub``/``orders`` on ``/orders``, keeping every event it gets."""

    async def subscribe(request: Request) -> Response:
        return JSONResponse([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}])

    async def orders(request: Request) -> Response:
        received.append(await request.json())
        return JSONResponse(answer or {"status": "SUCCESS"})

    return Starlette(routes=[Route("/dapr/subscribe", subscribe), Route("/orders", orders, methods=["POST"])])


async def test_a_published_event_reaches_the_subscribed_route_as_a_cloudevent() -> None:
    received: list[dict[str, Any]] = []
    async with InProcessSidecar(subscriber(received), app_id="shop") as sidecar, sidecar.http() as http:
        assert (await http.post("/v1.0/publish/pubsub/orders", json={"id": 7})).status_code == 204
        await await_for(lambda: received, what="the order event")
    event = received[0]
    assert event["data"] == {"id": 7} and event["topic"] == "orders" and event["source"] == "shop"


async def test_the_metadata_api_lists_the_subscription_once_the_sidecar_found_the_app() -> None:
    async with InProcessSidecar(subscriber([])) as sidecar, sidecar.http() as http:
        (listed,) = (await http.get("/v1.0/metadata")).json()["subscriptions"]
    assert listed["pubsubname"] == "pubsub" and listed["topic"] == "orders"
    assert listed["rules"] == [{"match": "", "path": "/orders"}]


async def test_a_dropped_event_goes_to_the_dead_letter_topic() -> None:
    received: list[dict[str, Any]] = []

    async def subscribe(request: Request) -> Response:
        return JSONResponse([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders",
                              "deadLetterTopic": "poison"},
                             {"pubsubname": "pubsub", "topic": "poison", "route": "/poison"}])

    async def orders(request: Request) -> Response:
        return JSONResponse({"status": "DROP"})

    async def poison(request: Request) -> Response:
        received.append(await request.json())
        return JSONResponse({})

    app = Starlette(routes=[Route("/dapr/subscribe", subscribe), Route("/orders", orders, methods=["POST"]),
                            Route("/poison", poison, methods=["POST"])])
    async with InProcessSidecar(app) as sidecar, sidecar.http() as http:
        await http.post("/v1.0/publish/pubsub/orders", json={"id": 1})
        await await_for(lambda: received, what="the dead-lettered event")
    assert received[0]["data"] == {"id": 1}


async def test_publishing_to_an_unknown_pubsub_is_404() -> None:
    async with InProcessSidecar() as sidecar, sidecar.http() as http:
        answer = await http.post("/v1.0/publish/nowhere/orders", json={})
    assert answer.status_code == 404 and answer.json()["errorCode"] == "ERR_PUBSUB_NOT_FOUND"
