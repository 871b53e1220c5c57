"""Actors in the app, no sidecar: ``/dapr/config``, registration, the §5.2 routes, turns, reentrancy.

Nothing here touches actor state, so no request leaves the app; the sidecar-facing side
(state batching, the client's request shapes) is in test_actor_sidecar_calls.py.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lifespan_support import serving

from tandem import Actor, ActorConfig, App, CancelReminder, Reentrancy, actor_method
from tandem.actors.durations import go_duration, wire_time
from tandem.testing import await_for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


class Calculator(Actor):
    """Argument binding: one parameter, several, none; sync and async; a renamed method."""

    @actor_method
    async def echo(self, value: Any) -> Any:
        return {"got": value, "id": self.id}

    @actor_method
    def add(self, a: int, b: int = 0) -> int:
        return a + b

    @actor_method
    async def nothing(self) -> None:
        return None

    @actor_method(name="Shout")
    async def shout(self, text: str) -> str:
        return text.upper()

    @actor_method
    async def fail(self) -> None:
        raise KeyError("secret account 42")

    async def not_exposed(self) -> str:
        return "hidden"


# -- /dapr/config and registration -----------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (0, "0s"), (30, "30s"), (90.5, "1m30.5s"), (3600, "1h0m0s"), (timedelta(minutes=5), "5m0s"),
    (timedelta(days=1, seconds=1), "24h0m1s"), (0.25, "250ms"), (0.0005, "500\u00b5s"), (1e-7, "100ns"),
])
def test_durations_are_written_as_go_prints_them(value: Any, text: str) -> None:
    assert go_duration(value) == text


def test_time_options_accept_timedelta_seconds_strings_and_aware_datetimes() -> None:
    assert wire_time(timedelta(seconds=3), "due_time") == "3s"
    assert wire_time("R5/PT1S", "period", absolute=False) == "R5/PT1S"  # strings go through as given
    moment = datetime(2030, 1, 2, 4, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    assert wire_time(moment, "due_time") == "2030-01-02T03:05:06Z"
    with pytest.raises(ValueError, match="negative"):
        wire_time(-1, "period", absolute=False)
    with pytest.raises(TypeError, match="point in time"):
        wire_time(moment, "period", absolute=False)
    with pytest.raises(ValueError, match="timezone-aware"):
        wire_time(datetime(2030, 1, 1), "ttl")
    with pytest.raises(TypeError):
        wire_time(True, "ttl")


@pytest.mark.anyio
async def test_config_lists_the_types_with_defaults_and_per_type_overrides() -> None:
    app = App(actor_config=ActorConfig(idle_timeout=timedelta(minutes=10), drain_ongoing_call_timeout="30s"))
    app.register_actor(Calculator)

    @app.actor(reentrancy=Reentrancy(max_stack_depth=8), idle_timeout=90)
    class Wallet(Actor):
        actor_type = "bank.Wallet"

    async with client_for(app) as http:
        config = (await http.get("/dapr/config")).json()
    assert config == {
        "entities": ["Calculator", "bank.Wallet"],
        "actorIdleTimeout": "10m0s",
        "drainOngoingCallTimeout": "30s",
        "drainRebalancedActors": True,
        "reentrancy": {"enabled": False, "maxStackDepth": 32},
        "entitiesConfig": [{
            "entities": ["bank.Wallet"], "actorIdleTimeout": "1m30s", "drainOngoingCallTimeout": "30s",
            "drainRebalancedActors": True, "reentrancy": {"enabled": True, "maxStackDepth": 8},
        }],
    }


def test_registration_returns_the_class_and_refuses_mistakes() -> None:
    app = App()
    assert app.register_actor(Calculator) is Calculator
    assert Calculator.actor_type == "Calculator"
    with pytest.raises(ValueError, match="already registered"):
        app.register_actor(Calculator)
    with pytest.raises(TypeError, match="subclass of tandem.Actor"):
        app.register_actor(dict)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="invalid actor type"):
        type("Bad", (Actor,), {"actor_type": "a/b"})
    with pytest.raises(ValueError, match="reentrancy|positive"):
        ActorConfig(reentrancy=Reentrancy(max_stack_depth=0))

    class Twice(Actor):
        @actor_method(name="same")
        def one(self) -> None: ...

        @actor_method(name="same")
        def two(self) -> None: ...

    with pytest.raises(ValueError, match="both exposed as 'same'"):
        app.register_actor(Twice)
    app._build()
    with pytest.raises(RuntimeError, match="already serving"):
        app.register_actor(type("Late", (Actor,), {}))


def test_actor_method_returns_the_function_unchanged() -> None:
    def deposit(self: Any, amount: int) -> int:
        return amount

    assert actor_method(deposit) is deposit
    assert actor_method(name="Deposit")(deposit) is deposit


@pytest.mark.anyio
async def test_without_actors_the_routes_are_left_to_the_inner_app() -> None:
    api = FastAPI()

    @api.put("/actors/{rest:path}")
    async def mine(rest: str) -> dict[str, str]:
        return {"inner": rest}

    async with client_for(App(app=api)) as http:
        assert (await http.get("/dapr/config")).json() == {"entities": []}
        assert (await http.put("/actors/X/1/method/m")).json() == {"inner": "X/1/method/m"}


# -- method calls ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_body_is_the_argument_and_the_result_comes_back_as_json() -> None:
    app = App()
    app.register_actor(Calculator)
    async with client_for(app) as http:
        reply = await http.put("/actors/Calculator/c1/method/echo", json={"a": [1, 2]})
        assert (reply.status_code, reply.json()) == (200, {"got": {"a": [1, 2]}, "id": "c1"})
        assert reply.headers["content-type"] == "application/json"
        assert (await http.put("/actors/Calculator/c1/method/echo", content=b"null")).json()["got"] is None
        assert (await http.put("/actors/Calculator/c1/method/add", json=[2, 3])).json() == 5
        assert (await http.put("/actors/Calculator/c1/method/add", json={"a": 4, "b": 1})).json() == 5
        assert (await http.put("/actors/Calculator/c1/method/add", json=7)).json() == 7
        nothing = await http.put("/actors/Calculator/c1/method/nothing")
        assert (nothing.status_code, nothing.content) == (200, b"null")
        assert (await http.put("/actors/Calculator/c1/method/Shout", json="hi")).json() == "HI"


@pytest.mark.anyio
async def test_bad_requests_unknown_methods_and_failures_get_clear_errors() -> None:
    app = App()
    app.register_actor(Calculator)
    async with client_for(app) as http:
        async def put(path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
            reply = await http.put(f"/actors/{path}", **kw)
            return reply.status_code, reply.json()

        status, body = await put("Calculator/c1/method/add", json={"c": 1})
        assert (status, body["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")
        assert "Calculator.add" in body["message"] and "'a'" in body["message"]
        status, body = await put("Calculator/c1/method/echo", content=b"{not json")
        assert (status, body["errorCode"]) == (400, "ERR_MALFORMED_REQUEST") and "JSON" in body["message"]
        status, body = await put("Calculator/c1/method/nothing", json=[1])
        assert (status, body["errorCode"]) == (400, "ERR_MALFORMED_REQUEST") and "no arguments" in body["message"]
        for path in ("Calculator/c1/method/not_exposed", "Calculator/c1/method/shout"):
            status, body = await put(path)
            assert (status, body["errorCode"]) == (404, "ERR_ACTOR_METHOD_NOT_FOUND")
        status, body = await put("Nope/c1/method/echo", json=1)
        assert (status, body["errorCode"]) == (404, "ERR_ACTOR_TYPE_NOT_FOUND")
        status, body = await put("Calculator/c1/method/fail")
        assert (status, body["errorCode"]) == (500, "ERR_ACTOR_METHOD")
        assert body["message"] == "KeyError in actor method Calculator.fail"  # the text stays in the log
        assert (await http.post("/actors/Calculator/c1/method/echo", json=1)).status_code == 405


# -- activation and deactivation -------------------------------------------------------


@pytest.mark.anyio
async def test_first_call_activates_and_delete_deactivates() -> None:
    events: list[str] = []
    app = App()

    @app.actor
    class Tracked(Actor):
        async def on_activate(self) -> None:
            events.append(f"activate {self.id}")

        def on_deactivate(self) -> None:  # hooks may be sync
            events.append(f"deactivate {self.id}")

        @actor_method
        async def ping(self) -> int:
            events.append(f"ping {self.id}")
            return id(self)

    async with client_for(app) as http:
        first = (await http.put("/actors/Tracked/t1/method/ping")).json()
        assert (await http.put("/actors/Tracked/t1/method/ping")).json() == first  # the same instance
        assert list(app.actors.active()) == [("Tracked", "t1")]
        assert (await http.delete("/actors/Tracked/t1")).status_code == 200
        assert app.actors.active() == {}
        assert (await http.delete("/actors/Tracked/t1")).status_code == 200  # not active: still 200
        assert (await http.delete("/actors/Unknown/x")).status_code == 200
        assert (await http.put("/actors/Tracked/t1/method/ping")).json() != first  # a new activation
    assert events == ["activate t1", "ping t1", "ping t1", "deactivate t1", "activate t1", "ping t1"]


@pytest.mark.anyio
async def test_a_failed_activation_is_retried_on_the_next_call() -> None:
    attempts: list[int] = []
    app = App()

    @app.actor
    class Flaky(Actor):
        async def on_activate(self) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("store not ready")

        @actor_method
        async def ping(self) -> str:
            return "pong"

    async with client_for(app) as http:
        failed = await http.put("/actors/Flaky/f/method/ping")
        assert (failed.status_code, failed.json()["errorCode"]) == (500, "ERR_ACTOR_METHOD")
        assert app.actors.active() == {}
        assert (await http.put("/actors/Flaky/f/method/ping")).json() == "pong"
    assert len(attempts) == 2


# -- turns -----------------------------------------------------------------------------


class Gate(Actor):
    """`hold` waits until the test opens its tag's gate, logging when it enters and leaves."""

    log: list[tuple[str, str, str]] = []
    gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    @actor_method
    async def hold(self, tag: str) -> str:
        self.log.append(("in", self.id, tag))
        await self.gates[tag].wait()
        self.log.append(("out", self.id, tag))
        return tag


