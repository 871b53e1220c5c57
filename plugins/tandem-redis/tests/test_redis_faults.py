"""A private ``redis-server`` killed and restarted under traffic: bounded errors, then recovery, no lost message."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from redis_helpers import PrivateRedis, component_yaml, http, start_tandemd
from tandem.sidecar.components.lock import LockError, LockStore, TryLockRequest
from tandem.sidecar.components.pubsub import Message, PublishRequest, PubSub, PubSubError, SubscribeRequest
from tandem.sidecar.components.state import DeleteRequest, GetRequest, SetRequest, StateError, StateStore
from tandem.sidecar.conformance import open_component

pytestmark = pytest.mark.anyio

StartRedis = Callable[..., PrivateRedis]
BOUND = 3.0  # seconds any single operation may take while Redis is down


def doc(name: str, ctype: str, server: PrivateRedis, **extra: str) -> str:
    return component_yaml(name, ctype, {"redisHost": server.host, "redisPassword": "", "dialTimeout": "1s",
                                        "readTimeout": "1s", **extra})


async def timed(call: Awaitable[object]) -> tuple[float, Exception | None]:
    """How long ``call`` took, and what it raised (cancellation still propagates)."""
    started = time.monotonic()
    try:
        await call
    except Exception as exc:  # the test inspects it
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


class Traffic:
    """Runs ``op`` back to back, recording each outcome and how long it took."""

    def __init__(self, op: Callable[[int], Awaitable[object]]) -> None:
        self.op = op
        self.outcomes: list[tuple[float, float, Exception | None]] = []  # (at, took, error)
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    async def _run(self) -> None:
        n = 0
        while not self.stopped:
            took, error = await timed(self.op(n))
            self.outcomes.append((time.monotonic(), took, error))
            n += 1
            await asyncio.sleep(0.005)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """A flag, not ``cancel()``: redis-py on Python 3.11 may swallow a cancellation."""
        assert self.task is not None
        self.stopped = True
        await asyncio.wait_for(self.task, 2 * BOUND)

    async def succeeds_after(self, moment: float, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not any(at > moment and error is None for at, _, error in self.outcomes):
            assert time.monotonic() < deadline, f"no success since the restart: {self.outcomes[-3:]}"
            await asyncio.sleep(0.05)


async def test_state_store_outage_fails_fast_and_recovers(private_redis: StartRedis) -> None:
    server = private_redis()
    async with open_component(doc("statestore", "state.redis", server), StateStore) as store:
        async def op(n: int) -> None:
            await store.set(SetRequest(f"app||k{n % 10}", b"1"))
            await store.get(GetRequest(f"app||k{n % 10}"))

        traffic = Traffic(op)
        traffic.start()
        await asyncio.sleep(0.3)
        server.kill()
        await asyncio.sleep(1.0)
        for call in (store.get(GetRequest("app||k")), store.set(SetRequest("app||k", b"2")),
                     store.delete(DeleteRequest("app||k")), store.transact([SetRequest("app||k", b"3")])):
            took, error = await timed(call)
            assert isinstance(error, StateError) and "cannot reach redis" in str(error), error
            assert took < BOUND
        server.start()
        restarted = time.monotonic()
        await traffic.succeeds_after(restarted)
        await traffic.stop()
    errors = [e for _, _, e in traffic.outcomes if e is not None]
    assert errors and all(isinstance(e, StateError) for e in errors), {type(e) for e in errors}
    assert max(took for _, took, _ in traffic.outcomes) < BOUND


async def test_lock_store_outage_is_a_lock_error(private_redis: StartRedis) -> None:
    server = private_redis()
    async with open_component(doc("lockstore", "lock.redis", server), LockStore) as locks:
        assert await locks.try_lock(TryLockRequest("r", "a", 10))
        server.kill()
        took, error = await timed(locks.try_lock(TryLockRequest("r2", "a", 10)))
        assert isinstance(error, LockError) and took < BOUND
        server.start()
        assert await locks.try_lock(TryLockRequest("r2", "a", 10))


async def test_pubsub_outage_loses_no_acknowledged_message(private_redis: StartRedis) -> None:
    """Publishes that returned survive the crash (AOF, fsync always); the subscriber resumes by itself."""
    server = private_redis(persistent=True)
    published: list[bytes] = []
    received: set[bytes] = set()

    async def handler(message: Message) -> None:
        received.add(message.data)

    bus_doc = doc("messagebus", "pubsub.redis", server, processingTimeout="1s", redeliverInterval="200ms")
    async with open_component(bus_doc, PubSub) as bus:
        await bus.subscribe(SubscribeRequest("orders", "app"), handler)

        async def op(n: int) -> None:
            data = f'"m{n}"'.encode()
            await bus.publish(PublishRequest("orders", data))
            published.append(data)

        traffic = Traffic(op)
        traffic.start()
        await asyncio.sleep(0.5)
        server.kill()
        await asyncio.sleep(1.0)
        took, error = await timed(bus.publish(PublishRequest("orders", b'"during"')))
        assert isinstance(error, PubSubError) and "cannot reach redis" in str(error) and took < BOUND
        server.start()
        await traffic.succeeds_after(time.monotonic())
        await asyncio.sleep(0.3)
        await traffic.stop()
        deadline = time.monotonic() + 10
        while not set(published) <= received and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert len(published) > 20
    assert set(published) - received == set()
    errors = [e for _, _, e in traffic.outcomes if e is not None]
    assert errors and all(isinstance(e, PubSubError) for e in errors)
    assert max(took for _, took, _ in traffic.outcomes) < BOUND


@pytest.mark.e2e
def test_tandemd_answers_500_with_dapr_codes_during_an_outage(private_redis: StartRedis, tmp_path: Path) -> None:
    server = private_redis()
    components = doc("statestore", "state.redis", server, actorStateStore="true") + "---\n" + doc(
        "messagebus", "pubsub.redis", server)
    sidecar = start_tandemd(tmp_path, "faulty", components)
    try:
        state = sidecar.url + "/v1.0/state/statestore"
        assert http("POST", state, [{"key": "k", "value": 1}])[0] == 204
        server.kill()
        for method, url, payload, code in (
            ("POST", state, [{"key": "k", "value": 2}], "ERR_STATE_SAVE"),
            ("GET", state + "/k", None, "ERR_STATE_GET"),
            ("DELETE", state + "/k", None, "ERR_STATE_DELETE"),
            ("POST", sidecar.url + "/v1.0/publish/messagebus/orders", {"a": 1}, "ERR_PUBSUB_PUBLISH_MESSAGE"),
        ):
            started = time.monotonic()
            status, _, body = http(method, url, payload)
            assert (status, json.loads(body)["errorCode"]) == (500, code), body
            assert time.monotonic() - started < BOUND
        server.start()
        assert http("POST", state, [{"key": "k", "value": 3}])[0] == 204
        status, headers, body = http("GET", state + "/k")
        assert (status, body) == (200, b"3")
        assert sidecar.process.poll() is None
    finally:
        sidecar.stop()
