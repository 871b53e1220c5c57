"""The consumer side of ``pubsub.sqlite``: one subscription's polling, handler calls and batched outcomes.

Apart from the broker (``sqlite_pubsub``) only to keep each file short; a
publish in this process calls :func:`wake` so local subscribers need not wait
for their next poll.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..components.pubsub import Message, MessageHandler, PubSubError, SubscribeRequest, Subscription

if TYPE_CHECKING:
    from .sqlite_pubsub import SqlitePubSub

__all__ = ["SqliteSubscription", "wake"]

log = logging.getLogger(f"{__package__}.sqlite_pubsub")  # the broker's logger: one name for the whole driver

# Subscriptions of this process by (database, topic): a local publish wakes them without waiting for a poll.
_local: dict[tuple[str, str], set[SqliteSubscription]] = {}
_local_lock = threading.Lock()


def wake(key: str, topics: Iterable[str]) -> None:
    """Poke this process's subscribers of ``topics`` in the database/prefix ``key`` (after a commit)."""
    with _local_lock:
        subs = [sub for topic in topics for sub in _local.get((key, topic), ())]
    for sub in subs:
        sub.poke()


class SqliteSubscription(Subscription):
    """Claims up to its free slots per poll; outcomes are written in batches, after the handler returned."""

    def __init__(self, store: SqlitePubSub, request: SubscribeRequest, handler: MessageHandler, group_id: int) -> None:
        self._store = store
        self._handler = handler
        self._group_id = group_id
        self._token = uuid.uuid4().hex
        self._limit = max(1, request.concurrency)
        self._cfg = store._ready()[0]
        self._key = (self._cfg.key, request.topic)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._slot = asyncio.Event()
        self._closed = False
        self.tasks: dict[asyncio.Task[None], int] = {}  # running handler call → seq
        self._acks: list[int] = []
        self._nacks: list[tuple[int, int]] = []
        self._flusher: asyncio.Task[None] | None = None
        with _local_lock:
            _local.setdefault(self._key, set()).add(self)
        self._poller = self._loop.create_task(self._poll())

    def poke(self) -> None:
        """Wake the poller now (thread-safe: a publish may come from any loop of this process)."""
        with contextlib.suppress(RuntimeError):  # loop closed
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _poll(self) -> None:
        failures = 0
        while not self._closed:
            free = self._limit - len(self.tasks)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            self._wake.clear()
            try:
                claimed = await self._store.claim(self._group_id, self._token, free)
                failures = 0
            except PubSubError as exc:
                failures += 1
                log.warning("sqlite pubsub: claiming messages failed: %s", exc)
                claimed = []
            if self._closed:  # closed while claiming: hand them back untouched
                await self._settle([], [], [(int(m.id), 1) for m in claimed])
                return
            for message in claimed:
                self.tasks[self._loop.create_task(self._call(message))] = int(message.id)
            if len(claimed) < free:  # nothing more to take now: sleep until poked or the next poll
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._cfg.poll * 2 ** min(failures, 6))

    async def _call(self, message: Message) -> None:
        ok = False
        try:
            await self._handler(message)
            ok = True
        except Exception as exc:  # the handler's failure means "deliver again"
            log.debug("sqlite pubsub: handler failed for message %s: %r", message.id, exc)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self.tasks.pop(task, None)
            self._slot.set()
            if ok:
                self._acks.append(int(message.id))
            else:
                self._nacks.append((int(message.id), message.redeliveries))
            if self._flusher is None or self._flusher.done():
                self._flusher = self._loop.create_task(self._flush_loop())
            if self._closed and not self.tasks:
                self._store.subscriptions.discard(self)

    async def _settle(self, acks: list[int], nacks: list[tuple[int, int]], releases: list[tuple[int, int]]) -> bool:
        try:
            await self._store.settle(self._group_id, self._token, acks, nacks, releases)
            return True
        except PubSubError as exc:
            # Not lost: unsettled messages come back when their lease runs out.
            log.warning("sqlite pubsub: recording %d outcomes failed: %s", len(acks) + len(nacks) + len(releases), exc)
            return False

    async def _flush_loop(self) -> None:
        failures = 0
        while (self._acks or self._nacks) and self._store.open:
            acks, nacks, self._acks, self._nacks = self._acks, self._nacks, [], []
            if await self._settle(acks, nacks, []):
                failures = 0
            elif (failures := failures + 1) < 10:  # else give up: the leases bring them back
                self._acks[:0], self._nacks[:0] = acks, nacks
                await asyncio.sleep(self._cfg.poll * 2 ** failures)

    async def flush(self) -> None:
        """Wait until the outcomes of returned handlers are written."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def close(self) -> None:
        """Stop claiming, write finished outcomes, hand in-flight messages back at once (no back-off)."""
        if self._closed:
            return
        self._closed = True
        with _local_lock:
            subs = _local.get(self._key)
            if subs is not None:
                subs.discard(self)
                if not subs:
                    del _local[self._key]
        self._wake.set()
        self._slot.set()
        await self._poller  # lets a running claim finish, so its messages are released, not stranded
        await self.flush()
        running = sorted(set(self.tasks.values()))
        if running:
            await self._settle([], [], [(seq, 0) for seq in running])
        if not self.tasks:
            self._store.subscriptions.discard(self)
