"""The CloudEvents 1.0 envelope, built and read exactly as Dapr does (spec §3.1, §3.3).

Publishing wraps the app's body in an envelope (or completes the app's own
CloudEvent); delivery reads the envelope back, or synthesises one for
``rawPayload`` subscriptions. Events are plain ``dict``s here because they are
JSON documents whose extra attributes must survive untouched.
"""
from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from . import strictjson
from .components.wire import compact_json
from .components.wire import field as wire_field

__all__ = [
    "CLOUDEVENT_CONTENT_TYPE", "DEFAULT_SOURCE", "DEFAULT_TYPE", "SPEC_VERSION", "InvalidCloudEvent",
    "build_envelope", "encode", "from_cloudevent", "is_binary_content_type", "is_cloudevent_content_type",
    "is_expired", "is_json_content_type", "is_string_content_type", "new_envelope", "parse_delivered",
    "raw_payload_event", "rfc3339", "set_expiration", "ttl_seconds",
]

SPEC_VERSION = "1.0"
DEFAULT_TYPE = "com.dapr.event.sent"
DEFAULT_SOURCE = "Dapr"
DEFAULT_DATA_CONTENT_TYPE = "text/plain"
CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"
_JSON = "application/json"
_BINARY = "application/octet-stream"
_TRACE_FIELDS = ("traceid", "traceparent", "tracestate")
#: Publish metadata that overrides the envelope Dapr builds (matched case-insensitively, as mapstructure does).
_OVERRIDES = ("id", "source", "type", "traceid", "traceparent", "tracestate")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_GO_INT = re.compile(r"^[+-]?\d+$")


class InvalidCloudEvent(ValueError):
    """A body or message that is not a JSON CloudEvent object."""


