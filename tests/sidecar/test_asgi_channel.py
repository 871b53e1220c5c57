"""`AsgiChannel`: the app channel to an ASGI app in this event loop (the in-process test sidecar)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tandem.sidecar.asgi_channel import AsgiChannel

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_lifespan_runs_before_the_first_call_and_ends_at_close() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def hello(request: Request) -> Response:
        events.append("call")
        return PlainTextResponse(f"hello {request.query_params['name']}", headers={"x-seen": "1"})

    channel = AsgiChannel(Starlette(routes=[Route("/hello", hello)], lifespan=lifespan))
    await channel.wait_until_reachable()
    reply = await channel.call("GET", "/hello?name=ada")
    assert (reply.status, reply.body, reply.headers["x-seen"]) == (200, b"hello ada", "1")
    await channel.close()
    assert events == ["startup", "call", "shutdown"]


async def test_an_app_that_fails_before_answering_gives_a_500_as_uvicorn_would() -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    channel = AsgiChannel(Starlette(routes=[Route("/broken", broken)]))
    reply = await channel.call("GET", "/broken")
    assert reply.status == 500
    await channel.close()


async def test_a_failing_startup_is_raised_to_whoever_waits_for_the_app() -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    channel = AsgiChannel(Starlette(lifespan=lifespan))
    with pytest.raises(RuntimeError, match="no database"):
        await channel.wait_until_reachable()
    await channel.close()


async def test_an_app_without_lifespan_support_is_reachable_at_once() -> None:
    async def bare(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        assert scope["type"] == "http", "lifespan not supported"
        await PlainTextResponse("ok")(scope, receive, send)  # type: ignore[arg-type]

    channel = AsgiChannel(bare)  # type: ignore[arg-type]
    await channel.wait_until_reachable()
    assert (await channel.call("GET", "/")).body == b"ok"
    await channel.close()
