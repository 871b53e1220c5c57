"""What actors and the client send to the sidecar: one state transaction per turn, and the
request shapes of the actor API (``/v1.0/actors/...``).

A small aiohttp server stands in for the sidecar. It records every request and keeps the
state transactions it gets in a dict, only so that reads after writes have something to
return; the assertions are about what was sent, not about a sidecar's behaviour.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from aiohttp import test_utils, web

from tandem import Actor, App, CancelReminder, Client, SidecarError, actor_method


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclasses.dataclass
class StandIn:
    """The recorded requests and the knobs of the stand-in sidecar."""

    url: str = ""
    seen: list[tuple[str, str, dict[str, str], bytes]] = dataclasses.field(default_factory=list)
    store: dict[str, bytes] = dataclasses.field(default_factory=dict)
    #: When set, the reply to every state transaction (status, body).
    save_reply: tuple[int, bytes] | None = None
    #: The reply to everything else (status, body, content type).
    reply: tuple[int, bytes, str] = (204, b"", "application/json")

    def requests(self, method: str | None = None, contains: str = "") -> list[tuple[str, str, Any]]:
        """(method, path, decoded JSON body or None) of the requests seen, filtered."""
        return [(m, p, json.loads(b) if b else None) for m, p, _, b in self.seen
                if (method is None or m == method) and contains in p]


@pytest.fixture
async def sidecar() -> AsyncIterator[StandIn]:
    stand_in = StandIn()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        stand_in.seen.append((request.method, request.raw_path, dict(request.headers), body))
        parts = request.path.split("/")  # '', 'v1.0', 'actors', type, id, what, [key]
        if len(parts) == 7 and parts[5] == "state" and request.method == "GET":
            value = stand_in.store.get(parts[6])
            return web.Response(status=204) if value is None else web.Response(body=value)
        if len(parts) == 6 and parts[5] == "state":
            if stand_in.save_reply is not None:
                return web.Response(status=stand_in.save_reply[0], body=stand_in.save_reply[1])
            for op in json.loads(body):
                key = op["request"]["key"]
                if op["operation"] == "upsert":
                    stand_in.store[key] = json.dumps(op["request"]["value"]).encode()
                else:
                    stand_in.store.pop(key, None)
            return web.Response(status=204)
        status, payload, ctype = stand_in.reply
        return web.Response(status=status, body=payload, content_type=ctype if payload else None)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server()
    stand_in.url = str(server.make_url("")).rstrip("/")
    yield stand_in
    await server.close()


@pytest.fixture
async def client(sidecar: StandIn) -> AsyncIterator[Client]:
    async with Client(sidecar.url, api_token="tok") as c:
        yield c


class Account(Actor):
    @actor_method
    async def move(self, amount: int) -> int:
        balance = await self.state.get("balance", 0)
        assert await self.state.get("balance", 0) == balance  # a second read is served from the cache
        await self.state.set("balance", balance + amount)
        await self.state.set("last", {"amount": amount})
        await self.state.remove("old")
        return int(balance + amount)

    @actor_method
    async def read(self) -> Any:
        return {"balance": await self.state.get("balance"), "has_old": await self.state.contains("old")}

    @actor_method
    async def broken(self) -> None:
        await self.state.set("balance", -1)
        raise RuntimeError("after the write")

    @actor_method
    async def scratch(self) -> bool:
        assert not await self.state.contains("tmp")
        await self.state.set("tmp", 1)
        await self.state.remove("tmp")  # never saved, so nothing to delete
        return await self.state.contains("tmp")

    async def on_timer(self, data: Any) -> None:
        await self.state.set("timer", data)

    async def receive_reminder(self, name: str, data: Any, due_time: str | None, period: str | None) -> None:
        await self.state.set(name, data)
        raise CancelReminder()


@pytest.fixture
def actor_app(client: Client) -> App:
    app = App()
    app.register_actor(Account)
    app.actors.use_client(client)
    return app


def app_http(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


# -- state: read once, save once per turn ----------------------------------------------


@pytest.mark.anyio
async def test_a_turn_reads_each_key_once_and_saves_its_changes_in_one_transaction(
    sidecar: StandIn, actor_app: App
) -> None:
    sidecar.store["balance"] = b"10"
    async with app_http(actor_app) as http:
        assert (await http.put("/actors/Account/a%201/method/move", json=5)).json() == 15
        assert sidecar.requests("GET") == [("GET", "/v1.0/actors/Account/a%201/state/balance", None)]
        assert sidecar.requests("POST") == [("POST", "/v1.0/actors/Account/a%201/state", [
            {"operation": "upsert", "request": {"key": "balance", "value": 15}},
            {"operation": "upsert", "request": {"key": "last", "value": {"amount": 5}}},
            {"operation": "delete", "request": {"key": "old"}},
        ])]
        assert sidecar.seen[-1][2]["dapr-api-token"] == "tok"
        sidecar.seen.clear()
        assert (await http.put("/actors/Account/a%201/method/read")).json() == {"balance": 15, "has_old": False}
        assert sidecar.seen == []  # everything was cached, nothing changed: no request at all


@pytest.mark.anyio
async def test_a_failed_turn_saves_nothing_and_the_next_turn_reads_again(sidecar: StandIn, actor_app: App) -> None:
    sidecar.store["balance"] = b"3"
    async with app_http(actor_app) as http:
        assert (await http.put("/actors/Account/a/method/read")).json()["balance"] == 3
        failed = await http.put("/actors/Account/a/method/broken")
        assert (failed.status_code, failed.json()["errorCode"]) == (500, "ERR_ACTOR_METHOD")
        assert sidecar.requests("POST") == []
        sidecar.seen.clear()
        assert (await http.put("/actors/Account/a/method/read")).json()["balance"] == 3
        assert [p for _, p, _ in sidecar.requests("GET")] == ["/v1.0/actors/Account/a/state/balance",
                                                             "/v1.0/actors/Account/a/state/old"]


@pytest.mark.anyio
async def test_a_key_set_and_removed_in_one_turn_sends_nothing(sidecar: StandIn, actor_app: App) -> None:
    async with app_http(actor_app) as http:
        assert (await http.put("/actors/Account/a/method/scratch")).json() is False
    assert sidecar.requests("POST") == []


@pytest.mark.anyio
async def test_a_refused_save_fails_the_call_and_drops_the_cache(sidecar: StandIn, actor_app: App) -> None:
    sidecar.save_reply = (400, b'{"errorCode":"ERR_ACTOR_INSTANCE_MISSING","message":"actor instance is missing"}')
    async with app_http(actor_app) as http:
        reply = await http.put("/actors/Account/a/method/move", json=1)
        assert (reply.status_code, reply.json()["errorCode"]) == (500, "ERR_ACTOR_STATE_SAVE")
        assert "ERR_ACTOR_INSTANCE_MISSING" in reply.json()["message"]
        sidecar.save_reply = None
        assert (await http.put("/actors/Account/a/method/move", json=1)).json() == 1  # read again: still 0


@pytest.mark.anyio
async def test_timer_and_reminder_turns_save_their_state_too(sidecar: StandIn, actor_app: App) -> None:
    async with app_http(actor_app) as http:
        timer = await http.put("/actors/Account/a/method/timer/t", json={"callback": "on_timer", "data": [1]})
        reminder = await http.put("/actors/Account/a/method/remind/nightly", json={"data": "x", "period": "1h"})
    assert timer.status_code == 200
    assert (reminder.status_code, reminder.headers["x-daprremindercancel"]) == (200, "true")  # cancelled, saved
    assert [body for _, _, body in sidecar.requests("POST")] == [
        [{"operation": "upsert", "request": {"key": "timer", "value": [1]}}],
        [{"operation": "upsert", "request": {"key": "nightly", "value": "x"}}],
    ]


@pytest.mark.anyio
async def test_state_written_in_on_activate_is_saved_with_the_first_turn(sidecar: StandIn, client: Client) -> None:
    app = App()

    @app.actor
    class Born(Actor):
        async def on_activate(self) -> None:
            if not await self.state.contains("born"):
                await self.state.set("born", True)

        @actor_method
        async def ping(self) -> str:
            await self.state.set("pinged", 1)
            return "pong"

    app.actors.use_client(client)
    async with app_http(app) as http:
        assert (await http.put("/actors/Born/b/method/ping")).json() == "pong"
    assert [body for _, _, body in sidecar.requests("POST")] == [[
        {"operation": "upsert", "request": {"key": "born", "value": True}},
        {"operation": "upsert", "request": {"key": "pinged", "value": 1}},
    ]]


# -- the proxy -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_proxy_arguments_become_the_json_body(sidecar: StandIn, client: Client) -> None:
    sidecar.reply = (200, b'{"ok":true}', "application/json")
    proxy = client.actor("Counter", "c/1")
    assert await proxy.call("increment", 5) == {"ok": True}
    await proxy.increment()
    await proxy.call("add", 1, 2)
    await proxy.transfer(to="b", amount=3)
    await proxy.call("put", {"a": 1})
    with pytest.raises(TypeError, match="not both"):
        await proxy.call("mixed", 1, b=2)
    assert sidecar.requests() == [
        ("POST", "/v1.0/actors/Counter/c%2F1/method/increment", 5),
        ("POST", "/v1.0/actors/Counter/c%2F1/method/increment", None),
        ("POST", "/v1.0/actors/Counter/c%2F1/method/add", [1, 2]),
        ("POST", "/v1.0/actors/Counter/c%2F1/method/transfer", {"to": "b", "amount": 3}),
        ("POST", "/v1.0/actors/Counter/c%2F1/method/put", {"a": 1}),
    ]
    headers = sidecar.seen[0][2]
    assert headers["Content-Type"] == "application/json" and headers["dapr-api-token"] == "tok"
    assert sidecar.seen[1][3] == b"" and "Dapr-Reentrancy-Id" not in headers


@pytest.mark.anyio
async def test_proxy_decodes_results_and_raises_sidecar_errors(sidecar: StandIn, client: Client) -> None:
    proxy = client.actor("Counter", "c1")
    sidecar.reply = (200, b"", "application/json")
    assert await proxy.get() is None
    sidecar.reply = (200, b"plain", "text/plain")
    assert await proxy.get() == "plain"
    sidecar.reply = (500, b'{"errorCode":"ERR_ACTOR_INVOKE_METHOD","message":"error invoke actor method"}',
                     "application/json")
    with pytest.raises(SidecarError) as caught:
        await proxy.get()
    assert (caught.value.status, caught.value.error_code) == (500, "ERR_ACTOR_INVOKE_METHOD")
    with pytest.raises(AttributeError):
        proxy._private  # noqa: B018 - attribute access is the test


@pytest.mark.anyio
async def test_calls_made_during_a_turn_carry_its_reentrancy_id(sidecar: StandIn, client: Client) -> None:
    app = App()

    @app.actor
    class Caller(Actor):
        @actor_method
        async def relay(self) -> Any:
            return await self.client.actor("Other", "o1").call("back")

    app.actors.use_client(client)
    sidecar.reply = (200, b'"back"', "application/json")
    async with app_http(app) as http:
        reply = await http.put("/actors/Caller/c/method/relay", headers={"Dapr-Reentrancy-Id": "chain-7"})
        assert reply.json() == "back"
        await http.put("/actors/Caller/c/method/relay")
    await client.actor("Other", "o1").call("outside")
    sent = [headers.get("Dapr-Reentrancy-Id") for _, path, headers, _ in sidecar.seen if "/method/" in path]
    assert sent == ["chain-7", None, None]


# -- timers, reminders, low-level state calls ------------------------------------------


@pytest.mark.anyio
async def test_timer_and_reminder_registration_bodies(sidecar: StandIn, client: Client) -> None:
    app = App()

    @app.actor
    class Planner(Actor):
        @actor_method(name="Tick")
        async def tick(self, data: Any) -> None: ...

        @actor_method
        async def plan(self) -> None:
            await self.register_timer("t1", self.tick, timedelta(seconds=2), 1.5, data={"n": 1})
            await self.register_timer("t2", "Tick", "PT5S", "R3/PT1S", ttl="1m")
            await self.register_reminder("r1", [1], due_time=0, period=timedelta(hours=1),
                                         ttl=datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc))
            await self.register_reminder("once")
            await self.unregister_timer("t1")
            await self.unregister_reminder("r1")

        @actor_method
        async def bad(self) -> None:
            await self.register_timer("t", "nowhere")

    app.actors.use_client(client)
    async with app_http(app) as http:
        assert (await http.put("/actors/Planner/p/method/plan")).status_code == 200
        failed = await http.put("/actors/Planner/p/method/bad")
        assert failed.status_code == 500 and "ValueError" in failed.json()["message"]
    base = "/v1.0/actors/Planner/p"
    assert sidecar.requests() == [
        ("POST", f"{base}/timers/t1", {"dueTime": "2s", "period": "1.5s", "data": {"n": 1}, "callback": "tick"}),
        ("POST", f"{base}/timers/t2", {"dueTime": "PT5S", "period": "R3/PT1S", "ttl": "1m", "callback": "Tick"}),
        ("POST", f"{base}/reminders/r1", {"dueTime": "0s", "period": "1h0m0s", "ttl": "2031-05-06T07:08:09Z",
                                          "data": [1]}),
        ("POST", f"{base}/reminders/once", {}),
        ("DELETE", f"{base}/timers/t1", None),
        ("DELETE", f"{base}/reminders/r1", None),
    ]


@pytest.mark.anyio
async def test_get_reminder_and_actor_state_calls(sidecar: StandIn, client: Client) -> None:
    sidecar.reply = (200, json.dumps({
        "actorID": "p", "actorType": "Planner", "name": "r1", "dueTime": "1s", "period": "1h",
        "data": {"n": 1}, "registeredTime": "2030-01-01T00:00:00Z"}).encode(), "application/json")
    reminder = await client.get_actor_reminder("Planner", "p", "r1")
    assert reminder is not None
    assert (reminder.name, reminder.period, reminder.data, reminder.expiration_time) == ("r1", "1h", {"n": 1}, None)
    sidecar.reply = (204, b"", "application/json")
    assert await client.get_actor_reminder("Planner", "p", "gone") is None
    sidecar.store["k"] = b'{"v":1}'
    item = await client.get_actor_state("Planner", "p", "k")
    assert item is not None and item.json() == {"v": 1}
    assert await client.get_actor_state("Planner", "p", "missing") is None
