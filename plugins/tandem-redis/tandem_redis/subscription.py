"""What one subscription of ``pubsub.redis`` gives the toolkit's delivery loop (see :mod:`.pubsub`).

The loop (slots, batched acks, back-off, release at close) is
:class:`tandem.sidecar.components.subscription_loop.SubscriptionLoop`; this
source says how Redis Streams lease (``XREADGROUP``), acknowledge (``XACK``),
retry a failed message (re-claimed after the back-off, so Redis counts the
delivery) and recover entries left idle by dead subscribers (``XPENDING`` +
``XCLAIM``, every ``redeliverInterval``).
"""
from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from tandem.sidecar.components.pubsub import Message, PubSubError, SubscribeRequest
from tandem.sidecar.components.subscription_loop import (
    Backoff,
    LoopSettings,
    MessageSource,
    SubscriptionLoop,
    stop_tasks,
)

from .connection import translate
from .streams import CLOSE_TIMEOUT, DEAD_CONSUMER_MS, JANITOR_EVERY, MAX_BACKOFF, MIN_BACKOFF, text, to_message

if TYPE_CHECKING:
    from .pubsub import RedisPubSub

__all__ = ["RedisSource"]


class RedisSource(MessageSource):
    """One consumer (``<group>-<32 hex>``) of one Redis consumer group."""

    interruptible = True  # XREADGROUP blocks for readTimeout: close cancels it

    def __init__(self, broker: RedisPubSub, request: SubscribeRequest) -> None:
        cfg, settings, _ = broker.ready()
        self.broker = broker
        self.cfg = cfg
        self.topic = request.topic
        self.group = request.consumer_group
        self.consumer = f"{self.group}-{uuid.uuid4().hex}"
        self.reader = settings.client(block=cfg.block_ms / 1000, max_connections=1)
        self.retrying: dict[str, asyncio.TimerHandle] = {}
        self.retries: set[asyncio.Task[None]] = set()
        self.since_janitor = 0.0
        self.loop: SubscriptionLoop

    def settings(self, concurrency: int) -> LoopSettings:
        cfg = self.cfg
        return LoopSettings(
            concurrency=concurrency,
            retry=Backoff(cfg.backoff, cfg.max_backoff) if cfg.backoff >= 0 else None,
            poll_interval=0,  # the read blocks by itself
            errors=Backoff(MIN_BACKOFF, MAX_BACKOFF),
            recover_interval=cfg.redeliver_interval if cfg.redelivery else 0.0,
            close_timeout=CLOSE_TIMEOUT,
        )

    async def ensure_group(self) -> None:
        _, settings, client = self.broker.ready()
        with translate(PubSubError, f"creating consumer group {self.group!r} on {self.topic!r}", settings):
            try:
                await client.xgroup_create(self.topic, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def fetch(self, limit: int) -> Sequence[Message]:
        try:
            reply: Any = await self.reader.xreadgroup(self.group, self.consumer, {self.topic: ">"},
                                                      count=min(self.cfg.queue_depth, limit), block=self.cfg.block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise PubSubError(f"reading {self.topic}/{self.group}: {exc}") from exc
            await self.ensure_group()  # a restarted Redis that kept no data
            return ()
        except (RedisError, OSError) as exc:
            raise PubSubError(f"reading {self.topic}/{self.group}: connection lost ({exc})") from exc
        return [to_message(self.topic, entry_id, fields, 0)
                for _stream, entries in reply or () for entry_id, fields in entries if fields is not None]

    async def ack(self, messages: Sequence[Message]) -> None:
        await self._ack(*(message.id for message in messages))

    async def _ack(self, *entry_ids: str) -> None:
        _, settings, client = self.broker.ready()
        with translate(PubSubError, f"XACK of {len(entry_ids)} message(s)", settings):
            await client.xack(self.topic, self.group, *entry_ids)

    async def nack(self, messages: Sequence[tuple[Message, float]]) -> None:
        """The message stays pending with this consumer; after the delay it is re-claimed and handled again."""
        loop = asyncio.get_running_loop()
        for message, delay in messages:
            if message.id not in self.retrying:
                self.retrying[message.id] = loop.call_later(delay, self._spawn_retry, message)

    async def release(self, messages: Sequence[Message], *, started: bool) -> None:
        """Nothing to do: they stay pending and are claimed by others after ``processingTimeout``."""

    def _spawn_retry(self, message: Message) -> None:
        task = asyncio.get_running_loop().create_task(self._retry(message))
        self.retries.add(task)
        task.add_done_callback(self.retries.discard)

    async def _retry(self, message: Message) -> None:
        """Re-claim a failed message if this consumer still holds it, and hand it to the loop again."""
        try:
            _, settings, client = self.broker.ready()
            with translate(PubSubError, f"re-claiming {message.id}", settings):
                reply = await self.broker.reclaim(keys=[self.topic], client=client,
                                                  args=[self.group, self.consumer, message.id])
        except PubSubError:
            self.retrying.pop(message.id, None)
            if not self.loop.closed:
                await self.nack([(message, self.loop.settings.errors.maximum)])
            return
        self.retrying.pop(message.id, None)
        if self.loop.closed or reply is None:
            return  # another subscriber claimed it meanwhile
        if not reply or reply[0] is None or len(reply[0]) < 2:
            await self.ack([message])  # deleted from the stream: nothing left to deliver
            return
        entry_id, flat = reply[0][0], reply[0][1]
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        self.loop.deliver([to_message(self.topic, entry_id, fields, message.redeliveries + 1)])

    async def recover(self, limit: int) -> Sequence[Message]:
        try:
            found = await self.redeliver(limit)
            self.since_janitor += self.cfg.redeliver_interval
            if self.since_janitor >= JANITOR_EVERY:
                self.since_janitor = 0.0
                await self._forget_dead_consumers()
        except (RedisError, OSError) as exc:
            raise PubSubError(f"redelivery pass of {self.topic}/{self.group}: {exc}") from exc
        return found

    async def redeliver(self, limit: int) -> list[Message]:
        """Claim the group's entries idle for ``processingTimeout`` (whoever held them)."""
        _, _, client = self.broker.ready()
        room = min(self.cfg.queue_depth, limit)
        idle_ms = max(1, int(self.cfg.processing_timeout * 1000))
        try:
            pending = await client.xpending_range(self.topic, self.group, "-", "+", room, idle=idle_ms)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                return []  # the read re-creates the group
            raise
        counts = {text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        waiting = self.loop.waiting_ids
        ids: list[Any] = [i for i in counts if i not in waiting and i not in self.retrying]
        if not ids:
            return []
        claimed: Any = await client.xclaim(self.topic, self.group, self.consumer, idle_ms, ids)
        got = {text(entry_id): fields for entry_id, fields in claimed if fields is not None}
        for entry_id in ids:
            # Not claimed: deleted from the stream (Redis < 7 keeps such ids pending), or just taken by
            # another subscriber — only the first kind is acknowledged.
            if entry_id not in got and not await client.xrange(self.topic, entry_id, entry_id, count=1):
                await client.xack(self.topic, self.group, entry_id)
        return [to_message(self.topic, entry_id, fields, counts[entry_id]) for entry_id, fields in got.items()]

    async def _forget_dead_consumers(self) -> None:
        _, _, client = self.broker.ready()
        own = re.compile(re.escape(self.group) + "-[0-9a-f]{32}")
        for info in await client.xinfo_consumers(self.topic, self.group):
            name = text(info.get("name", ""))
            if (name != self.consumer and own.fullmatch(name) and int(info.get("pending", 1)) == 0
                    and int(info.get("idle", 0)) >= DEAD_CONSUMER_MS):
                await self.broker.forget(keys=[self.topic], args=[self.group, name], client=client)

    async def close(self) -> None:
        """Stop retrying; remove this consumer if it holds nothing; disconnect the reader."""
        self.broker.subscriptions.discard(self.loop)
        for timer in self.retrying.values():
            timer.cancel()
        self.retrying.clear()
        await stop_tasks(list(self.retries), CLOSE_TIMEOUT, f"redis pubsub {self.topic}/{self.consumer}")
        try:
            # Messages read but not acknowledged stay pending and are claimed by others after processingTimeout.
            _, _, client = self.broker.ready()
            await asyncio.wait_for(self.broker.forget(keys=[self.topic], args=[self.group, self.consumer],
                                                      client=client), CLOSE_TIMEOUT)
        except (PubSubError, RedisError, OSError, asyncio.TimeoutError):
            pass
        finally:
            await self.reader.aclose()
