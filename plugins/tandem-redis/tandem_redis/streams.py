"""What the Redis Streams pub/sub shares: its metadata and the entry codec."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.pubsub import Message
from tandem.sidecar.components.wire import compact_json, string_map

from .connection import RedisSettings

__all__ = [
    "CLOSE_TIMEOUT", "DEAD_CONSUMER_MS", "JANITOR_EVERY", "MAX_BACKOFF", "MIN_BACKOFF", "StreamsConfig",
    "decode_metadata", "encode_metadata", "parse_config", "text", "to_message",
]

MIN_BACKOFF = 0.05  # reconnect back-off of the loops …
MAX_BACKOFF = 2.0  # … doubled up to this
JANITOR_EVERY = 300.0  # seconds between sweeps for consumers of dead subscribers
DEAD_CONSUMER_MS = 3_600_000  # idle time after which such a consumer with nothing pending is removed
CLOSE_TIMEOUT = 2.0  # bound on the clean-up calls of close()


@dataclass(frozen=True)
class StreamsConfig:
    """The ``pubsub.redis`` fields beyond the connection, validated once at ``init``."""

    queue_depth: int
    processing_timeout: float  # 0 disables redelivery
    redeliver_interval: float  # 0 disables redelivery
    max_len_approx: int
    block_ms: int
    backoff: float  # < 0: no local retry after a handler failure
    max_backoff: float

    @property
    def redelivery(self) -> bool:
        return self.processing_timeout > 0 and self.redeliver_interval > 0

    def retry_delay(self, redeliveries: int) -> float:
        return min(self.backoff * 2.0 ** min(redeliveries, 30), self.max_backoff)


def _positive_int(md: ComponentMetadata, key: str, default: int, *, zero: bool = False) -> int:
    value = md.get_int(key, default)
    if value < 0 or (value == 0 and not zero):
        raise MetadataError(f"metadata field {key!r}: must be {'0 or more' if zero else 'positive'}")
    return value


def parse_config(md: ComponentMetadata, settings: RedisSettings) -> StreamsConfig:
    _positive_int(md, "concurrency", 10)  # the runtime passes it in each SubscribeRequest
    processing = md.get_duration("processingTimeout", 60.0)
    redeliver = md.get_duration("redeliverInterval", 15.0)
    if processing < 0 or redeliver < 0:
        raise MetadataError("metadata fields 'processingTimeout' and 'redeliverInterval' must not be negative")
    return StreamsConfig(
        queue_depth=_positive_int(md, "queueDepth", 100),
        processing_timeout=processing,
        redeliver_interval=redeliver,
        max_len_approx=_positive_int(md, "maxLenApprox", 0, zero=True),
        block_ms=max(1, int(settings.read_timeout * 1000)),
        backoff=md.get_duration("redeliverBackoff", 0.05),
        max_backoff=max(md.get_duration("maxRedeliveryBackoff", 5.0), 0.0),
    )


def text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """The ``metadata`` field as Go's ``json.Marshal`` writes a map: compact, keys sorted."""
    return compact_json({str(k): str(v) for k, v in metadata.items()}, sort_keys=True).decode()


def decode_metadata(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    try:
        parsed = json.loads(raw if isinstance(raw, (bytes, str)) else str(raw))
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    return string_map(parsed) or {}


def to_message(topic: str, entry_id: object, fields: Mapping[bytes, bytes], redeliveries: int) -> Message:
    metadata = decode_metadata(fields.get(b"metadata"))
    data = fields.get(b"data", b"")
    return Message(topic=topic, data=bytes(data), metadata=metadata, content_type=metadata.get("contentType"),
                   id=text(entry_id), redeliveries=redeliveries)
