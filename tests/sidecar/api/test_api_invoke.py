"""Service invocation of the app's own methods on the in-process sidecar."""
from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tandem.sidecar.testing import InProcessSidecar

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def echo(request: Request) -> Response:
    return JSONResponse({"method": request.method, "query": dict(request.query_params),
                         "body": (await request.body()).decode()}, status_code=201)


async def test_invoking_the_own_app_reaches_its_route_with_body_query_and_status() -> None:
    app = Starlette(routes=[Route("/echo", echo, methods=["PUT"])])
    async with InProcessSidecar(app, app_id="shop") as sidecar, sidecar.http() as http:
        reply = await http.put("/v1.0/invoke/shop/method/echo?x=1", content=b"hi")
    assert reply.status_code == 201
    assert reply.json() == {"method": "PUT", "query": {"x": "1"}, "body": "hi"}


async def test_a_method_the_app_does_not_have_is_its_own_404() -> None:
    async with InProcessSidecar(Starlette(), app_id="shop") as sidecar, sidecar.http() as http:
        assert (await http.get("/v1.0/invoke/shop/method/missing")).status_code == 404
