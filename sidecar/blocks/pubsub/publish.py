"""Publishing, one side of the pub/sub block: component lookup, scopes, the envelope, errors (spec §3.1).

Routes hand it the raw body and the request metadata; it checks the names,
builds the CloudEvent (or keeps the raw payload), applies the component's
topic scopes and gives the driver a :class:`PublishRequest`. Every failure
leaves as a :class:`DaprError` carrying Dapr's code, status and reason.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from ... import cloudevents
from ...components.base import ComponentMetadata
from ...components.pubsub import (
    BulkPublishEntry,
    BulkPublishFailure,
    PublishRequest,
    PubSub,
    PubSubError,
    PubSubFeature,
)
from ...errors import DaprError
from ...observability import Observability
from ...observability.tracing import PRODUCER
from ...tracecontext import child_traceparent
from .component import PubSubComponent
from .topic_scopes import TopicScopes

__all__ = ["BulkEntry", "Publisher", "broker_topic", "events_error", "is_namespace_scoped", "raw_payload"]

_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def raw_payload(metadata: Mapping[str, str]) -> bool:
    """``rawPayload`` read as Go's ``strconv.ParseBool``; ValueError when it is not a boolean."""
    value = metadata.get("rawPayload")
    if not value:
        return False
    if value not in _GO_BOOLS:
        raise ValueError(f"rawPayload value must be a valid boolean: actual is '{value}'")
    return _GO_BOOLS[value]


def is_namespace_scoped(metadata: ComponentMetadata) -> bool:
    """Dapr scopes a component's topics by namespace when a metadata value mentions ``{namespace}``."""
    return any("{namespace}" in str(v) for v in metadata.properties.values())


def broker_topic(metadata: ComponentMetadata, namespace: str | None, topic: str) -> str:
    """The topic name the broker sees: prefixed with the namespace for namespace-scoped components."""
    return f"{namespace or ''}{topic}" if is_namespace_scoped(metadata) else topic


@dataclass(frozen=True)
class BulkEntry:
    """One entry of a bulk publish, its event already turned into bytes."""

    entry_id: str
    event: bytes
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


