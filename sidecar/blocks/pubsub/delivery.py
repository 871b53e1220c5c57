"""Delivery, the other side of the pub/sub block: subscribed messages to the app, its answer acted on (spec §3.3).

One driver subscription per :class:`SubscriptionSpec`. For each message: the
CloudEvent is read (or synthesised for ``rawPayload``), expired ones are not
delivered, the CEL rules pick a path, and the app's answer decides:

====================================  ==========================================
2xx, empty / SUCCESS / no status      acknowledged
2xx with RETRY (or an unknown status) redelivered (the driver backs off)
2xx with DROP                         to the dead-letter topic if any, then acknowledged
404                                   dropped (logged, never dead-lettered)
anything else, or no answer           redelivered
====================================  ==========================================

Each delivery is a ``pubsub/<topic>`` span under the publisher's (the event's
``traceparent``), and counts in ``dapr_component_pubsub_ingress_count`` with its
outcome: ``success``, ``retry`` or ``drop``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp

from ... import cloudevents
from ...channel import AppChannel
from ...components.pubsub import Message, PublishRequest, SubscribeRequest, Subscription
from ...observability import Observability
from ...observability.tracing import CONSUMER
from .component import PubSubComponent
from .publish import broker_topic
from .routing import select_path
from .subscriptions import SubscriptionSpec

__all__ = ["DeliveryFailed", "SubscriptionManager"]

log = logging.getLogger("tandem.sidecar.pubsub")

_DEFAULT_CONCURRENCY = 10
_SKIPPED_HEADERS = frozenset({"content-length", "content-type", "host", "transfer-encoding", "connection"})


class DeliveryFailed(Exception):
    """Raised into the driver so that it delivers the message again."""


class SubscriptionManager:
    """Every subscription of one sidecar: started once the app is reachable, closed at shutdown."""

    def __init__(self, app_id: str, channel: AppChannel, components: Mapping[str, PubSubComponent],
                 observability: Observability | None = None) -> None:
        self.app_id = app_id
        self.channel = channel
        self.components = components
        self.observability = observability or Observability(app_id)
        self.active: list[SubscriptionSpec] = []
        self._running: list[Subscription] = []

    async def start(self, specs: list[SubscriptionSpec]) -> None:
        """Subscribe to everything, then list it in ``active`` at once: the metadata API shows the
        subscriptions only when all of them receive (a publisher waiting for them loses nothing)."""
        seen: set[tuple[str, str]] = set()
        started: list[SubscriptionSpec] = []
        for spec in specs:
            component = self.components.get(spec.pubsub)
            if component is None:
                log.error("subscription to %s/%s: no pub/sub component named %r", spec.pubsub, spec.topic, spec.pubsub)
                continue
            if not component.scopes.can_subscribe(self.app_id, spec.topic):
                log.error("subscription to %s/%s: not allowed for app %r by the component's scopes",
                          spec.pubsub, spec.topic, self.app_id)
                continue
            if (spec.pubsub, spec.topic) in seen:
                log.warning("subscription to %s/%s given twice; the first one is used", spec.pubsub, spec.topic)
                continue
            seen.add((spec.pubsub, spec.topic))
            concurrency = int(spec.metadata.get("concurrency") or component.metadata.get("concurrency")
                              or _DEFAULT_CONCURRENCY)
            delivery = _Delivery(self, spec, component)
            handler = delivery.handle
            if spec.bulk is not None:
                handler = _Batcher(delivery, spec.bulk.max_messages, spec.bulk.max_await_ms / 1000).handle
                concurrency = max(concurrency, spec.bulk.max_messages)  # so that a batch can fill
            topic = broker_topic(component.metadata, component.metadata.namespace, spec.topic)
            request = SubscribeRequest(topic, component.consumer_group, dict(spec.metadata), max(1, concurrency))
            self._running.append(await component.driver.subscribe(request, handler))
            started.append(spec)
            log.info("subscribed to %s/%s (group %s) → %s", spec.pubsub, spec.topic, component.consumer_group,
                     ", ".join(r.path for r in spec.rules))
        self.active = self.active + started

    async def close(self) -> None:
        running, self._running = self._running, []
        await asyncio.gather(*(s.close() for s in running), return_exceptions=True)


class _Delivery:
    """The handler of one subscription."""

    def __init__(self, manager: SubscriptionManager, spec: SubscriptionSpec, component: PubSubComponent) -> None:
        self.manager = manager
        self.spec = spec
        self.component = component

    async def prepare(self, message: Message) -> tuple[dict[str, Any], str] | None:
        """The event and its path; ``None`` when it must not be delivered (handled here)."""
        spec = self.spec
        event = self._event(message)
        if event is None or cloudevents.is_expired(event, time.time()):
            reason = "is not a CloudEvent" if event is None else "has expired"
            log.warning("%s/%s: message %s %s; not delivered", spec.pubsub, spec.topic, message.id, reason)
            await self._dead_letter(message)
            return None
        path = select_path(spec.rules, event)
        if path is None:
            log.info("%s/%s: no rule matched message %s; dropped", spec.pubsub, spec.topic, message.id)
            await self._dead_letter(message)
            return None
        return event, path

    def _count(self, outcome: str, start: float) -> None:
        """``dapr_component_pubsub_ingress_*`` for one message: ``success``, ``retry`` or ``drop``."""
        metrics = self.manager.observability.metrics
        labels = (self.spec.pubsub, metrics.namespace, outcome, self.spec.topic)
        metrics.pubsub_ingress_count.inc(*labels)
        metrics.pubsub_ingress_latencies.observe((time.perf_counter() - start) * 1000.0, *labels)

    async def handle(self, message: Message) -> None:
        spec = self.spec
        start = time.perf_counter()
        prepared = await self.prepare(message)
        if prepared is None:
            return
        event, path = prepared
        headers = {k: v for k, v in message.metadata.items() if k.lower() not in _SKIPPED_HEADERS}
        headers["content-type"] = "application/cloudevents+json"
        headers["pubsubname"] = spec.pubsub
        parent = event.get("traceparent") or event.get("traceid")
        span = self.manager.observability.tracing.start(
            f"pubsub/{spec.topic}", CONSUMER, parent=str(parent) if parent else None,
            state=str(event.get("tracestate") or "") or None,
            attributes={"messaging.system": "pubsub", "messaging.destination.name": spec.topic,
                        "messaging.destination_kind": "topic", "dapr.pubsub": spec.pubsub})
        headers.pop("tracestate", None)
        headers.update(span.headers())
        try:
            reply = await self.manager.channel.call("POST", path, headers=headers,
                                                    body=json.dumps(event).encode())
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            self._count("retry", start)
            span.end(error=f"the app did not answer: {exc!r}")
            raise DeliveryFailed(f"the app did not answer: {exc!r}") from None
        span.end(reply.status)
        if reply.status == 404:
            self._count("drop", start)
            log.error("%s/%s: the app answered 404 on %s; message %s dropped", spec.pubsub, spec.topic, path,
                      message.id)
            return
        if not 200 <= reply.status < 300:
            self._count("retry", start)
            raise DeliveryFailed(f"the app answered {reply.status}")
        await self.settle(message, _status(reply.body), start)

    async def settle(self, message: Message, status: str, start: float) -> None:
        """Act on the app's status for one message: return to acknowledge, raise to redeliver."""
        if status in ("", "SUCCESS"):
            self._count("success", start)
            return
        if status == "DROP":
            self._count("drop", start)
            log.warning("%s/%s: the app dropped message %s", self.spec.pubsub, self.spec.topic, message.id)
            await self._dead_letter(message)
            return
        self._count("retry", start)
        raise DeliveryFailed(f"the app answered status {status}")

    def _event(self, message: Message) -> dict[str, Any] | None:
        if self.spec.raw_payload:
            return cloudevents.raw_payload_event(message.data, message.metadata, self.spec.pubsub, self.spec.topic)
        try:
            return cloudevents.parse_delivered(message.data, message.metadata, message.content_type)
        except ValueError:
            return None

    async def _dead_letter(self, message: Message) -> None:
        topic = self.spec.dead_letter_topic
        if not topic:
            return
        topic = broker_topic(self.component.metadata, self.component.metadata.namespace, topic)
        await self.component.driver.publish(PublishRequest(topic, message.data, dict(message.metadata),
                                                           message.content_type))


