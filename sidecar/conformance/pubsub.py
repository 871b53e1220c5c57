"""Conformance suite for ``pubsub.*`` drivers (the contract in :mod:`tandem.sidecar.components.pubsub`).

Subclass :class:`PubSubConformance` under a ``Test…`` name and define:

``pubsub`` (fixture, required)
    Yields an *initialised* :class:`~tandem.sidecar.components.pubsub.PubSub`
    and closes it afterwards. Configure short timeouts on it (for instance
    ``processingTimeout: 1s``) and state them in the class attributes below.
    Every test uses its own topics and consumer groups
    (``conformance-topic-<uuid>``, ``conformance-group-<uuid>``), so one shared
    broker is fine; the suite closes the subscriptions it opened before the
    fixture's teardown runs, but cannot delete topics (a Redis fixture may
    delete the ``conformance-*`` streams itself).

Class attributes a subclass may set:

``processing_timeout`` (``None``)
    Seconds after which the driver redelivers a message whose handler has not
    returned: the ``processingTimeout`` the fixture configured. ``None`` skips
    the processing-timeout test. It is also added to the time the suite waits
    for a redelivery, for drivers that redeliver a failed or released message
    only once it timed out.
``delivery_timeout`` (``5.0``)
    Seconds a published (or due) message may take to reach a handler.
``quiet_period`` (``0.5``)
    Seconds the suite watches for deliveries that must *not* happen.

``Message.content_type`` is checked only when the driver reports one (Redis
Streams, for one, keep only data and metadata). Message metadata must contain
what was published; a driver may add entries of its own.
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import ClassVar

import anyio
import pytest

from ..components.pubsub import (
    BulkPublishEntry,
    Message,
    MessageHandler,
    PublishRequest,
    PubSub,
    SubscribeRequest,
    Subscription,
)
from . import ConformanceSuite, unique

__all__ = ["Inbox", "PubSubConformance"]


class Inbox:
    """A message handler that records deliveries; it can fail, dawdle or block on request.

    ``fail``: how many calls raise (after recording the message) before calls
    succeed; ``delay``: seconds each call takes; ``block``: an event each call
    waits for — ``block_first`` only the first call of each message id.
    """

    def __init__(self, *, fail: int = 0, delay: float = 0.0, block: anyio.Event | None = None,
                 block_first: bool = False) -> None:
        self.messages: list[Message] = []
        self.times: list[float] = []
        self.fail, self.delay, self.block, self.block_first = fail, delay, block, block_first
        self.running = self.max_running = 0

    async def __call__(self, message: Message) -> None:
        first = message.id not in self.ids
        self.messages.append(message)
        self.times.append(time.monotonic())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.delay:
                await anyio.sleep(self.delay)
            if self.block is not None and (first or not self.block_first):
                await self.block.wait()
            if self.fail > 0:
                self.fail -= 1
                raise RuntimeError("conformance: handler failure requested")
        finally:
            self.running -= 1

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.messages]

    @property
    def payloads(self) -> list[bytes]:
        return sorted(m.data for m in self.messages)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:
        """Wait until ``count`` deliveries arrived (all deliveries so far are returned)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {len(self.messages)} of {count} deliveries within {timeout:.1f}s")
            await anyio.sleep(0.01)
        return self.messages