@pytest.fixture
def gate_app() -> App:
    Gate.log, Gate.gates = [], defaultdict(asyncio.Event)
    app = App()
    app.register_actor(Gate)
    return app


async def _let_others_run() -> None:
    """Yield to the loop many times: a turn that could enter would have entered."""
    for _ in range(200):
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_calls_to_one_actor_take_turns_and_different_actors_run_in_parallel(gate_app: App) -> None:
    async with client_for(gate_app) as http:
        async def call(actor_id: str, tag: str, rid: str | None = None) -> str:
            headers = {"Dapr-Reentrancy-Id": rid} if rid else {}
            reply = await http.put(f"/actors/Gate/{actor_id}/method/hold", json=tag, headers=headers)
            return str(reply.json())

        a = asyncio.create_task(call("g1", "a"))
        await await_for(lambda: ("in", "g1", "a") in Gate.log, what="the first turn")
        b = asyncio.create_task(call("g1", "b"))
        other = asyncio.create_task(call("g2", "c"))
        await await_for(lambda: ("in", "g2", "c") in Gate.log, what="another actor's turn")  # in parallel
        await _let_others_run()
        assert ("in", "g1", "b") not in Gate.log  # waits for a's turn to end
        Gate.gates["a"].set()
        assert await a == "a"
        await await_for(lambda: ("in", "g1", "b") in Gate.log, what="the second turn")
        Gate.gates["b"].set()
        Gate.gates["c"].set()
        assert (await b, await other) == ("b", "c")
    g1 = [entry for entry in Gate.log if entry[1] == "g1"]
    assert g1 == [("in", "g1", "a"), ("out", "g1", "a"), ("in", "g1", "b"), ("out", "g1", "b")]


