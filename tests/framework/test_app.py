"""App: invocation handlers, body injection, return values, built-in routes."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from tandem import App


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


def test_decorator_returns_the_function_unchanged() -> None:
    app = App()

    def add(numbers: list[int]) -> int:
        return sum(numbers)

    assert app.method("add")(add) is add
    assert add([1, 2]) == 3


@pytest.mark.anyio
async def test_decorators_stack() -> None:
    app = App()

    @app.method("one")
    @app.method("two", methods="GET")
    def handler() -> str:
        return "hi"

    assert handler() == "hi"
    async with client_for(app) as http:
        assert (await http.post("/one")).text == "hi"
        assert (await http.get("/two")).text == "hi"


@pytest.mark.anyio
async def test_sync_and_async_handlers() -> None:
    app = App()

    @app.method()
    def sync_echo(body: dict[str, Any]) -> dict[str, Any]:
        return {"sync": body}

    @app.method()
    async def async_echo(body: dict[str, Any]) -> dict[str, Any]:
        return {"async": body}

    async with client_for(app) as http:
        assert (await http.post("/sync_echo", json={"a": 1})).json() == {"sync": {"a": 1}}
        assert (await http.post("/async_echo", json={"a": 2})).json() == {"async": {"a": 2}}


@pytest.mark.anyio
async def test_body_injection_by_annotation() -> None:
    app = App()
    seen: dict[str, Any] = {}

    @app.method()
    def no_args() -> None:
        seen["no_args"] = True

    @app.method()
    async def raw(body: bytes) -> None:
        seen["raw"] = body

    @app.method()
    async def request(req: Request) -> None:
        seen["request"] = (req.method, req.headers["x-test"], await req.body())

    @app.method()
    def unannotated(body):  # type: ignore[no-untyped-def]
        seen["unannotated"] = body

    @app.method()
    def text(body: str) -> None:
        seen["text"] = body

    @app.method()
    def number(body: int) -> None:
        seen["number"] = body

    async with client_for(app) as http:
        assert (await http.post("/no_args", content=b"ignored")).status_code == 204
        await http.post("/raw", content=b"\x00\x01")
        await http.post("/request", content=b"xyz", headers={"x-test": "1"})
        await http.post("/unannotated", json=[1, 2])
        await http.post("/text", json="hello")
        await http.post("/number", content=b"42")
        await http.post("/unannotated")  # empty body -> None
        assert seen["unannotated"] is None

    assert seen == {
        "no_args": True,
        "raw": b"\x00\x01",
        "request": ("POST", "1", b"xyz"),
        "unannotated": None,
        "text": "hello",
        "number": 42,
    }


@pytest.mark.anyio
async def test_invalid_json_body_is_400() -> None:
    app = App()
    app.add_method("m", lambda body: body)
    async with client_for(app) as http:
        resp = await http.post("/m", content=b"{nope")
    assert resp.status_code == 400
    assert resp.json()["errorCode"] == "ERR_MALFORMED_REQUEST"


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.mark.anyio
async def test_return_value_conversion() -> None:
    app = App()
    app.add_method("none", lambda: None)
    app.add_method("bytes", lambda: b"\x01\x02")
    app.add_method("str", lambda: "text")
    app.add_method("json", lambda: {"a": [1, 2]})
    app.add_method("dataclass", lambda: Point(1, 2))
    app.add_method("response", lambda: PlainTextResponse("made", status_code=201))

    async with client_for(app) as http:
        none = await http.post("/none")
        assert (none.status_code, none.content) == (204, b"")
        raw = await http.post("/bytes")
        assert raw.headers["content-type"] == "application/octet-stream"
        assert raw.content == b"\x01\x02"
        text = await http.post("/str")
        assert text.headers["content-type"].startswith("text/plain")
        assert text.text == "text"
        data = await http.post("/json")
        assert data.headers["content-type"] == "application/json"
        assert data.json() == {"a": [1, 2]}
        assert (await http.post("/dataclass")).json() == {"x": 1, "y": 2}
        made = await http.post("/response")
        assert (made.status_code, made.text) == (201, "made")


@pytest.mark.anyio
async def test_handler_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.method()
    def boom() -> None:
        raise ValueError("secret detail")

    @app.method()
    def missing() -> None:
        raise HTTPException(404, "no such order")

    async with client_for(app) as http:
        resp = await http.post("/boom")
        assert resp.status_code == 500
        assert resp.json()["errorCode"] == "ERR_APP_HANDLER"
        assert "ValueError" in resp.json()["message"]
        assert "secret detail" not in resp.text
        gone = await http.post("/missing")
        assert (gone.status_code, gone.text) == (404, "no such order")
    assert "secret detail" in caplog.text


@pytest.mark.anyio
async def test_methods_names_and_path_params() -> None:
    app = App()

    @app.method("orders/{order_id}", methods=["GET", "DELETE"])
    def order(request: Request) -> dict[str, str]:
        return {"id": request.path_params["order_id"], "verb": request.method}

    async with client_for(app) as http:
        assert (await http.get("/orders/7")).json() == {"id": "7", "verb": "GET"}
        assert (await http.delete("/orders/8")).json() == {"id": "8", "verb": "DELETE"}
        wrong = await http.post("/orders/9")
        assert wrong.status_code == 405
        assert "GET" in wrong.headers["allow"]
        assert (await http.get("/unknown")).status_code == 404


@pytest.mark.anyio
async def test_builtin_routes() -> None:
    app = App()
    async with client_for(app) as http:
        assert (await http.get("/healthz")).status_code == 200
        config = await http.get("/dapr/config")
        assert config.status_code == 200
        assert config.json() == {"entities": []}
        subscribe = await http.get("/dapr/subscribe")
        assert subscribe.json() == []


@pytest.mark.anyio
async def test_binding_options_probe_and_events() -> None:
    app = App()
    events: list[Any] = []

    @app.binding("checkout")
    def on_checkout(event: dict[str, Any]) -> None:
        events.append(event)

    @app.binding("cron", route="/jobs/tick")
    async def on_tick(request: Request) -> str:
        return request.headers.get("readTimeUTC", "")

    @app.binding("broken")
    def on_broken() -> None:
        raise RuntimeError("nope")

    async with client_for(app) as http:
        assert (await http.options("/checkout")).status_code == 200
        assert (await http.post("/checkout", json={"order": 1})).status_code == 204
        assert (await http.options("/jobs/tick")).status_code == 200
        tick = await http.post("/jobs/tick", headers={"readTimeUTC": "now"})
        assert (tick.status_code, tick.text) == (200, "now")
        assert (await http.post("/broken")).status_code == 500
    assert events == [{"order": 1}]


def test_handler_signature_is_checked_at_registration() -> None:
    app = App()

    def two(a: int, b: int) -> None: ...

    with pytest.raises(TypeError, match="at most one argument"):
        app.add_method("two", two)

    def keyword_only(a: int, *, b: int) -> None: ...

    with pytest.raises(TypeError):
        app.add_method("kw", keyword_only)

    def with_default(a: int, b: int = 1) -> None: ...

    app.add_method("ok", with_default)


@pytest.mark.anyio
async def test_method_decorator_works_without_parentheses() -> None:
    app = App()

    @app.method
    async def ping() -> str:
        return "pong"

    @app.method
    def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    assert await ping() == "pong"  # returned unchanged
    assert [(s.name, s.methods) for s in app.registrations] == [("ping", ("POST",)), ("echo", ("POST",))]
    async with client_for(app) as http:
        assert (await http.post("/ping")).text == "pong"
        assert (await http.post("/echo", json={"a": 1})).json() == {"a": 1}


def test_duplicate_and_reserved_routes_are_rejected() -> None:
    app = App()
    app.add_method("orders", lambda: None)
    with pytest.raises(ValueError, match="POST /orders"):
        app.add_method("orders", lambda: None)
    app.add_method("orders", lambda: None, methods=["GET"])  # another verb is fine
    with pytest.raises(ValueError, match="/healthz"):
        app.add_method("healthz", lambda: None, methods=["GET"])


@pytest.mark.anyio
async def test_registration_is_frozen_once_serving() -> None:
    app = App()
    app.add_method("early", lambda: "ok")
    assert not app.started
    async with client_for(app) as http:
        assert (await http.post("/early")).text == "ok"
    assert app.started
    with pytest.raises(RuntimeError, match="already serving"):
        app.add_method("late", lambda: None)


def test_app_client_reads_environment_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    app = App(app_id="orders")
    monkeypatch.setenv("DAPR_HTTP_PORT", "4711")
    monkeypatch.delenv("DAPR_HTTP_ENDPOINT", raising=False)
    assert app.client.base_url == "http://127.0.0.1:4711"  # read on first use, not at App()
    assert app.client is app.client  # one client per app
    assert app.app_id == "orders"


@pytest.mark.anyio
async def test_handlers_are_called_directly_in_unit_tests() -> None:
    app = App()

    @app.method()
    async def greet(name: str) -> str:
        return f"hello {name}"

    @app.topic("pubsub", "orders")
    def on_order(order: dict[str, int]) -> int:
        return order["id"]

    assert await greet("ada") == "hello ada"
    assert on_order({"id": 7}) == 7
