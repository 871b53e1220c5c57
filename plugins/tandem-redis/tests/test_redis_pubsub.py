"""``pubsub.redis``: the conformance suite, the Streams wire format, consumer groups and redelivery."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import pytest
import redis

from redis_helpers import component_yaml, redis_host
from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.pubsub import (
    BulkPublishEntry,
    PublishRequest,
    PubSub,
    SubscribeRequest,
)
from tandem.sidecar.conformance import open_component
from tandem.sidecar.conformance.pubsub import Inbox, PubSubConformance
from tandem_redis.pubsub import RedisPubSub

pytestmark = pytest.mark.anyio


def dapr_pubsub(**extra: str) -> str:
    """The ``pubsub.yaml`` that ``dapr init`` writes (named ``messagebus`` here), on the shared Redis."""
    return component_yaml("messagebus", "pubsub.redis", {"redisHost": redis_host(), "redisPassword": "", **extra})


@pytest.fixture
def streams(shared_redis: redis.Redis) -> Iterator[set[str]]:
    """Stream names a test used; deleted afterwards (only these: other runs share the server)."""
    used: set[str] = set()
    yield used
    if used:
        shared_redis.delete(*used)


def recording(pubsub: PubSub, used: set[str]) -> PubSub:
    """Make ``pubsub`` note every topic it touches in ``used``, so the test can delete those streams."""
    publish, bulk, subscribe = pubsub.publish, pubsub.bulk_publish, pubsub.subscribe

    async def publish_(request: PublishRequest) -> None:
        used.add(request.topic)
        await publish(request)

    async def bulk_(entries: list[BulkPublishEntry]) -> object:
        used.update(e.request.topic for e in entries)
        return await bulk(entries)

    async def subscribe_(request: SubscribeRequest, handler: object) -> object:
        used.add(request.topic)
        return await subscribe(request, handler)  # type: ignore[arg-type]

    pubsub.publish, pubsub.bulk_publish, pubsub.subscribe = publish_, bulk_, subscribe_  # type: ignore[method-assign]
    return pubsub


class TestRedisPubSubConformance(PubSubConformance):
    processing_timeout = 1.0

    @pytest.fixture
    async def pubsub(self, streams: set[str]) -> AsyncIterator[PubSub]:
        # redeliverInterval as Dapr reads it (bare milliseconds).
        doc = dapr_pubsub(processingTimeout="1s", redeliverInterval="200")
        async with open_component(doc, PubSub, app_id="myapp") as pubsub:
            yield recording(pubsub, streams)


@pytest.fixture
async def bus(streams: set[str]) -> AsyncIterator[PubSub]:
    doc = dapr_pubsub(processingTimeout="1s", redeliverInterval="500ms", redeliverBackoff="50ms")
    async with open_component(doc, PubSub, app_id="myapp") as pubsub:
        yield pubsub


@pytest.fixture
def topic(prefix: str, streams: set[str]) -> str:
    name = f"{prefix}-topic"
    streams.add(name)
    return name


async def test_xadd_fields_are_data_and_metadata(bus: PubSub, shared_redis: redis.Redis, topic: str) -> None:
    await bus.publish(PublishRequest(topic, b'{"specversion":"1.0"}', {"k": "v", "a": "\u00e9"}))
    await bus.publish(PublishRequest(topic, b"raw"))
    (_, first), (_, second) = shared_redis.xrange(topic)
    assert list(first) == [b"data", b"metadata"]
    assert first[b"data"] == b'{"specversion":"1.0"}'
    assert json.loads(first[b"metadata"]) == {"k": "v", "a": "\u00e9"}
    assert second == {b"data": b"raw", b"metadata": b"{}"}


async def test_max_len_approx_trims_the_stream(streams: set[str], shared_redis: redis.Redis, topic: str) -> None:
    async with open_component(dapr_pubsub(maxLenApprox="10"), PubSub) as bus:
        await bus.bulk_publish([BulkPublishEntry(str(i), PublishRequest(topic, b"x")) for i in range(1000)])
    assert shared_redis.xlen(topic) < 300


async def test_group_and_consumer_names(bus: PubSub, shared_redis: redis.Redis, topic: str) -> None:
    inbox = Inbox()
    sub = await bus.subscribe(SubscribeRequest(topic, "orders-app"), inbox)
    [group] = shared_redis.xinfo_groups(topic)
    assert group["name"] == b"orders-app"
    await bus.publish(PublishRequest(topic, b"1"))
    await inbox.wait_for(1, 5)
    [consumer] = shared_redis.xinfo_consumers(topic, "orders-app")
    assert re.fullmatch(rb"orders-app-[0-9a-f]{32}", consumer["name"])
    await sub.close()
    assert shared_redis.xinfo_consumers(topic, "orders-app") == []  # nothing pending: removed on close


async def test_entry_written_by_another_program_is_delivered(bus: PubSub, shared_redis: redis.Redis,
                                                             topic: str) -> None:
    inbox = Inbox()
    await bus.subscribe(SubscribeRequest(topic, "g"), inbox)
    entry_id = shared_redis.xadd(topic, {"data": b'{"x":1}', "metadata": '{"contentType":"application/json"}'})
    [msg] = await inbox.wait_for(1, 5)
    assert (msg.id, msg.data, msg.content_type) == (entry_id.decode(), b'{"x":1}', "application/json")
    assert dict(msg.metadata) == {"contentType": "application/json"}
    await _until(lambda: shared_redis.xpending(topic, "g")["pending"] == 0)


async def test_handler_failure_is_retried_soon_and_counted_by_redis(bus: PubSub, shared_redis: redis.Redis,
                                                                    topic: str) -> None:
    inbox = Inbox(fail=2)
    await bus.subscribe(SubscribeRequest(topic, "g"), inbox)
    started = time.monotonic()
    await bus.publish(PublishRequest(topic, b"x"))
    msgs = await inbox.wait_for(3, 5)
    assert time.monotonic() - started < 1.0  # well before processingTimeout (1 s)
    assert [m.redeliveries for m in msgs] == [0, 1, 2]
    await _until(lambda: shared_redis.xpending(topic, "g")["pending"] == 0)


async def test_group_deleted_under_the_subscriber_is_recreated(bus: PubSub, shared_redis: redis.Redis,
                                                              topic: str) -> None:
    inbox = Inbox()
    await bus.subscribe(SubscribeRequest(topic, "g"), inbox)
    shared_redis.delete(topic)  # what a restarted Redis without persistence looks like
    await asyncio.sleep(0.2)
    deadline = time.monotonic() + 10
    while not inbox.messages and time.monotonic() < deadline:
        await bus.publish(PublishRequest(topic, b"after"))
        await asyncio.sleep(0.3)
    assert inbox.messages and inbox.messages[0].data == b"after"


async def test_entry_deleted_while_pending_is_dropped_from_the_group(bus: PubSub, shared_redis: redis.Redis,
                                                                     topic: str) -> None:
    gate = anyio.Event()
    inbox = Inbox(block=gate)
    sub = await bus.subscribe(SubscribeRequest(topic, "g"), inbox)
    await bus.publish(PublishRequest(topic, b"x"))
    [msg] = await inbox.wait_for(1, 5)
    shared_redis.xdel(topic, msg.id)
    await _until(lambda: shared_redis.xpending(topic, "g")["pending"] == 0, timeout=5)
    gate.set()
    await sub.close()


async def test_subscriber_killed_before_ack_is_redelivered_after_processing_timeout(
    bus: PubSub, shared_redis: redis.Redis, topic: str
) -> None:
    """A subscriber process that read a message and died (SIGKILL) before acknowledging it."""
    group = f"g-{uuid.uuid4().hex}"
    with subprocess.Popen([sys.executable, "-c", _DOOMED_SUBSCRIBER, redis_host(), topic, group],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None and child.stderr is not None
            assert child.stdout.readline().strip() == b"subscribed", child.stderr.read()
            await bus.publish(PublishRequest(topic, b'"precious"'))
            got = child.stdout.readline().strip()
            assert got.startswith(b"got "), got
        finally:
            child.kill()  # SIGKILL: no clean-up of any kind
    [pending] = shared_redis.xpending_range(topic, group, "-", "+", 10)
    assert pending["message_id"] == got[4:]

    inbox = Inbox()
    started = time.monotonic()
    await bus.subscribe(SubscribeRequest(topic, group), inbox)
    [msg] = await inbox.wait_for(1, 10)
    waited = time.monotonic() - started
    assert (msg.id.encode(), msg.data, msg.redeliveries) == (got[4:], b'"precious"', 1)
    assert waited < 1.0 + 0.5 + 1.0  # processingTimeout + redeliverInterval + slack
    await _until(lambda: shared_redis.xpending(topic, group)["pending"] == 0)


_DOOMED_SUBSCRIBER = textwrap.dedent("""
    import asyncio, sys
    from tandem.sidecar.components.base import ComponentMetadata
    from tandem.sidecar.components.pubsub import SubscribeRequest
    from tandem_redis.pubsub import RedisPubSub

    async def main(host, topic, group):
        bus = RedisPubSub()
        await bus.init(ComponentMetadata("messagebus", "pubsub.redis", properties={"redisHost": host}))

        async def handler(message):
            print("got", message.id, flush=True)
            await asyncio.Event().wait()  # never acknowledges

        await bus.subscribe(SubscribeRequest(topic, group), handler)
        print("subscribed", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main(*sys.argv[1:]))
