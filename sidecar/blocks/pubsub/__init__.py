"""The pub/sub building block: publishing and delivery over components it holds once."""
from __future__ import annotations

from .block import PubSubBlock
from .component import PubSubComponent
from .delivery import DeliveryFailed, SubscriptionManager
from .publish import BulkEntry, Publisher, broker_topic, events_error, is_namespace_scoped, raw_payload

__all__ = [
    "BulkEntry",
    "DeliveryFailed",
    "PubSubBlock",
    "PubSubComponent",
    "Publisher",
    "SubscriptionManager",
    "broker_topic",
    "events_error",
    "is_namespace_scoped",
    "raw_payload",
]
