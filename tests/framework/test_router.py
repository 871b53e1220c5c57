"""Router: registrations recorded in one place and replayed onto an App."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tandem import App, Router
from tandem.router import BindingSpec, MethodSpec, TopicSpec


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_router() -> Router:
    router = Router()

    @router.method("orders/create")
    def create(order: dict[str, Any]) -> dict[str, Any]:
        return {"created": order["id"]}

    @router.topic("pubsub", "orders")
    def on_order(order: Any) -> None: ...

    @router.binding("tick")
    def on_tick() -> None: ...

    return router


def test_router_records_in_order() -> None:
    router = make_router()
    kinds = [type(spec) for spec in router.registrations]
    assert kinds == [MethodSpec, TopicSpec, BindingSpec]


def test_router_decorators_return_the_function() -> None:
    router = Router()

    def handler() -> str:
        return "x"

    assert router.topic("ps", "t")(handler) is handler
    assert router.binding("b")(handler) is handler
    assert router.method()(handler) is handler
    assert handler() == "x"


@pytest.mark.anyio
async def test_include_router_replays_onto_the_app() -> None:
    app = App()
    app.include_router(make_router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        created = await http.post("/orders/create", json={"id": 3})
        assert created.json() == {"created": 3}
        subs = (await http.get("/dapr/subscribe")).json()
        assert subs == [{"pubsubname": "pubsub", "topic": "orders", "route": "/pubsub/orders"}]
        assert (await http.options("/tick")).status_code == 200


def test_routers_nest_and_conflicts_surface_on_include() -> None:
    inner = make_router()
    outer = Router()
    outer.include_router(inner)
    assert outer.registrations == inner.registrations

    app = App()
    app.include_router(outer)
    with pytest.raises(ValueError, match="already served"):
        app.include_router(inner)

    clashing = Router()
    clashing.add_method("fresh", lambda: None)
    clashing.add_method("orders/create", lambda: None)
    with pytest.raises(ValueError):
        app.include_router(clashing)
    assert len(app.registrations) == 3  # nothing of the failed include was kept


def test_registries_belong_to_instances() -> None:
    first, second = App(), App()
    first.add_method("only-here", lambda: None)
    assert len(first.registrations) == 1
    assert second.registrations == ()
    assert Router().registrations == ()