""")


@pytest.mark.parametrize("value, seconds", [("500", 0.5), ("500ms", 0.5), ("2s", 2.0), ("0", 0.0)])
async def test_redeliver_interval_accepts_milliseconds_and_go_durations(value: str, seconds: float) -> None:
    from tandem_redis.connection import parse_settings
    from tandem_redis.streams import parse_config

    md = ComponentMetadata("p", "pubsub.redis", properties={"redisHost": "localhost", "redeliverInterval": value})
    assert parse_config(md, parse_settings(md)).redeliver_interval == seconds


@pytest.mark.parametrize("props, message", [
    ({"redisHost": "localhost", "queueDepth": "0"}, "queueDepth"),
    ({"redisHost": "localhost", "concurrency": "many"}, "concurrency"),
    ({"redisHost": "localhost", "processingTimeout": "-1s"}, "processingTimeout"),
    ({"redisHost": "localhost", "maxLenApprox": "-5"}, "maxLenApprox"),
])
async def test_bad_metadata_is_a_clear_error(props: dict[str, str], message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        await RedisPubSub().init(ComponentMetadata("p", "pubsub.redis", properties=props))


async def test_bulk_publish_reports_the_entries_that_failed(bus: PubSub, shared_redis: redis.Redis,
                                                            topic: str, prefix: str) -> None:
    not_a_stream = f"{prefix}-string"
    shared_redis.set(not_a_stream, b"x")
    failed = await bus.bulk_publish([BulkPublishEntry("ok", PublishRequest(topic, b"1")),
                                     BulkPublishEntry("bad", PublishRequest(not_a_stream, b"2"))])
    assert [f.entry_id for f in failed] == ["bad"] and "WRONGTYPE" in failed[0].error
    assert shared_redis.xlen(topic) == 1


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)



async def test_a_consumer_is_only_forgotten_with_nothing_pending(shared_redis: redis.Redis, topic: str) -> None:
    """The clean-up of consumers never drops a pending entry (``XGROUP DELCONSUMER`` would)."""
    from tandem_redis import scripts

    forget = shared_redis.register_script(scripts.PUBSUB_FORGET_CONSUMER)
    shared_redis.xgroup_create(topic, "g", id="0", mkstream=True)
    shared_redis.xadd(topic, {"data": b"x", "metadata": b"{}"})
    shared_redis.xreadgroup("g", "g-busy", {topic: ">"}, count=1)
    shared_redis.xgroup_createconsumer(topic, "g", "g-idle")
    assert forget(keys=[topic], args=["g", "g-busy"]) == 0
    assert forget(keys=[topic], args=["g", "g-idle"]) == 1
    assert [c["name"] for c in shared_redis.xinfo_consumers(topic, "g")] == [b"g-busy"]
    assert forget(keys=[f"{topic}-missing"], args=["g", "g-idle"]) == 0
