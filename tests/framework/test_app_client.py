"""One sidecar client per app: made as the server starts, injected into handlers and actors,
closed as it stops."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lifespan_support import serving

from tandem import Actor, App, Client, actor_method


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RecordingClient(Client):
    """A real client that counts how often it is made and closed."""

    made: list[RecordingClient] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = 0
        RecordingClient.made.append(self)

    async def aclose(self) -> None:
        self.closed += 1
        await super().aclose()


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[RecordingClient]:
    """Clients made from the environment are `RecordingClient`s, listed here."""
    RecordingClient.made = []
    monkeypatch.setattr(Client, "from_env", classmethod(lambda cls, *a, **kw: RecordingClient("http://sidecar")))
    return RecordingClient.made


class Greeter(Actor):
    @actor_method
    async def sidecar(self) -> str:
        return self.client.base_url


def build_app(seen: list[Any], inner: Any = None) -> App:
    app = App(app=inner)

    @app.method("first")
    async def first(client: Client) -> None:  # the client alone: no payload
        seen.append(client)

    @app.method("second")
    def second(body: dict[str, int], sidecar: Client) -> int:  # payload and client, sync handler
        seen.append(sidecar)
        return body["n"]

    @app.topic("pubsub", "orders")
    async def on_order(data: Any, *, client: Client) -> None:  # keyword-only works as well
        seen.append(client)

    @app.binding("tick")
    async def on_tick(client: Client, body: bytes) -> None:  # any position
        seen.append(client)

    app.register_actor(Greeter)
    return app


@pytest.mark.anyio
@pytest.mark.parametrize("wrapped", [False, True], ids=["alone", "wrapping-fastapi"])
async def test_one_client_is_made_at_startup_shared_and_closed_at_shutdown(
        made: list[RecordingClient], wrapped: bool) -> None:
    seen: list[Any] = []
    app = build_app(seen, FastAPI() if wrapped else None)
    async with serving(app) as http:
        assert len(made) == 1 and made[0].closed == 0  # made as the server started
        assert (await http.post("/first")).status_code == 204
        assert (await http.post("/second", json={"n": 3})).json() == 3
        assert (await http.post("/pubsub/orders", json={"specversion": "1.0", "data": 1})).status_code == 200
        assert (await http.post("/tick", content=b"x")).status_code == 204
        assert (await http.put("/actors/Greeter/g/method/sidecar")).json() == "http://sidecar"
        assert app.actors.client is made[0]
    assert seen == [made[0]] * 4
    assert len(made) == 1 and made[0].closed == 1  # closed once, as the server stopped


@pytest.mark.anyio
async def test_a_client_given_to_the_app_is_used_and_left_open(made: list[RecordingClient]) -> None:
    mine = RecordingClient("http://mine")
    seen: list[Any] = []
    app = App(client=mine)

    @app.method("m")
    async def m(client: Client) -> None:
        seen.append(client)

    async with serving(app) as http:
        await http.post("/m")
    assert seen == [mine] and mine.closed == 0 and made == [mine]


@pytest.mark.anyio
async def test_without_a_lifespan_the_client_is_made_on_first_use(made: list[RecordingClient]) -> None:
    seen: list[Any] = []
    app = build_app(seen)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        await http.post("/first")
        await http.post("/first")
    assert seen == [made[0], made[0]] and len(made) == 1
    await app.aclose()
    assert made[0].closed == 1


def test_two_payload_parameters_are_still_refused() -> None:
    app = App()

    def two(a: int, b: int) -> None: ...

    with pytest.raises(TypeError, match="at most one argument"):
        app.add_method("two", two)
