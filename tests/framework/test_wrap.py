"""Wrapping an existing ASGI app: its routes and lifespan keep working beside ours."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from tandem import App


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Run the ASGI lifespan around the block, as a server would, and yield an HTTP client."""
    to_app_send, to_app_receive = anyio.create_memory_object_stream[dict[str, Any]](4)
    from_app_send, from_app_receive = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    async with to_app_send, to_app_receive, from_app_send, from_app_receive, anyio.create_task_group() as tg:

        async def run_lifespan() -> None:
            await app(scope, to_app_receive.receive, from_app_send.send)

        tg.start_soon(run_lifespan)
        await to_app_send.send({"type": "lifespan.startup"})
        assert (await from_app_receive.receive())["type"] == "lifespan.startup.complete"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            yield http
        await to_app_send.send({"type": "lifespan.shutdown"})
        assert (await from_app_receive.receive())["type"] == "lifespan.shutdown.complete"


def fastapi_app(events: list[str]) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    api = FastAPI(lifespan=lifespan)

    @api.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @api.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    return api


def starlette_app(events: list[str]) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def user(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.path_params["name"]})

    return Starlette(routes=[Route("/users/{name}", user)], lifespan=lifespan)


def add_tandem_handlers(app: App) -> None:
    app.add_method("hello", lambda: "from tandem")
    app.add_topic("pubsub", "orders", lambda: None)


@pytest.mark.anyio
async def test_wrapping_fastapi() -> None:
    events: list[str] = []
    app = App(app=fastapi_app(events))
    add_tandem_handlers(app)

    async with serving(app) as http:
        assert events == ["startup"]
        assert (await http.get("/items/42")).json() == {"item_id": 42}
        assert (await http.post("/echo", json={"a": 1})).json() == {"a": 1}
        assert (await http.get("/items/not-a-number")).status_code == 422  # FastAPI's own validation
        missing = await http.get("/nowhere")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})  # FastAPI's 404
        # A verb we do not serve on our own path goes to the inner app too.
        assert (await http.get("/hello")).json() == {"detail": "Not Found"}

        assert (await http.post("/hello")).text == "from tandem"
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/dapr/config")).json() == {"entities": []}
        assert (await http.get("/dapr/subscribe")).json()[0]["topic"] == "orders"
        delivered = await http.post("/pubsub/orders", json={"specversion": "1.0", "data": 1})
        assert delivered.json() == {"status": "SUCCESS"}
    assert events == ["startup", "shutdown"]


@pytest.mark.anyio
async def test_wrapping_starlette() -> None:
    events: list[str] = []
    app = App(app=starlette_app(events))
    add_tandem_handlers(app)

    async with serving(app) as http:
        assert events == ["startup"]
        assert (await http.get("/users/ada")).json() == {"user": "ada"}
        missing = await http.get("/nowhere")
        assert (missing.status_code, missing.text) == (404, "Not Found")
        assert (await http.post("/hello")).text == "from tandem"
        assert (await http.get("/dapr/subscribe")).status_code == 200
    assert events == ["startup", "shutdown"]


@pytest.mark.anyio
async def test_as_starlette_middleware() -> None:
    events: list[str] = []
    tandem = App()
    add_tandem_handlers(tandem)

    async def root(request: Request) -> PlainTextResponse:
        return PlainTextResponse("inner root")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield

    outer = Starlette(routes=[Route("/", root)], middleware=[tandem.middleware()], lifespan=lifespan)
    async with serving(outer) as http:
        assert events == ["startup"]
        assert (await http.get("/")).text == "inner root"
        assert (await http.post("/hello")).text == "from tandem"
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.anyio
async def test_websocket_goes_to_the_inner_app() -> None:
    seen: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    app = App(app=inner)
    await app({"type": "websocket", "path": "/ws", "headers": []}, _never, _discard)
    assert [s["type"] for s in seen] == ["websocket"]


async def _never() -> dict[str, Any]:
    raise AssertionError("not expected to receive")


async def _discard(message: Any) -> None:
    return None