@pytest.mark.anyio
async def test_a_call_of_the_chain_holding_the_actor_enters_at_once(gate_app: App) -> None:
    async with client_for(gate_app) as http:
        def call(tag: str, rid: str) -> asyncio.Task[httpx.Response]:
            return asyncio.create_task(http.put("/actors/Gate/g/method/hold", json=tag,
                                                headers={"Dapr-Reentrancy-Id": rid}))

        outer = call("outer", "chain-1")
        await await_for(lambda: ("in", "g", "outer") in Gate.log, what="the outer turn")
        stranger = call("stranger", "chain-2")
        inner = call("inner", "chain-1")
        await await_for(lambda: ("in", "g", "inner") in Gate.log, what="the reentrant turn")
        Gate.gates["inner"].set()
        assert (await inner).status_code == 200
        await _let_others_run()
        assert ("in", "g", "stranger") not in Gate.log  # another chain still waits
        Gate.gates["outer"].set()
        Gate.gates["stranger"].set()
        assert [(await t).json() for t in (outer, stranger)] == ["outer", "stranger"]


@pytest.mark.anyio
async def test_deactivation_waits_for_the_turn_in_progress(gate_app: App) -> None:
    async with client_for(gate_app) as http:
        call = asyncio.create_task(http.put("/actors/Gate/g/method/hold", json="t"))
        await await_for(lambda: ("in", "g", "t") in Gate.log, what="the turn")
        delete = asyncio.create_task(http.delete("/actors/Gate/g"))
        await _let_others_run()
        assert not delete.done() and list(gate_app.actors.active()) == [("Gate", "g")]
        Gate.gates["t"].set()
        assert ((await call).status_code, (await delete).status_code) == (200, 200)
        assert gate_app.actors.active() == {}


