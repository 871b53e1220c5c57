"""Bindings on the in-process sidecar: an output binding called through the API, input events to the app."""
from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tandem.sidecar.testing import InProcessSidecar
from tandem.testing import await_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_an_output_binding_writes_and_reads_back_a_file(tmp_path: Path) -> None:
    files = {"files": {"type": "bindings.localstorage", "metadata": {"rootPath": str(tmp_path)}}}
    async with InProcessSidecar(components=files) as sidecar, sidecar.http() as http:
        created = await http.post("/v1.0/bindings/files", json={"operation": "create", "data": "hello",
                                                                "metadata": {"fileName": "a.txt"}})
        assert created.status_code == 200
        got = await http.post("/v1.0/bindings/files", json={"operation": "get", "metadata": {"fileName": "a.txt"}})
        assert got.status_code == 200 and got.content == b"hello"
    assert (tmp_path / "a.txt").read_text() == "hello"


async def test_an_unknown_output_binding_is_500_invoke_output_binding() -> None:
    async with InProcessSidecar() as sidecar, sidecar.http() as http:
        answer = await http.post("/v1.0/bindings/nowhere", json={"operation": "create"})
    assert answer.status_code == 500 and answer.json()["errorCode"] == "ERR_INVOKE_OUTPUT_BINDING"


async def test_an_input_binding_posts_its_events_to_the_app_route() -> None:
    ticks: list[bytes] = []

    async def tick(request: Request) -> Response:
        ticks.append(await request.body())
        return Response(status_code=200)

    app = Starlette(routes=[Route("/tick", tick, methods=["POST"])])  # OPTIONS answers 405: events wanted
    cron = {"tick": {"type": "bindings.cron", "metadata": {"schedule": "@every 1s"}}}
    async with InProcessSidecar(app, components=cron):
        await await_for(lambda: ticks, what="a cron tick")