class Publisher:
    """Publishes to the block's pub/sub components (held by the block, shared with delivery)."""

    def __init__(self, app_id: str, namespace: str | None, components: Mapping[str, PubSubComponent],
                 observability: Observability | None = None) -> None:
        self._app_id = app_id
        self._namespace = namespace
        self._components = components
        self._observability = observability or Observability(app_id, namespace)

    @property
    def app_id(self) -> str:
        return self._app_id

    def names(self) -> list[str]:
        return list(self._components)

    def check(self, pubsub: str, topic: str, metadata: Mapping[str, str]) -> None:
        """Raise the error a publish to ``pubsub``/``topic`` would meet before its body is read."""
        self._validate(pubsub, topic, metadata)

    def driver(self, name: str) -> PubSub:
        return self._component(name, {}).driver

    def scopes(self, name: str) -> TopicScopes:
        return self._component(name, {}).scopes

    async def publish(self, pubsub: str, topic: str, body: bytes, content_type: str | None,
                      metadata: Mapping[str, str], traceparent: str | None = None,
                      tracestate: str | None = None) -> None:
        """Publish one message; ``traceparent`` is the publish span's (a new trace when None)."""
        component, raw = self._validate(pubsub, topic, metadata)
        request = self._request(component, topic, body, content_type, metadata, raw,
                                traceparent or child_traceparent(None), tracestate or "")
        self._check_scope(component, topic)
        start = perf_counter()
        try:
            await component.driver.publish(request)
        except PubSubError as exc:
            self._count(pubsub, topic, False, start)
            raise _publish_error(pubsub, topic, exc) from exc
        self._count(pubsub, topic, True, start)

    def _count(self, pubsub: str, topic: str, success: bool, start: float, messages: int = 1) -> None:
        """``dapr_component_pubsub_egress_*``: one count per message, one latency per call to the broker."""
        metrics = self._observability.metrics
        labels = (pubsub, metrics.namespace, "true" if success else "false", topic)
        metrics.pubsub_egress_count.inc(*labels, amount=messages)
        metrics.pubsub_egress_latencies.observe((perf_counter() - start) * 1000.0, *labels)

    async def bulk_publish(self, pubsub: str, topic: str, entries: Sequence[BulkEntry],
                           metadata: Mapping[str, str], *, traceparent: str | None = None,
                           tracestate: str | None = None) -> list[BulkPublishFailure]:
        """Publish many; returns the entries the broker refused (empty on full success).

        Each entry gets its own envelope under a child span of ``traceparent``
        (a recorded one when tracing records); its metadata is the request's,
        overridden by the entry's own.
        """
        component, raw = self._validate(pubsub, topic, metadata)
        seen: set[str] = set()
        for entry in entries:
            if not entry.entry_id or entry.entry_id in seen:
                problem = "entryId is duplicated or not present for entry"
                raise events_error("MARSHAL_EVENTS", f"error marshaling events to bytes for topic {topic} "
                                   f"pubsub {pubsub}. error: {problem}", {"appID": self._app_id, "error": problem})
            seen.add(entry.entry_id)
        tracing = self._observability.tracing
        requests = []
        spans = []
        try:
            for entry in entries:
                entry_metadata = {**metadata, **entry.metadata}
                span = tracing.start(f"bulkpublish/{topic}", PRODUCER, parent=traceparent, state=tracestate,
                                     attributes={"messaging.system": "pubsub", "messaging.destination.name": topic,
                                                 "dapr.entry_id": entry.entry_id})
                spans.append(span)
                request = self._request(component, topic, entry.event, entry.content_type, entry_metadata, raw,
                                        span.traceparent, span.tracestate or "")
                requests.append(BulkPublishEntry(entry.entry_id, request))
            self._check_scope(component, topic)
        except DaprError as exc:
            for span in spans:
                span.end(error=exc.message)
            raise
        if not requests:
            return []
        start = perf_counter()
        try:
            failed = list(await component.driver.bulk_publish(requests))
        except PubSubError as exc:
            failed = [BulkPublishFailure(r.entry_id, str(exc)) for r in requests]
        errors = {f.entry_id: f.error for f in failed}
        for entry, span in zip(entries, spans, strict=True):
            span.end(error=errors.get(entry.entry_id))
        if len(failed) < len(requests):
            self._count(pubsub, topic, True, start, len(requests) - len(failed))
        if failed:
            self._count(pubsub, topic, False, start, len(failed))
        return failed

    def _component(self, name: str, metadata: Mapping[str, str]) -> PubSubComponent:
        if not name:
            raise DaprError(404, "ERR_PUBSUB_EMPTY", "pubsub name is empty",
                            reason="DAPR_PUBSUB_NAME_EMPTY", metadata=dict(metadata))
        found = self._components.get(name)
        if found is None:
            raise DaprError(404, "ERR_PUBSUB_NOT_FOUND", f"pubsub {name} is not found",
                            reason="DAPR_PUBSUB_NOT_FOUND", metadata=dict(metadata))
        return found

    def _validate(self, pubsub: str, topic: str, metadata: Mapping[str, str]) -> tuple[PubSubComponent, bool]:
        """Dapr's order: pubsub name, component, topic, then the ``rawPayload`` flag."""
        component = self._component(pubsub, metadata)
        if not topic:
            raise DaprError(404, "ERR_TOPIC_NAME_EMPTY", f"topic is empty in pubsub {pubsub}",
                            reason="DAPR_PUBSUB_TOPIC_NAME_EMPTY", metadata=dict(metadata))
        try:
            return component, raw_payload(metadata)
        except ValueError as exc:
            raise DaprError(400, "ERR_PUBSUB_REQUEST_METADATA", f"failed deserializing metadata. Error: {exc}",
                            reason="DAPR_PUBSUB_METADATA_DESERIALIZATION", metadata=dict(metadata)) from None

    def _request(self, component: PubSubComponent, topic: str, body: bytes, content_type: str | None,
                 metadata: Mapping[str, str], raw: bool, traceparent: str, tracestate: str) -> PublishRequest:
        target = broker_topic(component.metadata, self._namespace, topic)
        if raw:
            return PublishRequest(target, body, dict(metadata), content_type)
        event = self._envelope(component, topic, body, content_type, metadata, traceparent, tracestate)
        return PublishRequest(target, cloudevents.encode(event), dict(metadata), cloudevents.CLOUDEVENT_CONTENT_TYPE)

    def _envelope(self, component: PubSubComponent, topic: str, body: bytes, content_type: str | None,
                  metadata: Mapping[str, str], traceparent: str, tracestate: str) -> dict[str, Any]:
        try:
            event = cloudevents.build_envelope(
                body, content_type, topic=topic, pubsub=component.name, source=self._app_id,
                traceparent=traceparent, tracestate=tracestate, metadata=metadata)
        except cloudevents.InvalidCloudEvent as exc:
            raise DaprError(500, "ERR_PUBSUB_CLOUD_EVENTS_SER", "cannot create cloudevent",
                            reason="DAPR_PUBSUB_CLOUD_EVENT_CREATION",
                            metadata={"appID": self._app_id, "error": str(exc)}) from None
        ttl = cloudevents.ttl_seconds(metadata)
        if ttl is not None and PubSubFeature.MESSAGE_TTL.value not in component.features:
            cloudevents.set_expiration(event, ttl)
        return event

    def _check_scope(self, component: PubSubComponent, topic: str) -> None:
        if not component.scopes.can_publish(self._app_id, topic):
            message = f"topic {topic} is not allowed for app id {self._app_id}"
            raise DaprError(403, "ERR_PUBSUB_FORBIDDEN", message, reason="DAPR_PUBSUB_FORBIDDEN",
                            metadata={"topic": topic, "error": message})


def _publish_error(pubsub: str, topic: str, exc: Exception) -> DaprError:
    return DaprError(500, "ERR_PUBSUB_PUBLISH_MESSAGE",
                     f"error when publishing to topic {topic} in pubsub {pubsub}: {exc}",
                     reason="DAPR_PUBSUB_PUBLISH_MESSAGE", metadata={"topic": topic, "error": str(exc)})


def events_error(reason: str, message: str, metadata: Mapping[str, str]) -> DaprError:
    """Dapr's 400 for a bulk publish whose events cannot be read (``MARSHAL_EVENTS``, ``UNMARSHAL_EVENTS`` …)."""
    return DaprError(400, "ERR_PUBSUB_EVENTS_SER", message, reason=f"DAPR_PUBSUB_{reason}", metadata=dict(metadata))
