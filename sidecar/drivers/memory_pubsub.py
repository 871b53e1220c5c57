"""``pubsub.in-memory``: a process-local broker with consumer groups, for tests and one-sidecar demos.

Each topic holds one queue per consumer group; a publish appends to every
group that exists at that moment and wakes the group's subscriptions. The
delivery loop is the toolkit's :class:`.SubscriptionLoop`; this module only
says how messages are leased (a token and a processing-timeout timer per
delivery), acknowledged and handed back. Everything runs on the event loop
with no ``await`` between a check and its update, so no lock is needed.

A delivery carries a token; every later state change (ack, nack, processing
timeout, release on close) checks it, so the outcome of a handler that was
overtaken by a redelivery cannot disturb the newer one. A late success still
acknowledges a message nobody else holds at that moment.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..components.base import ComponentMetadata, MetadataError
from ..components.pubsub import (
    Message,
    MessageHandler,
    PublishRequest,
    PubSub,
    PubSubError,
    SubscribeRequest,
    Subscription,
)
from ..components.subscription_loop import LoopSettings, MessageSource, SubscriptionLoop

__all__ = ["MemoryPubSub"]


@dataclass(frozen=True, slots=True)
class _Payload:
    id: str
    topic: str
    data: bytes
    metadata: Mapping[str, str]
    content_type: str | None


@dataclass(eq=False, slots=True)
class _Entry:
    """One message in one group's queue."""

    payload: _Payload
    redeliveries: int = 0
    token: int = 0  # bumped on every hand-out and every take-back
    owner: _MemorySource | None = None  # set while in flight
    done: bool = False
    timer: asyncio.TimerHandle | None = None

    def message(self) -> Message:
        p = self.payload
        return Message(topic=p.topic, data=p.data, metadata=p.metadata, content_type=p.content_type, id=p.id,
                       redeliveries=self.redeliveries)

    def take_back(self, *, count: bool = True) -> None:
        """Not in flight any more; ``count``: the hand-out counts as a delivery."""
        if self.owner is not None:
            self.owner.owned.discard(self)
        self.owner = None
        self.token += 1
        self.redeliveries += count
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(eq=False)
class _Group:
    ready: deque[_Entry] = field(default_factory=deque)
    sources: list[_MemorySource] = field(default_factory=list)
    turn: int = 0  # which subscription is woken first: members take turns

    def push(self, entry: _Entry, *, front: bool = False) -> None:
        if entry.done:
            return
        (self.ready.appendleft if front else self.ready.append)(entry)
        self.wake()

    def wake(self) -> None:
        if self.sources:
            self.turn = (self.turn + 1) % len(self.sources)
            for source in self.sources[self.turn:] + self.sources[:self.turn]:
                source.loop.wake()

    def take(self, limit: int) -> list[_Entry]:
        taken: list[_Entry] = []
        while self.ready and len(taken) < limit:
            entry = self.ready.popleft()
            if not entry.done and entry.owner is None:  # else: acknowledged late, or handed out again
                taken.append(entry)
        return taken


class _MemorySource(MessageSource):
    """One subscription's view of its group: fetch leases entries, outcomes check the lease's token."""

    def __init__(self, broker: MemoryPubSub, group: _Group) -> None:
        self._broker = broker
        self._group = group
        self.owned: set[_Entry] = set()
        #: Each handed-out Message object (by identity) → its entry and the token of that hand-out.
        self._leases: dict[int, tuple[Message, _Entry, int]] = {}
        self.loop: SubscriptionLoop

    async def fetch(self, limit: int) -> Sequence[Message]:
        loop = asyncio.get_running_loop()
        messages = []
        for entry in self._group.take(limit):
            entry.token += 1
            entry.owner = self
            self.owned.add(entry)
            entry.timer = loop.call_later(self._broker.processing_timeout, self._expire, entry, entry.token)
            message = entry.message()
            self._leases[id(message)] = (message, entry, entry.token)
            messages.append(message)
        return messages

    def _lease(self, message: Message, *, keep: bool = False) -> tuple[_Entry, bool] | None:
        """The entry and whether this hand-out still holds it."""
        found = self._leases.get(id(message)) if keep else self._leases.pop(id(message), None)
        if found is None or found[1].done:
            return None
        _, entry, token = found
        return entry, entry.token == token

    async def ack(self, messages: Sequence[Message]) -> None:
        for message in messages:
            found = self._lease(message)
            if found is None:
                continue
            entry, current = found
            if current or entry.owner is None:  # a late success acknowledges a message nobody holds
                entry.take_back(count=False)
                entry.done = True

    async def nack(self, messages: Sequence[tuple[Message, float]]) -> None:
        loop = asyncio.get_running_loop()
        for message, delay in messages:
            found = self._lease(message)
            if found is not None and found[1]:
                entry = found[0]
                entry.take_back()
                entry.timer = loop.call_later(delay, self._group.push, entry)

    async def release(self, messages: Sequence[Message], *, started: bool) -> None:
        # Kept in ``_leases``: a late success of a released message still acknowledges it.
        held = [found[0] for m in messages if (found := self._lease(m, keep=True)) is not None and found[1]]
        for entry in sorted(held, key=lambda e: int(e.payload.id), reverse=True):
            entry.take_back(count=started)
            self._group.ready.appendleft(entry)
        self._group.wake()

    def _expire(self, entry: _Entry, token: int) -> None:
        """The processing timeout: the message is deliverable again; the slow handler keeps running."""
        if entry.token == token and entry.owner is self:
            entry.timer = None
            entry.take_back()
            self._group.push(entry, front=True)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._group.sources.remove(self)
        self._broker.subscriptions.discard(self.loop)


class MemoryPubSub(PubSub):
    """Topics → consumer groups → queues, all in this process."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, _Group]] = {}
        self._ids = itertools.count(1)
        self.subscriptions: set[SubscriptionLoop] = set()
        self.processing_timeout = 60.0
        self._closed = False

    async def init(self, metadata: ComponentMetadata) -> None:
        self.processing_timeout = metadata.get_duration("processingTimeout", 60.0)
        if self.processing_timeout <= 0:
            raise MetadataError("metadata field 'processingTimeout': must be positive")

    async def close(self) -> None:
        """Stop deliveries, then cancel handler calls still running (they stay unacknowledged)."""
        self._closed = True
        subs = list(self.subscriptions)
        for sub in subs:
            await sub.close()
        for sub in subs:
            await sub.cancel_handlers()

    async def publish(self, request: PublishRequest) -> None:
        if self._closed:
            raise PubSubError("in-memory pubsub is closed")
        if not isinstance(request.data, (bytes, bytearray, memoryview)):
            raise PubSubError("message data must be bytes")
        payload = _Payload(str(next(self._ids)), request.topic, bytes(request.data), dict(request.metadata),
                           request.content_type)
        for group in self._topics.get(request.topic, {}).values():
            group.push(_Entry(payload))

    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        if self._closed:
            raise PubSubError("in-memory pubsub is closed")
        groups = self._topics.setdefault(request.topic, {})
        group = groups.setdefault(request.consumer_group, _Group())
        source = _MemorySource(self, group)
        # Event-driven: publishes, expired leases and due retries wake the loop; it never polls.
        settings = LoopSettings(concurrency=request.concurrency, poll_interval=None)
        source.loop = SubscriptionLoop(source, handler, settings, f"in-memory pubsub {request.topic}/{request.consumer_group}")
        group.sources.append(source)
        self.subscriptions.add(source.loop)
        return source.loop.start()  # its first fetch takes what the group kept meanwhile
