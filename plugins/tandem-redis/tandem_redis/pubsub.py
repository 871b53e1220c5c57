"""``pubsub.redis``: Redis Streams with consumer groups, on the wire exactly as Dapr's (spec §8.3).

* Publish: ``XADD <topic> [MAXLEN ~ maxLenApprox] * data <bytes> metadata <json>``.
* Subscribe: ``XGROUP CREATE <topic> <group> 0 MKSTREAM`` (``BUSYGROUP`` ignored), then the toolkit's
  delivery loop (:class:`~tandem.sidecar.components.subscription_loop.SubscriptionLoop`) reading with
  ``XREADGROUP GROUP <group> <consumer> COUNT <free slots, at most queueDepth> BLOCK <readTimeout> STREAMS
  <topic> >`` into ``concurrency`` handler calls; ``XACK`` (batched) when the handler returns.
* Every ``redeliverInterval`` a loop claims (``XPENDING`` + ``XCLAIM``) the group's entries idle for
  ``processingTimeout`` or more, whoever held them, so a dead subscriber's messages come back.

Differences from Dapr, each deliberate:

* Consumer name: ``<group>-<32 hex>`` per subscription, where Dapr gives every replica the group's
  name. Redis then shows who holds what (``XINFO CONSUMERS``), and a subscriber can tell its own
  pending entries from another's. A subscription that closes with nothing pending removes its
  consumer; consumers of this form left by dead subscribers are removed once idle for an hour with
  nothing pending. A Dapr sidecar in the same group works alongside.
* A handler that raises gets its message again from the same subscriber after a back-off
  (``redeliverBackoff``, doubling up to ``maxRedeliveryBackoff``; it is re-claimed so Redis counts the
  delivery), instead of waiting for ``processingTimeout``. A negative ``redeliverBackoff`` restores
  Dapr's behaviour.
* ``redeliverInterval`` accepts Go durations as well as bare milliseconds.

A lost connection never ends a subscription: the loops back off (50 ms doubling to 2 s), reconnect,
and re-create the group on ``NOGROUP`` (a restarted Redis that kept no data).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.typing import EncodableT, FieldT

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.pubsub import (
    BulkPublishEntry,
    BulkPublishFailure,
    MessageHandler,
    PublishRequest,
    PubSub,
    PubSubError,
    SubscribeRequest,
    Subscription,
)
from tandem.sidecar.components.subscription_loop import SubscriptionLoop

from . import scripts
from .component import RedisComponent
from .connection import RedisSettings, is_connection_error, translate
from .streams import StreamsConfig, encode_metadata, parse_config
from .subscription import RedisSource

__all__ = ["RedisPubSub"]

log = logging.getLogger(__name__)


class RedisPubSub(RedisComponent, PubSub):
    """Topics are streams; consumer groups are Redis consumer groups."""

    error = PubSubError
    label = "redis pubsub"
    scripts = (scripts.PUBSUB_RECLAIM, scripts.PUBSUB_FORGET_CONSUMER)
    _cfg: StreamsConfig | None = None

    def __init__(self) -> None:
        self.subscriptions: set[SubscriptionLoop] = set()

    def configure(self, metadata: ComponentMetadata, settings: RedisSettings) -> None:
        self._cfg = parse_config(metadata, settings)

    @property
    def reclaim(self) -> AsyncScript:
        return self.script(scripts.PUBSUB_RECLAIM)

    @property
    def forget(self) -> AsyncScript:
        return self.script(scripts.PUBSUB_FORGET_CONSUMER)

    def ready(self) -> tuple[StreamsConfig, RedisSettings, aioredis.Redis]:
        settings, client = self.connection()
        if self._cfg is None:
            raise PubSubError(f"{self.label} is not initialised or closed")
        return self._cfg, settings, client

    async def close(self) -> None:
        """Close every subscription, cancel handler calls still running (they stay pending), disconnect."""
        subs = list(self.subscriptions)
        for sub in subs:
            await sub.close()
        for sub in subs:
            await sub.cancel_handlers()
        await super().close()

    def _fields(self, request: PublishRequest) -> dict[FieldT, EncodableT]:
        if not isinstance(request.data, (bytes, bytearray, memoryview)):
            raise PubSubError("message data must be bytes")
        return {"data": bytes(request.data), "metadata": encode_metadata(request.metadata)}

    async def publish(self, request: PublishRequest) -> None:
        cfg, settings, client = self.ready()
        fields = self._fields(request)
        with translate(PubSubError, f"publish to {request.topic!r}", settings):
            await client.xadd(request.topic, fields, maxlen=cfg.max_len_approx or None, approximate=True)

    async def bulk_publish(self, entries: Sequence[BulkPublishEntry]) -> list[BulkPublishFailure]:
        """One pipelined round trip; each entry succeeds or fails on its own."""
        cfg, settings, client = self.ready()
        failed: list[BulkPublishFailure] = []
        sent: list[BulkPublishEntry] = []
        pipe = client.pipeline(transaction=False)
        for entry in entries:
            try:
                fields = self._fields(entry.request)
            except PubSubError as exc:
                failed.append(BulkPublishFailure(entry.entry_id, str(exc)))
                continue
            pipe.xadd(entry.request.topic, fields, maxlen=cfg.max_len_approx or None, approximate=True)
            sent.append(entry)
        if not sent:
            return failed
        try:
            with translate(PubSubError, "bulk publish", settings):
                results = await pipe.execute(raise_on_error=False)
        except PubSubError as exc:
            return failed + [BulkPublishFailure(e.entry_id, str(exc)) for e in sent]
        for entry, result in zip(sent, results, strict=True):
            if isinstance(result, Exception):
                failed.append(BulkPublishFailure(entry.entry_id, f"publish to {entry.request.topic!r}: {result}"))
        return failed

    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        source = RedisSource(self, request)
        try:
            await source.ensure_group()
        except PubSubError as exc:
            if not is_connection_error(exc.__cause__ or exc):
                await source.reader.aclose()
                raise
            log.warning("redis pubsub %s/%s: %s; the subscription keeps trying", request.topic,
                        request.consumer_group, exc)
        source.loop = SubscriptionLoop(source, handler, source.settings(request.concurrency),
                                       f"redis pubsub {request.topic}/{source.consumer}")
        self.subscriptions.add(source.loop)
        return source.loop.start()
