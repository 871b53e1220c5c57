"""The pub/sub contract: what ``pubsub.*`` drivers implement.

The runtime builds the CloudEvent envelope before ``publish`` and interprets the
app's answer after delivery; a driver only moves bytes and metadata between
publishers and consumer groups, at least once:

* every consumer group (``SubscribeRequest.consumer_group``; the runtime sets
  the app id unless the component's ``consumerID`` says otherwise) receives
  each message published to a topic after the group first subscribed — or
  earlier, if the broker keeps history — and the sidecars subscribed with one
  group share that group's messages (each message to one of them);
* a message is acknowledged when the handler returns, and delivered again —
  to any subscriber of the group — when the handler raises, when the sidecar
  dies before it returned, or when it did not return within the driver's
  processing timeout. Nothing acknowledged by ``publish`` is ever lost.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .base import Component, DriverError

__all__ = [
    "BulkPublishEntry", "BulkPublishFailure", "Message", "MessageHandler", "PubSub", "PubSubError",
    "PubSubFeature", "PublishRequest", "SubscribeRequest", "Subscription",
]


class PubSubFeature(str, enum.Enum):
    """Capabilities a pub/sub driver may declare (Dapr's names)."""

    #: The broker drops expired messages itself (else the runtime checks ``expiration``).
    MESSAGE_TTL = "MESSAGE_TTL"
    SUBSCRIBE_WILDCARDS = "SUBSCRIBE_WILDCARDS"
    BULK_PUBLISH = "BULK_PUBLISH"
    BULK_SUBSCRIBE = "BULK_SUBSCRIBE"


class PubSubError(DriverError):
    """A broker failure (publish not accepted, connection lost …)."""


@dataclass(frozen=True)
class PublishRequest:
    topic: str
    #: The bytes to deliver: a CloudEvent JSON document, or the raw payload.
    data: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None


@dataclass(frozen=True)
class BulkPublishEntry:
    entry_id: str
    request: PublishRequest


@dataclass(frozen=True)
class BulkPublishFailure:
    entry_id: str
    error: str


@dataclass(frozen=True)
class Message:
    """One delivery of a published message."""

    topic: str
    data: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    #: The broker's id for the message (stable across redeliveries).
    id: str = ""
    #: How many times it was delivered before this one.
    redeliveries: int = 0


#: Returns normally to acknowledge; raises to have the message delivered again.
MessageHandler = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class SubscribeRequest:
    topic: str
    consumer_group: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Deliveries in flight at once for this subscription (the runtime's concurrency limit).
    concurrency: int = 10


class Subscription(abc.ABC):
    """A running subscription; ``close`` stops deliveries (in-flight ones finish unacknowledged)."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class PubSub(Component):
    kind = "pubsub"

    @abc.abstractmethod
    async def publish(self, request: PublishRequest) -> None:
        """Store the message durably (as the broker allows) before returning; raise PubSubError if not."""

    async def bulk_publish(self, entries: Sequence[BulkPublishEntry]) -> list[BulkPublishFailure]:
        """Publish many; returns the entries that failed. The default publishes one by one."""
        failed: list[BulkPublishFailure] = []
        for entry in entries:
            try:
                await self.publish(entry.request)
            except PubSubError as exc:
                failed.append(BulkPublishFailure(entry.entry_id, str(exc)))
        return failed

    @abc.abstractmethod
    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        """Start delivering ``request.topic`` to ``handler`` for the consumer group; return at once."""
