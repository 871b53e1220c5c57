"""One subscription of ``pubsub.redis``: a consumer of a Redis consumer group (see :mod:`.pubsub`)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from tandem.sidecar.components.pubsub import Message, MessageHandler, PubSubError, SubscribeRequest, Subscription

from .connection import translate
from .streams import (
    CLOSE_TIMEOUT,
    DEAD_CONSUMER_MS,
    JANITOR_EVERY,
    MAX_BACKOFF,
    MIN_BACKOFF,
    cancel_tasks,
    text,
    to_message,
)

if TYPE_CHECKING:
    from .pubsub import RedisPubSub

__all__ = ["RedisSubscription"]

log = logging.getLogger("tandem_redis.pubsub")


class RedisSubscription(Subscription):
    """One consumer of one group: a read loop, a dispatcher, handler tasks and a redelivery loop."""

    def __init__(self, broker: RedisPubSub, request: SubscribeRequest, handler: MessageHandler) -> None:
        cfg, settings, _ = broker.ready()
        self.broker = broker
        self.cfg = cfg
        self.topic = request.topic
        self.group = request.consumer_group
        self.consumer = f"{self.group}-{uuid.uuid4().hex}"
        self.handler = handler
        self.capacity = cfg.queue_depth + max(1, request.concurrency)
        self.slots = asyncio.Semaphore(max(1, request.concurrency))
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.load = 0  # messages queued or being handled: the read loop keeps it within capacity
        self.room = asyncio.Event()
        self.queued: set[str] = set()
        self.retrying: dict[str, asyncio.TimerHandle] = {}
        self.acks: list[str] = []  # handled, not yet acknowledged
        self.acker: asyncio.Task[None] | None = None
        self.reader = settings.client(block=cfg.block_ms / 1000, max_connections=1)
        self.loops: list[asyncio.Task[None]] = []
        self.closed = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        name = f"tandem-redis-{self.topic}-{self.consumer}"
        self.loops = [loop.create_task(self._read_loop(), name=f"{name}-read"),
                      loop.create_task(self._pump(), name=f"{name}-pump")]
        if self.cfg.redelivery:
            self.loops.append(loop.create_task(self._redeliver_loop(), name=f"{name}-redeliver"))

    async def ensure_group(self) -> None:
        _, settings, client = self.broker.ready()
        with translate(PubSubError, f"creating consumer group {self.group!r} on {self.topic!r}", settings):
            try:
                await client.xgroup_create(self.topic, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # -- intake --------------------------------------------------------------

    def _dispatch(self, message: Message) -> None:
        self.load += 1
        self.queued.add(message.id)
        self.queue.put_nowait(message)

    async def _read_loop(self) -> None:
        delay, down = MIN_BACKOFF, False
        while not self.closed:
            room = self.capacity - self.load
            if room <= 0:
                self.room.clear()
                await self.room.wait()
                continue
            try:
                reply: Any = await self.reader.xreadgroup(self.group, self.consumer, {self.topic: ">"},
                                                     count=min(self.cfg.queue_depth, room), block=self.cfg.block_ms)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    with contextlib.suppress(PubSubError):
                        await self.ensure_group()
                        continue
                log.warning("redis pubsub %s/%s: read failed: %s", self.topic, self.group, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            except (RedisError, OSError) as exc:
                if not down:
                    log.warning("redis pubsub %s/%s: connection lost (%s); reconnecting", self.topic, self.group, exc)
                    down = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            if down:
                log.info("redis pubsub %s/%s: reconnected", self.topic, self.group)
                down = False
            delay = MIN_BACKOFF
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    if fields is not None:
                        self._dispatch(to_message(self.topic, entry_id, fields, 0))

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed:
            message = await self.queue.get()
            await self.slots.acquire()
            if self.closed:
                self.slots.release()
                return
            self.queued.discard(message.id)
            task = loop.create_task(self._run(message))
            self.broker.tasks.add(task)
            task.add_done_callback(self.broker.tasks.discard)

    # -- handling ------------------------------------------------------------

    async def _run(self, message: Message) -> None:
        ok = False
        try:
            await self.handler(message)
            ok = True
        except Exception as exc:  # the handler's failure means "deliver again"
            log.debug("redis pubsub %s/%s: handler failed for %s: %r", self.topic, self.group, message.id, exc)
        finally:
            self.slots.release()
            self.load -= 1
            self.room.set()
        if ok:
            self._ack_soon(message.id)
        elif not self.closed and self.cfg.backoff >= 0:
            self._retry_later(message)

    def _ack_soon(self, entry_id: str) -> None:
        """Queue an ``XACK``: one runs at a time, taking every id that finished meanwhile (no added delay)."""
        self.acks.append(entry_id)
        if self.acker is None:
            self.acker = asyncio.get_running_loop().create_task(self._flush_acks())
            self.broker.tasks.add(self.acker)
            self.acker.add_done_callback(self.broker.tasks.discard)

    async def _flush_acks(self) -> None:
        try:
            while self.acks:
                ids, self.acks = self.acks, []
                await self._ack(*ids)
        finally:
            self.acker = None

    async def _ack(self, *entry_ids: str) -> None:
        """A lost ack only means one more delivery later, so it is logged, not raised."""
        try:
            _, settings, client = self.broker.ready()
            with translate(PubSubError, f"XACK of {len(entry_ids)} message(s)", settings):
                await client.xack(self.topic, self.group, *entry_ids)
        except PubSubError as exc:
            log.warning("redis pubsub %s/%s: %s; they will be delivered again", self.topic, self.group, exc)

    def _retry_later(self, message: Message) -> None:
        if message.id in self.retrying:
            return
        loop = asyncio.get_running_loop()
        delay = self.cfg.retry_delay(message.redeliveries)
        self.retrying[message.id] = loop.call_later(delay, self._spawn_retry, message)

    def _spawn_retry(self, message: Message) -> None:
        task = asyncio.get_running_loop().create_task(self._retry(message))
        self.broker.tasks.add(task)
        task.add_done_callback(self.broker.tasks.discard)

    async def _retry(self, message: Message) -> None:
        """Re-claim a failed message if this consumer still holds it, and handle it again."""
        try:
            _, settings, client = self.broker.ready()
            with translate(PubSubError, f"re-claiming {message.id}", settings):
                reply = await self.broker.reclaim(keys=[self.topic], client=client,
                                                  args=[self.group, self.consumer, message.id])
        except PubSubError as exc:
            self.retrying.pop(message.id, None)
            if not self.closed:
                log.debug("redis pubsub %s/%s: %s; trying again later", self.topic, self.group, exc)
                self._retry_later(message)
            return
        self.retrying.pop(message.id, None)
        if self.closed or reply is None:
            return  # another subscriber claimed it meanwhile
        if not reply or reply[0] is None or len(reply[0]) < 2:
            await self._ack(message.id)  # deleted from the stream: nothing left to deliver
            return
        entry_id, flat = reply[0][0], reply[0][1]
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        self._dispatch(to_message(self.topic, entry_id, fields, message.redeliveries + 1))

    # -- redelivery ----------------------------------------------------------

    async def _redeliver_loop(self) -> None:
        since_janitor = 0.0
        while not self.closed:
            await asyncio.sleep(self.cfg.redeliver_interval)
            if self.closed:
                return
            since_janitor += self.cfg.redeliver_interval
            try:
                await self.redeliver()
                if since_janitor >= JANITOR_EVERY:
                    since_janitor = 0.0
                    await self._forget_dead_consumers()
            except (RedisError, OSError, PubSubError) as exc:
                log.debug("redis pubsub %s/%s: redelivery pass failed: %s", self.topic, self.group, exc)

    async def redeliver(self) -> int:
        """Claim the group's entries idle for ``processingTimeout``; returns how many were handed out."""
        _, _, client = self.broker.ready()
        room = min(self.cfg.queue_depth, self.capacity - self.load)
        if room <= 0:
            return 0
        idle_ms = max(1, int(self.cfg.processing_timeout * 1000))
        try:
            pending = await client.xpending_range(self.topic, self.group, "-", "+", room, idle=idle_ms)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                return 0  # the read loop re-creates the group
            raise
        counts = {text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        ids: list[Any] = [i for i in counts if i not in self.queued and i not in self.retrying]
        if not ids:
            return 0
        claimed: Any = await client.xclaim(self.topic, self.group, self.consumer, idle_ms, ids)
        got = {text(entry_id): fields for entry_id, fields in claimed if fields is not None}
        for entry_id, fields in got.items():
            self._dispatch(to_message(self.topic, entry_id, fields, counts[entry_id]))
        for entry_id in ids:
            # Not claimed: deleted from the stream (Redis < 7 keeps such ids pending), or just taken by
            # another subscriber — only the first kind is acknowledged.
            if entry_id not in got and not await client.xrange(self.topic, entry_id, entry_id, count=1):
                await client.xack(self.topic, self.group, entry_id)
        return len(got)

    async def _forget_dead_consumers(self) -> None:
        _, _, client = self.broker.ready()
        own = re.compile(re.escape(self.group) + "-[0-9a-f]{32}")
        for info in await client.xinfo_consumers(self.topic, self.group):
            name = text(info.get("name", ""))
            if (name != self.consumer and own.fullmatch(name) and int(info.get("pending", 1)) == 0
                    and int(info.get("idle", 0)) >= DEAD_CONSUMER_MS):
                await self.broker.forget(keys=[self.topic], args=[self.group, name], client=client)

    # -- shutdown ------------------------------------------------------------

    async def close(self) -> None:
        """Stop reading and retrying; running handlers finish (a late success is still acknowledged)."""
        if self.closed:
            return
        self.closed = True
        self.broker.subscriptions.discard(self)
        await cancel_tasks(self.loops)
        for timer in self.retrying.values():
            timer.cancel()
        self.retrying.clear()
        if self.acker is not None:  # acknowledge what was handled before closing
            await asyncio.wait([self.acker], timeout=CLOSE_TIMEOUT)
        with contextlib.suppress(Exception):
            # Messages read but not started stay pending and are claimed by others after processingTimeout.
            _, _, client = self.broker.ready()
            await asyncio.wait_for(self.broker.forget(keys=[self.topic], args=[self.group, self.consumer],
                                                      client=client), CLOSE_TIMEOUT)
        await self.reader.aclose()
