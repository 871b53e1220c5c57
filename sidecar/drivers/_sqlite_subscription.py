"""The consumer side of ``pubsub.sqlite``: what one subscription gives the toolkit's delivery loop.

Apart from the broker (``sqlite_pubsub``) only to keep each file short. The
loop itself (slots, batching, back-off) is :class:`.SubscriptionLoop`; this
source leases rows with its token and writes outcomes in one transaction per
batch. A publish in this process calls :func:`wake` so local subscribers need
not wait for their next poll.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..components.pubsub import Message
from ..components.subscription_loop import MessageSource, SubscriptionLoop

if TYPE_CHECKING:
    from .sqlite_pubsub import SqlitePubSub

__all__ = ["SqliteSource", "wake"]

# Subscriptions of this process by (database, topic): a local publish wakes them without waiting for a poll.
_local: dict[tuple[str, str], set[SqliteSource]] = {}
_local_lock = threading.Lock()


def wake(key: str, topics: Iterable[str]) -> None:
    """Poke this process's subscribers of ``topics`` in the database/prefix ``key`` (after a commit)."""
    with _local_lock:
        sources = [source for topic in topics for source in _local.get((key, topic), ())]
    for source in sources:
        source.poke()


class SqliteSource(MessageSource):
    """Leases rows of one consumer group under this subscription's token."""

    def __init__(self, store: SqlitePubSub, topic: str, group_id: int) -> None:
        self._store = store
        self._group_id = group_id
        self._token = uuid.uuid4().hex
        self._key = (store._ready()[0].key, topic)
        self._loop = asyncio.get_running_loop()
        self.loop: SubscriptionLoop
        with _local_lock:
            _local.setdefault(self._key, set()).add(self)

    def poke(self) -> None:
        """Wake the loop now (thread-safe: a publish may come from any event loop of this process)."""
        with contextlib.suppress(RuntimeError):  # event loop closed
            self._loop.call_soon_threadsafe(self.loop.wake)

    async def fetch(self, limit: int) -> Sequence[Message]:
        return await self._store.claim(self._group_id, self._token, limit)

    async def ack(self, messages: Sequence[Message]) -> None:
        await self._store.settle(self._group_id, self._token, acks=[int(m.id) for m in messages])

    async def nack(self, messages: Sequence[tuple[Message, float]]) -> None:
        await self._store.settle(self._group_id, self._token, nacks=[(int(m.id), delay) for m, delay in messages])

    async def release(self, messages: Sequence[Message], *, started: bool) -> None:
        undo = 0 if started else 1  # a message never handed to the handler is not a delivery
        await self._store.settle(self._group_id, self._token, releases=[(int(m.id), undo) for m in messages])

    async def close(self) -> None:
        with _local_lock:
            sources = _local.get(self._key)
            if sources is not None:
                sources.discard(self)
                if not sources:
                    del _local[self._key]
        self._store.subscriptions.discard(self.loop)
