"""``{{ cookiecutter.component_type }}``: a pub/sub broker, here queues in this process's memory.

This skeleton passes Tandem's pub/sub conformance suite; replace the queues with your
broker's client and keep the tests green. Semantics (the contract in
``tandem.sidecar.components.pubsub``):

* each consumer group gets every message published to a topic once the group has first
  subscribed; the subscriptions of one group share its messages;
* a message is acknowledged when the handler returns, and put back at the head of the
  group's queue (``redeliveries`` + 1) when the handler raises or when its subscription
  closes before the handler returned.

Metadata (the component file's ``spec.metadata``):

``maxRedeliveries`` (optional, default unlimited)
    Drop a message after this many redeliveries.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from dataclasses import dataclass, field, replace

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.pubsub import (
    Message,
    MessageHandler,
    PublishRequest,
    PubSub,
    SubscribeRequest,
    Subscription,
)

__all__ = ["MemoryPubSub"]

log = logging.getLogger(__name__)


@dataclass
class _Group:
    """One consumer group of one topic: its queue and a signal that something changed."""

    queue: collections.deque[Message] = field(default_factory=collections.deque)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, message: Message, *, front: bool = False) -> None:
        if front:
            self.queue.appendleft(message)
        else:
            self.queue.append(message)
        self.changed.set()


class _Subscription(Subscription):
    """Pulls from its group's queue, at most ``concurrency`` handler calls at once."""

    def __init__(self, broker: MemoryPubSub, group: _Group, handler: MessageHandler, concurrency: int) -> None:
        self._broker = broker
        self._group = group
        self._handler = handler
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._in_flight: dict[asyncio.Task[None], Message] = {}
        self._closed = False
        self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            while not self._group.queue:
                self._group.changed.clear()
                await self._group.changed.wait()
            message = self._group.queue.popleft()
            task = asyncio.get_running_loop().create_task(self._deliver(message))
            self._in_flight[task] = message

    async def _deliver(self, message: Message) -> None:
        try:
            await self._handler(message)
        except Exception as exc:  # noqa: BLE001 - any failure means "deliver it again"
            log.debug("handler failed on %s: %r; redelivering", message.id, exc)
            if not self._closed:
                self._broker.redeliver(self._group, message)
        finally:
            if self._in_flight.pop(asyncio.current_task(), None) is not None:  # type: ignore[arg-type]
                self._slots.release()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        # Not acknowledged: back to the group; the handlers finish, but their outcome no longer counts.
        for task, message in list(self._in_flight.items()):
            self._broker.redeliver(self._group, message)
            self._broker.orphans.add(task)
            task.add_done_callback(self._broker.orphans.discard)
        self._in_flight.clear()
        self._broker.subscriptions.discard(self)


class MemoryPubSub(PubSub):
    """In-memory pub/sub with consumer groups and redelivery."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, _Group]] = {}
        self._max_redeliveries: int | None = None
        self.subscriptions: set[_Subscription] = set()
        self.orphans: set[asyncio.Task[None]] = set()

    async def init(self, metadata: ComponentMetadata) -> None:
        limit = metadata.get_int("maxRedeliveries", -1)
        self._max_redeliveries = None if limit < 0 else limit

    async def close(self) -> None:
        for subscription in list(self.subscriptions):
            await subscription.close()
        for task in list(self.orphans):
            task.cancel()
        await asyncio.gather(*self.orphans, return_exceptions=True)
        self._topics.clear()

    async def publish(self, request: PublishRequest) -> None:
        message = Message(topic=request.topic, data=request.data, metadata=dict(request.metadata),
                          content_type=request.content_type, id=uuid.uuid4().hex)
        for group in self._topics.get(request.topic, {}).values():
            group.put(message)

    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        group = self._topics.setdefault(request.topic, {}).setdefault(request.consumer_group, _Group())
        subscription = _Subscription(self, group, handler, request.concurrency)
        self.subscriptions.add(subscription)
        return subscription

    def redeliver(self, group: _Group, message: Message) -> None:
        """Put `message` back at the head of `group`'s queue, unless it ran out of redeliveries."""
        if self._max_redeliveries is not None and message.redeliveries >= self._max_redeliveries:
            log.warning("dropping message %s after %d redeliveries", message.id, message.redeliveries)
            return
        group.put(replace(message, redeliveries=message.redeliveries + 1), front=True)
