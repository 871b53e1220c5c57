"""The runtime's two loops: every component to each block taking its contract, then the blocks, all alike."""
from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tandem.sidecar.blocks.base import Block
from tandem.sidecar.testing import InProcessSidecar

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def counting_app(calls: list[str], config: dict[str, Any] | None = None) -> Starlette:
    """An app that records which of the runtime's discovery routes were asked."""

    async def dapr_config(request: Request) -> Response:
        calls.append("config")
        return JSONResponse(config or {})

    async def dapr_subscribe(request: Request) -> Response:
        calls.append("subscribe")
        return JSONResponse([])

    return Starlette(routes=[Route("/dapr/config", dapr_config), Route("/dapr/subscribe", dapr_subscribe)])


async def test_every_block_is_a_block_and_each_is_built_once() -> None:
    async with InProcessSidecar() as sidecar:
        blocks = list(sidecar.runtime.blocks)
    assert all(isinstance(block, Block) for block in blocks)
    assert len({type(block) for block in blocks}) == len(blocks)


async def test_the_actor_state_store_goes_to_the_state_block_and_to_the_actor_block() -> None:
    async with InProcessSidecar() as sidecar:  # statestore: state.in-memory, actorStateStore
        runtime = sidecar.runtime
        assert runtime.blocks.state.names() == ["statestore"]
        assert runtime.actors is not None and runtime.actors.state is not None


async def test_actor_placement_sits_beside_the_actor_state_store() -> None:
    async with InProcessSidecar() as sidecar:
        placement = sidecar.runtime.blocks.actors.service.runtime.placement  # type: ignore[union-attr]
        assert type(placement.store).__name__ == "MemoryPlacementStore"
        assert not (sidecar.runtime.config.home / "actors.db").exists()


async def test_without_an_actor_state_store_placement_is_an_sqlite_file_under_the_home() -> None:
    async with InProcessSidecar(components={"pubsub": "pubsub.in-memory"}) as sidecar:
        assert sidecar.runtime.actors is not None and sidecar.runtime.actors.state is None
        assert (sidecar.runtime.config.home / "actors.db").exists()


async def test_the_app_is_asked_for_its_config_once_and_for_subscriptions_only_with_a_pubsub() -> None:
    calls: list[str] = []
    async with InProcessSidecar(counting_app(calls), components={"statestore": "state.in-memory"}):
        pass
    assert calls == ["config"]
    calls.clear()
    async with InProcessSidecar(counting_app(calls)):
        pass
    assert calls == ["config", "subscribe"]


async def test_actor_types_from_the_app_config_are_hosted() -> None:
    calls: list[str] = []
    async with InProcessSidecar(counting_app(calls, {"entities": ["Cart"]})) as sidecar, sidecar.http() as http:
        doc = (await http.get("/v1.0/metadata")).json()
    assert doc["actors"] == [{"type": "Cart", "count": 0}]