def _status(body: bytes) -> str:
    """The ``status`` of a 2xx answer; a body that is not a JSON object counts as success."""
    try:
        parsed = json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(parsed, dict):
        return ""
    return str(parsed.get("status") or "").upper()


class _Batcher:
    """Bulk subscribe: messages for one path are gathered and sent as one bulk event (spec §3.3).

    Each message's handler call waits for its batch; a batch goes when it holds
    ``max_messages`` or its first message has waited ``max_wait`` seconds.
    """

    def __init__(self, delivery: _Delivery, max_messages: int, max_wait: float) -> None:
        self.delivery = delivery
        self.max_messages = max(1, max_messages)
        self.max_wait = max_wait
        self._pending: dict[str, list[tuple[Message, dict[str, Any], asyncio.Future[str]]]] = {}

    async def handle(self, message: Message) -> None:
        start = time.perf_counter()
        prepared = await self.delivery.prepare(message)
        if prepared is None:
            return
        event, path = prepared
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        batch = self._pending.setdefault(path, [])
        batch.append((message, event, outcome))
        if len(batch) >= self.max_messages:
            self._flush(path)
        elif len(batch) == 1:
            asyncio.get_running_loop().call_later(self.max_wait, self._flush, path, batch)
        await self.delivery.settle(message, await outcome, start)

    def _flush(self, path: str, expected: list[Any] | None = None) -> None:
        batch = self._pending.get(path)
        if not batch or (expected is not None and batch is not expected):
            return
        del self._pending[path]
        asyncio.ensure_future(self._send(path, batch))

    async def _send(self, path: str, batch: list[tuple[Message, dict[str, Any], asyncio.Future[str]]]) -> None:
        spec = self.delivery.spec
        ids = [message.id or str(i) for i, (message, _, _) in enumerate(batch)]
        entries = [{"entryId": entry_id, "event": event, "metadata": dict(message.metadata),
                    "contentType": "application/cloudevents+json"}
                   for entry_id, (message, event, _) in zip(ids, batch, strict=True)]
        body = {"id": str(uuid.uuid4()), "type": "com.dapr.event.sent.bulk", "topic": spec.topic,
                "pubsubname": spec.pubsub, "metadata": dict(spec.metadata), "entries": entries}
        statuses: dict[str, str] = {}
        try:
            reply = await self.delivery.manager.channel.call(
                "POST", path, headers={"content-type": "application/json", "pubsubname": spec.pubsub},
                body=json.dumps(body).encode())
            if reply.status == 404:
                statuses = dict.fromkeys(ids, "DROP-404")
            elif 200 <= reply.status < 300:
                answer = json.loads(reply.body or b"{}")
                for item in answer.get("statuses") or []:
                    statuses[str(item.get("entryId"))] = str(item.get("status") or "").upper()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError, AttributeError) as exc:
            log.warning("%s/%s: bulk delivery failed: %r", spec.pubsub, spec.topic, exc)
        for entry_id, (_, _, outcome) in zip(ids, batch, strict=True):
            status = statuses.get(entry_id, "RETRY")  # a missing entry is retried
            outcome.set_result("SUCCESS" if status == "DROP-404" else status)
