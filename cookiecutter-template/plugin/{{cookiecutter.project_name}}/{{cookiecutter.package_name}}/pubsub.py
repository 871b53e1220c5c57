"""``{{ cookiecutter.component_type }}``: a pub/sub broker, here queues in this process's memory.

This skeleton passes Tandem's pub/sub conformance suite; replace the queues with your
broker's client and keep the tests green. Semantics (the contract in
``tandem.sidecar.components.pubsub``):

* each consumer group gets every message published to a topic once the group has first
  subscribed; the subscriptions of one group share its messages;
* a message is acknowledged when the handler returns, and delivered again
  (``redeliveries`` + 1) when the handler raises or when its subscription closes before
  the handler returned.

Built on Tandem's toolkit: ``subscribe`` returns a
:class:`~tandem.sidecar.components.subscription_loop.SubscriptionLoop`, which owns the
concurrency slots, batches acknowledgements, backs off before a redelivery and hands
messages back at close. The driver supplies a
:class:`~tandem.sidecar.components.subscription_loop.MessageSource`: ``fetch`` (take up to
``limit`` messages), ``ack``, ``nack`` (deliverable again after a delay) and, here,
``release`` (back at the head of the queue at once).

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
from collections.abc import Sequence
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
from tandem.sidecar.components.subscription_loop import LoopSettings, MessageSource, SubscriptionLoop

__all__ = ["MemoryPubSub"]

log = logging.getLogger(__name__)


@dataclass
class _Group:
    """One consumer group of one topic: its queue and the subscriptions to wake when it grows."""

    queue: collections.deque[Message] = field(default_factory=collections.deque)
    sources: list[_Source] = field(default_factory=list)

    def put(self, message: Message, *, front: bool = False) -> None:
        (self.queue.appendleft if front else self.queue.append)(message)
        for source in self.sources:
            source.loop.wake()


class _Source(MessageSource):
    """One subscription's view of its group's queue; what it holds is in ``taken`` until acknowledged."""

    def __init__(self, broker: MemoryPubSub, group: _Group) -> None:
        self._broker = broker
        self._group = group
        self.taken: dict[int, Message] = {}  # by the identity of the Message handed out
        self.loop: SubscriptionLoop

    async def fetch(self, limit: int) -> Sequence[Message]:
        messages = [self._group.queue.popleft() for _ in range(min(limit, len(self._group.queue)))]
        self.taken.update((id(message), message) for message in messages)
        return messages

    async def ack(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.taken.pop(id(message), None)

    async def nack(self, messages: Sequence[tuple[Message, float]]) -> None:
        loop = asyncio.get_running_loop()
        for message, delay in messages:
            if self.taken.pop(id(message), None) is not None:
                loop.call_later(delay, self._broker.redeliver, self._group, message)

    async def release(self, messages: Sequence[Message], *, started: bool) -> None:
        for message in reversed(messages):
            if self.taken.pop(id(message), None) is not None:
                self._broker.redeliver(self._group, message, counted=started)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._group.sources.remove(self)
        self._broker.subscriptions.discard(self.loop)


class MemoryPubSub(PubSub):
    """In-memory pub/sub with consumer groups and redelivery."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, _Group]] = {}
        self._max_redeliveries: int | None = None
        self.subscriptions: set[SubscriptionLoop] = set()

    async def init(self, metadata: ComponentMetadata) -> None:
        limit = metadata.get_int("maxRedeliveries", -1)
        self._max_redeliveries = None if limit < 0 else limit

    async def close(self) -> None:
        subscriptions = list(self.subscriptions)
        for subscription in subscriptions:
            await subscription.close()
        for subscription in subscriptions:
            await subscription.cancel_handlers()
        self._topics.clear()

    async def publish(self, request: PublishRequest) -> None:
        message = Message(topic=request.topic, data=request.data, metadata=dict(request.metadata),
                          content_type=request.content_type, id=uuid.uuid4().hex)
        for group in self._topics.get(request.topic, {}).values():
            group.put(message)

    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        group = self._topics.setdefault(request.topic, {}).setdefault(request.consumer_group, _Group())
        source = _Source(self, group)
        # poll_interval=None: this queue wakes the loop itself (a network broker would poll or block in fetch).
        source.loop = SubscriptionLoop(source, handler, LoopSettings(concurrency=request.concurrency,
                                                                     poll_interval=None))
        group.sources.append(source)
        self.subscriptions.add(source.loop)
        return source.loop.start()

    def redeliver(self, group: _Group, message: Message, *, counted: bool = True) -> None:
        """Put `message` back at the head of `group`'s queue, unless it ran out of redeliveries."""
        if self._max_redeliveries is not None and message.redeliveries >= self._max_redeliveries:
            log.warning("dropping message %s after %d redeliveries", message.id, message.redeliveries)
            return
        group.put(replace(message, redeliveries=message.redeliveries + counted), front=True)
