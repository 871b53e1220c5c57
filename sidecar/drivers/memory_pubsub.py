"""``pubsub.in-memory``: a process-local broker with consumer groups, for tests and one-sidecar demos.

Each topic holds one queue per consumer group; a publish appends to every
group that exists at that moment. Dispatch is event-driven (no polling): a
publish, a finished handler or a due redelivery hands ready messages to the
group's subscribers round-robin, skipping any whose ``concurrency`` slots are
all busy. Everything runs on the event loop with no ``await`` between a check
and its update, so no lock is needed.

A delivery carries a token; every later state change (ack, nack, processing
timeout, release on close) checks it, so the outcome of a handler that was
overtaken by a redelivery cannot disturb the newer one. A late success still
acknowledges a message nobody else holds at that moment.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Mapping
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

__all__ = ["MemoryPubSub"]

log = logging.getLogger(__name__)

_BACKOFF = 0.05  # first redelivery delay after a handler raised, doubled each time …
_MAX_BACKOFF = 2.0  # … up to this


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
    owner: _MemorySubscription | None = None  # set while in flight
    done: bool = False
    timer: asyncio.TimerHandle | None = None

    def message(self) -> Message:
        p = self.payload
        return Message(topic=p.topic, data=p.data, metadata=p.metadata, content_type=p.content_type, id=p.id,
                       redeliveries=self.redeliveries)


@dataclass(eq=False)
class _Group:
    ready: deque[_Entry] = field(default_factory=deque)
    subscribers: list[_MemorySubscription] = field(default_factory=list)
    turn: int = 0  # round-robin position

    def push(self, entry: _Entry, *, front: bool = False) -> None:
        if entry.done:
            return
        (self.ready.appendleft if front else self.ready.append)(entry)
        self.pump()

    def pump(self) -> None:
        """Hand ready messages to subscribers with a free slot, round-robin."""
        while self.ready and self.subscribers:
            sub = self._next_free()
            if sub is None:
                return
            entry = self.ready.popleft()
            if entry.done or entry.owner is not None:
                continue  # acknowledged late, or already handed out again
            sub.deliver(entry)

    def _next_free(self) -> _MemorySubscription | None:
        count = len(self.subscribers)
        for step in range(count):
            index = (self.turn + step) % count
            sub = self.subscribers[index]
            if sub.has_slot():
                self.turn = index + 1
                return sub
        return None


class _MemorySubscription(Subscription):
    def __init__(self, broker: MemoryPubSub, group: _Group, request: SubscribeRequest,
                 handler: MessageHandler) -> None:
        self._broker = broker
        self._group = group
        self._handler = handler
        self._limit = max(1, request.concurrency)
        self._running = 0  # handler calls not yet returned (stuck ones included)
        self._owned: set[_Entry] = set()  # entries this subscription holds in flight
        self.closed = False

    def has_slot(self) -> bool:
        return not self.closed and self._running < self._limit

    def deliver(self, entry: _Entry) -> None:
        entry.token += 1
        entry.owner = self
        self._owned.add(entry)
        loop = asyncio.get_running_loop()
        entry.timer = loop.call_later(self._broker.processing_timeout, self._expire, entry, entry.token)
        self._running += 1
        task = loop.create_task(self._call(entry, entry.token, entry.message()))
        self._broker.tasks.add(task)
        task.add_done_callback(self._broker.tasks.discard)

    async def _call(self, entry: _Entry, token: int, message: Message) -> None:
        ok = False
        try:
            await self._handler(message)
            ok = True
        except Exception as exc:  # the handler's failure means "deliver again"
            log.debug("in-memory pubsub: handler failed for message %s: %r", message.id, exc)
        finally:
            self._running -= 1
            self._settle(entry, token, ok)
            self._group.pump()

    def _take_back(self, entry: _Entry) -> None:
        self._owned.discard(entry)
        entry.owner = None
        entry.token += 1
        entry.redeliveries += 1
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None

    def _settle(self, entry: _Entry, token: int, ok: bool) -> None:
        if entry.done:
            return
        if entry.token != token:  # overtaken by a timeout or a close
            if ok and entry.owner is None:
                entry.done = True  # it is only waiting: the late success acknowledges it
            return
        if ok:
            self._owned.discard(entry)
            entry.owner = None
            entry.done = True
            if entry.timer is not None:
                entry.timer.cancel()
            return
        delay = min(_BACKOFF * 2.0 ** min(entry.redeliveries, 30), _MAX_BACKOFF)
        self._take_back(entry)
        entry.timer = asyncio.get_running_loop().call_later(delay, self._group.push, entry)

    def _expire(self, entry: _Entry, token: int) -> None:
        """The processing timeout: the message is deliverable again; the slow handler keeps running."""
        if entry.token == token and entry.owner is self:
            entry.timer = None
            self._take_back(entry)
            self._group.push(entry, front=True)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._broker.subscriptions.discard(self)
        with contextlib.suppress(ValueError):
            self._group.subscribers.remove(self)
        for entry in sorted(self._owned, key=lambda e: int(e.payload.id), reverse=True):
            self._take_back(entry)
            self._group.ready.appendleft(entry)
        self._group.pump()


class MemoryPubSub(PubSub):
    """Topics → consumer groups → queues, all in this process."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, _Group]] = {}
        self._ids = itertools.count(1)
        self.subscriptions: set[_MemorySubscription] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.processing_timeout = 60.0
        self._closed = False

    async def init(self, metadata: ComponentMetadata) -> None:
        self.processing_timeout = metadata.get_duration("processingTimeout", 60.0)
        if self.processing_timeout <= 0:
            raise MetadataError("metadata field 'processingTimeout': must be positive")

    async def close(self) -> None:
        """Stop deliveries, then cancel handler calls still running (they stay unacknowledged)."""
        self._closed = True
        for sub in list(self.subscriptions):
            await sub.close()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
        sub = _MemorySubscription(self, group, request, handler)
        group.subscribers.append(sub)
        self.subscriptions.add(sub)
        group.pump()  # messages kept while the group had no subscriber
        return sub