class PubSubConformance(ConformanceSuite):
    """The pub/sub contract as tests; see the module docstring for the fixture and attributes."""

    processing_timeout: ClassVar[float | None] = None
    delivery_timeout: ClassVar[float] = 5.0
    quiet_period: ClassVar[float] = 0.5

    _subscriptions: list[Subscription]
    _gates: list[anyio.Event]

    @pytest.fixture
    def pubsub(self) -> PubSub:
        pytest.fail(f"{type(self).__name__} must define a 'pubsub' fixture yielding an initialised PubSub")

    @pytest.fixture(autouse=True)
    async def _conformance_pubsub_cleanup(self, pubsub: PubSub) -> AsyncIterator[None]:
        """Open gates and close the subscriptions of the test before the driver is closed."""
        self._subscriptions = []
        self._gates = []
        yield
        for gate in self._gates:
            gate.set()
        errors = []
        for subscription in reversed(self._subscriptions):
            try:
                await subscription.close()
            except Exception as exc:  # report, but close the others first
                errors.append(exc)
        if errors:
            pytest.fail(f"closing subscriptions failed: {errors!r}")

    # -- helpers --------------------------------------------------------------------

    @staticmethod
    def topic() -> str:
        return unique("topic")

    @staticmethod
    def group() -> str:
        return unique("group")

    def gate(self) -> anyio.Event:
        """An event the test sets to release blocked handlers; set anyway when the test ends."""
        event = anyio.Event()
        self._gates.append(event)
        return event

    async def subscribe(self, pubsub: PubSub, topic: str, group: str, handler: MessageHandler,
                        concurrency: int = 10) -> Subscription:
        """Subscribe; the subscription is closed when the test ends (closing twice is allowed)."""
        subscription = await pubsub.subscribe(
            SubscribeRequest(topic=topic, consumer_group=group, concurrency=concurrency), handler)
        self._subscriptions.append(subscription)
        return subscription

    @staticmethod
    async def publish(pubsub: PubSub, topic: str, count: int, start: int = 0) -> list[bytes]:
        """Publish ``m<start>`` … one by one; returns the payloads."""
        sent = [f'"m{i}"'.encode() for i in range(start, start + count)]
        for data in sent:
            await pubsub.publish(PublishRequest(topic, data))
        return sent

    def redelivery_timeout(self, redeliveries: int = 1) -> float:
        """How long ``redeliveries`` successive redeliveries may take in all."""
        return self.delivery_timeout + redeliveries * (self.processing_timeout or 0.0)

    async def quiet(self) -> None:
        await anyio.sleep(self.quiet_period)

    # -- tests ----------------------------------------------------------------------

    async def test_message_reaches_subscriber_with_data_and_metadata(self, pubsub: PubSub) -> None:
        topic, other = self.topic(), self.topic()
        inbox = Inbox()
        await self.subscribe(pubsub, topic, self.group(), inbox)
        data = b'{"specversion":"1.0","id":"1","data":{"order":1,"note":"\xc3\xa9"}}'
        metadata = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k": "v"}
        await pubsub.publish(PublishRequest(other, b'"elsewhere"'))
        await pubsub.publish(PublishRequest(topic, data, metadata, "application/cloudevents+json"))
        [msg] = await inbox.wait_for(1, self.delivery_timeout)
        assert (msg.topic, msg.data) == (topic, data)
        assert {k: msg.metadata.get(k) for k in metadata} == metadata
        assert msg.content_type in (None, "application/cloudevents+json")
        assert msg.id and msg.redeliveries == 0
        await self.quiet()
        assert len(inbox.messages) == 1  # nothing from the other topic, nothing twice

    async def test_every_consumer_group_receives_every_message(self, pubsub: PubSub) -> None:
        topic = self.topic()
        a, b = Inbox(), Inbox()
        await self.subscribe(pubsub, topic, self.group(), a)
        await self.subscribe(pubsub, topic, self.group(), b)
        sent = await self.publish(pubsub, topic, 10)
        await a.wait_for(10, self.delivery_timeout)
        await b.wait_for(10, self.delivery_timeout)
        await self.quiet()
        assert a.payloads == b.payloads == sorted(sent)

    async def test_subscribers_of_one_group_share_its_messages(self, pubsub: PubSub) -> None:
        topic, group = self.topic(), self.group()
        a, b = Inbox(delay=0.01), Inbox(delay=0.01)
        await self.subscribe(pubsub, topic, group, a, concurrency=2)
        await self.subscribe(pubsub, topic, group, b, concurrency=2)
        sent = await self.publish(pubsub, topic, 20)
        deadline = time.monotonic() + self.delivery_timeout
        while len(a.messages) + len(b.messages) < 20 and time.monotonic() < deadline:
            await anyio.sleep(0.01)
        await self.quiet()
        assert sorted(a.payloads + b.payloads) == sorted(sent)  # each message to exactly one of them
        assert len(set(a.ids + b.ids)) == 20

    async def test_a_raising_handler_gets_the_message_again(self, pubsub: PubSub) -> None:
        topic = self.topic()
        inbox = Inbox(fail=2)
        await self.subscribe(pubsub, topic, self.group(), inbox)
        await pubsub.publish(PublishRequest(topic, b'"x"', {"k": "v"}))
        msgs = (await inbox.wait_for(3, self.redelivery_timeout(2)))[:3]
        assert [m.redeliveries for m in msgs] == [0, 1, 2]
        assert len({m.id for m in msgs}) == 1  # the id is stable across redeliveries
        assert all(m.data == b'"x"' and m.metadata.get("k") == "v" for m in msgs)
        await anyio.sleep(self.quiet_period + (self.processing_timeout or 0.0))
        assert len(inbox.messages) == 3  # the third call returned: acknowledged

    async def test_an_acknowledged_message_is_not_delivered_again(self, pubsub: PubSub) -> None:
        topic = self.topic()
        inbox = Inbox()
        await self.subscribe(pubsub, topic, self.group(), inbox)
        sent = await self.publish(pubsub, topic, 3)
        await inbox.wait_for(3, self.delivery_timeout)
        # Past the processing timeout: an acknowledgement that was lost would show as a redelivery.
        await anyio.sleep(self.quiet_period + (self.processing_timeout or 0.0))
        assert inbox.payloads == sorted(sent)
        assert all(m.redeliveries == 0 for m in inbox.messages)

    async def test_concurrency_limit_is_respected(self, pubsub: PubSub) -> None:
        topic = self.topic()
        inbox = Inbox(delay=0.05)
        await self.subscribe(pubsub, topic, self.group(), inbox, concurrency=3)
        sent = await self.publish(pubsub, topic, 12)
        await inbox.wait_for(12, self.delivery_timeout)
        assert 1 <= inbox.max_running <= 3
        assert inbox.payloads == sorted(sent)

    async def test_close_stops_delivery(self, pubsub: PubSub) -> None:
        topic, group = self.topic(), self.group()
        inbox = Inbox()
        subscription = await self.subscribe(pubsub, topic, group, inbox)
        await self.publish(pubsub, topic, 1)
        await inbox.wait_for(1, self.delivery_timeout)
        await subscription.close()
        await self.publish(pubsub, topic, 3, start=1)
        await self.quiet()
        assert inbox.payloads == [b'"m0"']
        await subscription.close()  # closing again is harmless

    async def test_messages_published_while_a_group_has_no_subscriber_are_delivered_later(
        self, pubsub: PubSub
    ) -> None:
        topic, group = self.topic(), self.group()
        first = Inbox()
        subscription = await self.subscribe(pubsub, topic, group, first)
        sent = await self.publish(pubsub, topic, 2)
        await first.wait_for(2, self.delivery_timeout)
        await subscription.close()  # the group has no subscriber now …
        later = await self.publish(pubsub, topic, 5, start=2)
        second = Inbox()
        await self.subscribe(pubsub, topic, group, second)  # … and gets one again
        await second.wait_for(5, self.delivery_timeout)
        await self.quiet()
        assert second.payloads == sorted(later)
        assert first.payloads == sorted(sent)

    async def test_message_in_flight_at_close_is_delivered_again(self, pubsub: PubSub) -> None:
        topic, group = self.topic(), self.group()
        gate = self.gate()
        stuck = Inbox(block=gate)
        subscription = await self.subscribe(pubsub, topic, group, stuck)
        await pubsub.publish(PublishRequest(topic, b'"in flight"'))
        [first] = await stuck.wait_for(1, self.delivery_timeout)
        await subscription.close()  # the handler has not returned: not acknowledged
        second = Inbox()
        await self.subscribe(pubsub, topic, group, second)
        [again] = await second.wait_for(1, self.redelivery_timeout())
        assert (again.id, again.data, again.redeliveries) == (first.id, b'"in flight"', 1)

    async def test_processing_timeout_redelivers_a_message_whose_handler_hangs(self, pubsub: PubSub) -> None:
        if self.processing_timeout is None:
            pytest.skip("processing_timeout is not set for this driver")
        topic = self.topic()
        gate = self.gate()
        inbox = Inbox(block=gate, block_first=True)  # the first call hangs; the redelivery returns
        await self.subscribe(pubsub, topic, self.group(), inbox, concurrency=2)
        await pubsub.publish(PublishRequest(topic, b'"slow"'))
        await inbox.wait_for(1, self.delivery_timeout)
        first, again = (await inbox.wait_for(2, self.redelivery_timeout()))[:2]
        assert (again.id, again.redeliveries) == (first.id, 1)
        waited = inbox.times[1] - inbox.times[0]
        assert waited >= self.processing_timeout * 0.9, f"redelivered after {waited:.2f}s"
        assert inbox.running == 1  # the first call still hangs

    async def test_bulk_publish_delivers_every_entry(self, pubsub: PubSub) -> None:
        topic = self.topic()
        inbox = Inbox()
        await self.subscribe(pubsub, topic, self.group(), inbox)
        entries = [BulkPublishEntry(str(i), PublishRequest(topic, f'"b{i}"'.encode(), {"n": str(i)}))
                   for i in range(5)]
        assert await pubsub.bulk_publish(entries) == []
        await inbox.wait_for(5, self.delivery_timeout)
        await self.quiet()
        received = sorted((m.data, m.metadata.get("n")) for m in inbox.messages)
        assert received == [(f'"b{i}"'.encode(), str(i)) for i in range(5)]
