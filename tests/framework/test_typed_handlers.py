"""Typed handlers: @method, @topic and @binding receive their annotated type, refuse what does
not fit (400 / DROP) and refuse, at registration, an annotation they cannot honour."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx
import pydantic
import pytest

from tandem import Actor, App, Router, actor_method


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


@dataclass
class OrderDC:
    id: int
    items: list[str]


class OrderTD(TypedDict):
    id: int
    items: list[str]


class OrderPD(pydantic.BaseModel):
    id: int
    items: list[str]


KINDS = [OrderDC, OrderTD, OrderPD]
GOOD = {"id": 7, "items": ["tea"]}
BAD = {"id": "seven", "items": ["tea"]}


def event(data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e1", "source": "test", "type": "t",
            "datacontenttype": "application/json", "data": data}


def typed_app(kind: type, seen: list[Any]) -> App:
    """One handler of each decorator, all annotated with `kind` (a local name, resolved at registration)."""
    app = App()
    order_type = kind

    @app.method("orders")
    async def on_invoke(order: order_type) -> None:  # type: ignore[valid-type]
        seen.append(order)

    @app.topic("pubsub", "orders")
    def on_event(order: order_type) -> None:  # type: ignore[valid-type]
        seen.append(order)

    @app.binding("queue")
    async def on_binding(order: order_type) -> None:  # type: ignore[valid-type]
        seen.append(order)

    return app


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_each_decorator_receives_the_annotated_type(kind: type) -> None:
    seen: list[Any] = []
    app = typed_app(kind, seen)
    async with client_for(app) as http:
        assert (await http.post("/orders", json=GOOD)).status_code == 204
        assert (await http.post("/pubsub/orders", json=event(GOOD))).json() == {"status": "SUCCESS"}
        assert (await http.post("/queue", json=GOOD)).status_code == 204
    expected = kind(**GOOD)
    assert seen == [expected] * 3
    assert all(type(s) is type(expected) for s in seen)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_invocation_and_binding_refuse_a_misfit_with_400_naming_the_field(kind: type) -> None:
    seen: list[Any] = []
    app = typed_app(kind, seen)
    async with client_for(app) as http:
        for path in ("/orders", "/queue"):
            reply = await http.post(path, json=BAD)
            assert reply.status_code == 400
            body = reply.json()
            assert body["errorCode"] == "ERR_MALFORMED_REQUEST"
            assert "field 'id'" in body["message"] and kind.__name__ in body["message"]
        reply = await http.post("/orders", json=[1, 2])
        assert reply.status_code == 400 and "got a JSON array" in reply.json()["message"]
    assert seen == []


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_an_event_that_can_never_fit_is_dropped_with_a_log_line(
        kind: type, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []
    app = typed_app(kind, seen)
    with caplog.at_level(logging.WARNING, logger="tandem.app"):
        async with client_for(app) as http:
            reply = await http.post("/pubsub/orders", json=event(BAD))
    assert (reply.status_code, reply.json()) == (200, {"status": "DROP"})
    assert seen == []
    [record] = [r for r in caplog.records if "dropping event e1" in r.getMessage()]
    assert "field 'id'" in record.getMessage() and "on_event" in record.getMessage()


@pytest.mark.anyio
async def test_plain_json_annotations_are_checked_too() -> None:
    app = App()

    @app.method("sum")
    def total(numbers: list[int]) -> int:
        return sum(numbers)

    @app.method("maybe")
    def maybe(body: dict[str, Any] | None) -> str:
        return "none" if body is None else "some"

    async with client_for(app) as http:
        assert (await http.post("/sum", json=[1, 2])).json() == 3
        reply = await http.post("/sum", json=[1, "2"])
        assert reply.status_code == 400 and "field '[1]': expected int" in reply.json()["message"]
        assert (await http.post("/maybe")).text == "none"
        assert (await http.post("/maybe", json={"a": 1})).text == "some"


class NoWayToBuild:
    def __init__(self, raw: str) -> None:
        self.raw = raw


@pytest.mark.parametrize("annotation", ["NoWayToBuild", "dict[int, str]", "type[OrderDC]", "Missing"])
def test_an_annotation_that_cannot_be_honoured_is_refused_at_registration(annotation: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def handler(order: {annotation}) -> None: ...", globals(), namespace)  # noqa: S102
    handler = namespace["handler"]
    for register in (lambda a: a.add_method("m", handler), lambda a: a.add_topic("ps", "t", handler),
                     lambda a: a.add_binding("b", handler), lambda a: Router().add_method("m", handler)):
        app = App()
        with pytest.raises(TypeError, match=f"handler 'handler'.*{annotation.split('[')[0]}"):
            register(app)
        assert app.registrations == ()


def test_the_refusal_names_the_handler_and_the_annotation() -> None:
    app = App()

    async def create(order: NoWayToBuild) -> None: ...

    with pytest.raises(TypeError) as caught:
        app.method()(create)
    assert str(caught.value).startswith("handler 'create' (parameter 'order'): cannot decode a payload "
                                        "into NoWayToBuild: it is not a dataclass")


@pytest.mark.anyio
async def test_actor_methods_decode_their_parameters_by_the_same_rules() -> None:
    class Shop(Actor):
        @actor_method
        async def place(self, order: OrderDC, express: bool = False) -> dict[str, Any]:
            return {"order": type(order).__name__, "id": order.id, "express": express}

    app = App()
    app.register_actor(Shop)
    async with client_for(app) as http:
        reply = await http.put("/actors/Shop/s1/method/place", json={"order": GOOD, "express": True})
        assert reply.json() == {"order": "OrderDC", "id": 7, "express": True}
        reply = await http.put("/actors/Shop/s1/method/place", json=[BAD])
        assert reply.status_code == 400 and reply.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
        assert "parameter 'order': field 'id': expected int" in reply.json()["message"]


def test_an_actor_method_annotation_that_cannot_be_honoured_is_refused_at_registration() -> None:
    class Broken(Actor):
        @actor_method
        async def take(self, thing: NoWayToBuild) -> None: ...

    app = App()
    with pytest.raises(TypeError, match="actor method Broken.take .*parameter 'thing'.*NoWayToBuild"):
        app.register_actor(Broken)
    assert app.actors.entities == []


@pytest.mark.anyio
async def test_an_unresolvable_annotation_on_a_defaulted_extra_parameter_is_left_alone() -> None:
    namespace: dict[str, Any] = {}
    exec("def handler(order: OrderDC, flag: NotImportedHere = None) -> int: return order.id",  # noqa: S102
         globals(), namespace)
    app = App()
    app.add_method("m", namespace["handler"])
    async with client_for(app) as http:
        assert (await http.post("/m", json=GOOD)).json() == 7
