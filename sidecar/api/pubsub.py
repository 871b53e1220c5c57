"""``/v1.0/publish/{pubsub}/{topic}`` and bulk publish (spec §3.1).

The body is the payload and ``Content-Type`` its encoding; ``metadata.*``
query parameters are the publish metadata. Topics may contain ``/``.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import strictjson
from ..blocks.pubsub import BulkEntry, Publisher, events_error
from ..cloudevents import (
    is_binary_content_type,
    is_cloudevent_content_type,
    is_json_content_type,
    is_string_content_type,
)
from ..components.wire import compact_json
from ..components.wire import field as _field
from ..errors import DaprError
from ..tracecontext import SCOPE_KEY, for_next_hop, incoming
from .responses import json_response, no_content, query_metadata

__all__ = ["routes"]

_METHODS = ["POST", "PUT"]


def routes(block: Publisher) -> list[Route]:
    async def publish(request: Request) -> Response:
        pubsub, topic = _names(request)
        metadata = query_metadata(request)
        block.check(pubsub, topic, metadata)
        traceparent, tracestate = for_next_hop(request.scope)
        await block.publish(pubsub, topic, await request.body(), request.headers.get("content-type"), metadata,
                            traceparent, tracestate)
        return no_content()

    async def bulk_publish(request: Request) -> Response:
        pubsub, topic = _names(request)
        metadata = query_metadata(request)
        block.check(pubsub, topic, metadata)
        entries = _bulk_entries(await request.body(), pubsub, topic, block.app_id)
        # The entries' spans are children of the call's span (or of the caller's, tracing off).
        parent = request.scope.get(SCOPE_KEY) or incoming(request.scope)
        failed = await block.bulk_publish(pubsub, topic, entries, metadata, traceparent=parent[0],
                                          tracestate=parent[1])
        if not failed:
            return no_content()
        return json_response({
            "failedEntries": [{"entryId": f.entry_id, "error": f.error} for f in failed],
            "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE",
        }, status=500)

    routes = []
    for prefix in ("/v1.0-alpha1/publish/bulk", "/v1.0/publish/bulk"):
        routes += [Route(f"{prefix}/{{pubsub}}/{{topic:path}}", bulk_publish, methods=_METHODS),
                   Route(f"{prefix}/{{pubsub}}", bulk_publish, methods=_METHODS),
                   Route(prefix, bulk_publish, methods=_METHODS)]
    return routes + [
        Route("/v1.0/publish/{pubsub}/{topic:path}", publish, methods=_METHODS),
        # Without a topic, or without both names: Dapr's 404s for empty names, not a missing route.
        Route("/v1.0/publish/{pubsub}", publish, methods=_METHODS),
        Route("/v1.0/publish", publish, methods=_METHODS),
    ]


def _names(request: Request) -> tuple[str, str]:
    return request.path_params.get("pubsub", ""), request.path_params.get("topic", "")


def _bulk_entries(body: bytes, pubsub: str, topic: str, app_id: str) -> list[BulkEntry]:
    """The request body ``[{entryId, event, contentType, metadata}]`` as typed entries."""
    def unreadable(problem: str) -> DaprError:
        return events_error("UNMARSHAL_EVENTS",
                            f"error when unmarshaling the request for topic {topic} pubsub {pubsub}: {problem}",
                            {"appID": app_id})

    try:
        parsed = strictjson.loads(body) if body.strip() else None
    except strictjson.InvalidJson as exc:
        raise unreadable(str(exc)) from None
    if parsed is None:
        return []
    if not isinstance(parsed, list):
        raise unreadable("expected a JSON array of entries")
    entries = []
    for index, item in enumerate(parsed):
        if not isinstance(item, dict):
            raise unreadable(f"entry {index} is not an object")
        entry_id = _field(item, "entryId")
        content_type = _field(item, "contentType")
        metadata = _field(item, "metadata")
        if entry_id is not None and not isinstance(entry_id, str):
            raise unreadable(f"entry {index}: entryId must be a string")
        if content_type is not None and not isinstance(content_type, str):
            raise unreadable(f"entry {index}: contentType must be a string")
        if metadata is not None and (not isinstance(metadata, dict)
                                     or not all(isinstance(v, str) for v in metadata.values())):
            raise unreadable(f"entry {index}: metadata must be an object of strings")
        try:
            event = _event_bytes(_field(item, "event"), content_type or "")
        except ValueError as exc:
            raise events_error("MARSHAL_ENVELOPE", f"error when marshalling cloud event envelope for topic "
                               f"{topic} pubsub {pubsub}: {exc}", {"appID": app_id, "error": str(exc)}) from None
        entries.append(BulkEntry(entry_id or "", event, content_type or None, dict(metadata or {})))
    return entries


def _event_bytes(event: Any, content_type: str) -> bytes:
    """Dapr's ``ConvertEventToBytes``: the event's form must suit its content type."""
    mismatch = ValueError("error: mismatch between contentType and event")
    if is_binary_content_type(content_type):
        if not isinstance(event, str):
            raise mismatch
        try:
            # Go's decoder skips line breaks; anything else outside the alphabet is an error.
            return base64.b64decode(event.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"error: unable to decode base64 application/octet-stream data: {exc}") from None
    if is_string_content_type(content_type):
        if not isinstance(event, str):
            raise mismatch
        return event.encode()
    if is_json_content_type(content_type) or is_cloudevent_content_type(content_type):
        return compact_json(event)
    raise mismatch