def _media_type_is(content_type: str | None, expected: str) -> bool:
    """Dapr's ``isContentType``: case-insensitive, parameters after ``;`` ignored."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == expected


def is_json_content_type(content_type: str | None) -> bool:
    return _media_type_is(content_type, _JSON)


def is_cloudevent_content_type(content_type: str | None) -> bool:
    return _media_type_is(content_type, CLOUDEVENT_CONTENT_TYPE)


def is_binary_content_type(content_type: str | None) -> bool:
    return _media_type_is(content_type, _BINARY)


def is_string_content_type(content_type: str | None) -> bool:
    """``text/*`` and ``application/xml``: events a bulk publish must give as strings."""
    return bool(content_type) and (
        str(content_type).lower().startswith("text/") or _media_type_is(content_type, "application/xml"))


def _loads(data: bytes) -> Any:
    # Go's decoder knows no NaN/Infinity; nor can a lone surrogate be re-encoded: not JSON here.
    return strictjson.loads(data)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339``: second precision, ``Z`` for UTC, else the numeric offset."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _now_local(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone()


def new_envelope(data: bytes, content_type: str | None, *, topic: str, pubsub: str, source: str,
                 traceparent: str, tracestate: str = "", id: str = "", type: str = "",
                 now: datetime | None = None) -> dict[str, Any]:
    """Dapr's ``NewCloudEventsEnvelope``: wrap a body that is not itself a CloudEvent."""
    content_type = content_type or DEFAULT_DATA_CONTENT_TYPE
    event: dict[str, Any] = {
        "id": id or str(uuid.uuid4()),
        "specversion": SPEC_VERSION,
        "datacontenttype": content_type,
        "source": source or DEFAULT_SOURCE,
        "type": type or DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "traceid": traceparent,
        "traceparent": traceparent,
        "tracestate": tracestate,
        "time": rfc3339(_now_local(now)),
    }
    if is_binary_content_type(content_type):
        event["data_base64"] = base64.b64encode(data).decode("ascii")
    elif is_json_content_type(content_type):
        try:
            event["data"] = _loads(data)
        except (ValueError, UnicodeDecodeError):
            event["data"] = _text(data)
    else:
        event["data"] = _text(data)
    return event


def from_cloudevent(body: bytes, *, topic: str, pubsub: str, traceparent: str, tracestate: str = "",
                    now: datetime | None = None) -> dict[str, Any]:
    """Complete the app's own CloudEvent: topic and pubsub name set, missing attributes filled in.

    Raises :class:`InvalidCloudEvent` when the body is not a JSON object.
    """
    try:
        event = _loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCloudEvent(f"the body is not a JSON CloudEvent: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidCloudEvent("the body is not a JSON object")
    event["topic"] = topic
    event["pubsubname"] = pubsub
    if "time" not in event:
        event["time"] = rfc3339(_now_local(now))
    if "traceid" not in event and "traceparent" not in event:
        event["traceid"] = event["traceparent"] = traceparent
    else:
        event.setdefault("traceparent", event.get("traceid"))
        event.setdefault("traceid", event.get("traceparent"))
    event.setdefault("tracestate", tracestate)
    # Go's ``m[k] == nil``: absent and null both get the default.
    for name, default in (("source", DEFAULT_SOURCE), ("type", DEFAULT_TYPE), ("specversion", SPEC_VERSION)):
        if event.get(name) is None:
            event[name] = default
    return event


def _override(metadata: Mapping[str, str], name: str) -> str | None:
    return wire_field(metadata, f"cloudevent.{name}")


def build_envelope(body: bytes, content_type: str | None, *, topic: str, pubsub: str, source: str,
                   traceparent: str, tracestate: str = "", metadata: Mapping[str, str] | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """The event Dapr publishes for ``body`` (Dapr's ``NewCloudEvent``).

    An ``application/cloudevents+json`` body is completed as it is; any other
    body is wrapped, with ``cloudevent.*`` metadata overriding id, source,
    type and the trace fields (an override of ``traceparent`` wins over
    ``traceid``; both fields always carry the same value).
    """
    if is_cloudevent_content_type(content_type):
        return from_cloudevent(body, topic=topic, pubsub=pubsub, traceparent=traceparent,
                               tracestate=tracestate, now=now)
    fields = {"id": "", "source": source, "type": "", "traceid": traceparent, "traceparent": "",
              "tracestate": tracestate}
    for name in _OVERRIDES:
        value = _override(metadata or {}, name)
        if value is not None:
            fields[name] = value
    trace = fields["traceparent"] or fields["traceid"]
    return new_envelope(body, content_type, topic=topic, pubsub=pubsub, source=fields["source"],
                        traceparent=trace, tracestate=fields["tracestate"], id=fields["id"],
                        type=fields["type"], now=now)


def ttl_seconds(metadata: Mapping[str, str]) -> int | None:
    """``ttlInSeconds`` as Dapr's ``TryGetTTL`` reads it; None when absent or not a positive integer."""
    raw = metadata.get("ttlInSeconds")
    if not raw or not _GO_INT.match(raw):
        return None
    value = int(raw)
    return value if value > 0 else None


def set_expiration(event: dict[str, Any], ttl: int, now: datetime | None = None) -> None:
    """Add ``expiration`` (RFC 3339, UTC) ``ttl`` seconds from now."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    try:
        expires = moment + timedelta(seconds=ttl)
    except OverflowError:
        expires = datetime.max.replace(tzinfo=timezone.utc)
    event["expiration"] = rfc3339(expires)


def encode(event: Mapping[str, Any]) -> bytes:
    """The JSON bytes handed to the broker."""
    return compact_json(event)


def _meta(metadata: Mapping[str, str], name: str) -> str | None:
    return wire_field(metadata, name)


def _trace_from_metadata(event: dict[str, Any], metadata: Mapping[str, str], *, only_missing: bool) -> None:
    """Dapr's fallback: trace context carried as message metadata (``traceparent`` supersedes ``traceid``)."""
    for name in _TRACE_FIELDS:
        value = _meta(metadata, name)
        if value is None or (only_missing and name in event):
            continue
        event[name] = value
        if name == "traceparent":
            event["traceid"] = value


def parse_delivered(data: bytes, metadata: Mapping[str, str], content_type: str | None = None) -> dict[str, Any]:
    """The CloudEvent of a delivered message, for a subscription without ``rawPayload``.

    Every such message is read as a JSON CloudEvent whatever its content type,
    as Dapr does; trace attributes it lacks are taken from the message
    metadata. Raises :class:`InvalidCloudEvent` (a ``ValueError``) when the
    message is not a JSON object.
    """
    try:
        event = _loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCloudEvent(f"the message is not a JSON CloudEvent: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidCloudEvent("the message is not a JSON object")
    _trace_from_metadata(event, metadata, only_missing=True)
    return event


def raw_payload_event(data: bytes, metadata: Mapping[str, str], pubsub: str, topic: str) -> dict[str, Any]:
    """The CloudEvent a ``rawPayload`` subscription receives (spec §3.3).

    A new random id on every delivery, the bytes in ``data_base64`` (the real
    content type is unknown), trace fields from the message metadata if any.
    """
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "specversion": SPEC_VERSION,
        "datacontenttype": _BINARY,
        "source": DEFAULT_SOURCE,
        "type": DEFAULT_TYPE,
        "topic": topic,
        "pubsubname": pubsub,
        "data_base64": base64.b64encode(data).decode("ascii"),
    }
    _trace_from_metadata(event, metadata, only_missing=False)
    return event


def _parse_rfc3339(text: str) -> datetime | None:
    if not _RFC3339.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def is_expired(event: Mapping[str, Any], now: float | datetime) -> bool:
    """True when the event's ``expiration`` lies before ``now`` (epoch seconds or an aware datetime).

    A missing or unreadable ``expiration`` never expires, as in Dapr.
    """
    value = event.get("expiration")
    if not isinstance(value, str) or not value:
        return False
    expires = _parse_rfc3339(value)
    if expires is None:
        return False
    if isinstance(now, datetime):
        moment = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    else:
        moment = datetime.fromtimestamp(now, timezone.utc)
    return expires < moment