# -- timers and reminders --------------------------------------------------------------


class Scheduled(Actor):
    seen: list[Any] = []

    @actor_method
    async def tick(self, data: Any) -> None:
        self.seen.append(("tick", data))

    def stop_after(self, data: Any) -> CancelReminder:
        self.seen.append(("stop_after", data))
        return CancelReminder()

    async def _private(self) -> None: ...

    async def receive_reminder(self, name: str, data: Any, due_time: str | None, period: str | None) -> None:
        self.seen.append((name, data, due_time, period))
        if name == "last":
            raise CancelReminder()


@pytest.mark.anyio
async def test_timer_calls_the_named_method_with_its_data() -> None:
    Scheduled.seen = []
    app = App()
    app.register_actor(Scheduled)
    async with client_for(app) as http:
        reply = await http.put("/actors/Scheduled/s/method/timer/t1",
                               json={"callback": "tick", "data": {"n": 1}, "dueTime": "1s", "period": "2s"})
        assert reply.status_code == 200 and "x-daprremindercancel" not in reply.headers
        reply = await http.put("/actors/Scheduled/s/method/timer/t2", json={"callback": "stop_after", "data": 2})
        assert (reply.status_code, reply.headers["x-daprremindercancel"]) == (200, "true")
        for callback in ("_private", "missing"):
            reply = await http.put("/actors/Scheduled/s/method/timer/t3", json={"callback": callback})
            assert (reply.status_code, reply.json()["errorCode"]) == (404, "ERR_ACTOR_METHOD_NOT_FOUND")
        reply = await http.put("/actors/Scheduled/s/method/timer/t4", json=[1])
        assert (reply.status_code, reply.json()["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")
    assert Scheduled.seen == [("tick", {"n": 1}), ("stop_after", 2)]


@pytest.mark.anyio
async def test_reminders_reach_receive_reminder_and_can_cancel_themselves() -> None:
    Scheduled.seen = []
    app = App()
    app.register_actor(Scheduled)
    app.register_actor(Calculator)
    async with client_for(app) as http:
        reply = await http.put("/actors/Scheduled/s/method/remind/daily",
                               json={"data": [1, 2], "dueTime": "0h0m1s", "period": "R2/PT1S"})
        assert reply.status_code == 200 and "x-daprremindercancel" not in reply.headers
        reply = await http.put("/actors/Scheduled/s/method/remind/last", json={"dueTime": "5s"})
        assert reply.headers["x-daprremindercancel"] == "true"
        reply = await http.put("/actors/Calculator/c/method/remind/orphan", json={})
        assert (reply.status_code, reply.json()["errorCode"]) == (500, "ERR_ACTOR_METHOD")
        assert "NotImplementedError" in reply.json()["message"]
    assert Scheduled.seen == [("daily", [1, 2], "0h0m1s", "R2/PT1S"), ("last", None, "5s", None)]


# -- wrapping and lifespan -------------------------------------------------------------


@pytest.mark.anyio
async def test_a_wrapped_fastapi_app_serves_actors_beside_its_own_routes() -> None:
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app = App(app=api)
    app.register_actor(Calculator)
    async with serving(app) as http:
        client = app.actors.client  # made from the environment, owned by the host
        assert (await http.get("/items/3")).json() == {"item_id": 3}
        assert (await http.put("/actors/Calculator/c/method/add", json=[1, 1])).json() == 2
        assert json.loads((await http.get("/dapr/config")).content)["entities"] == ["Calculator"]
    assert app.actors.client is not client  # shutdown closed and released the one it made
