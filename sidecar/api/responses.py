"""Response helpers shared by the API modules: Dapr's empty 204 and JSON bodies."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from .. import strictjson
from ..components.wire import compact_json
from ..errors import DaprError

__all__ = ["no_content", "json_response", "error_response", "read_json", "query_metadata", "send_error"]

_NO_CONTENT = 204


def no_content() -> Response:
    return Response(status_code=_NO_CONTENT)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = compact_json(data)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def error_response(error: DaprError) -> Response:
    return json_response(error.to_json(), status=error.status)


async def read_json(request: Request) -> Any:
    """The request body as JSON; Dapr's 400 ERR_MALFORMED_REQUEST when it is not (see ``strictjson``)."""
    body = await request.body()
    try:
        return strictjson.loads(body)
    except strictjson.InvalidJson as exc:
        raise DaprError(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {exc}") from None


def query_metadata(request: Request) -> dict[str, str]:
    """``?metadata.k=v`` parameters as request metadata (first value wins, as in Dapr)."""
    found: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key.startswith("metadata.") and key[9:] not in found:
            found[key[9:]] = value
    return found


async def send_error(send: Send, error: DaprError, *, close: bool = False,
                     extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send Dapr's error body straight on an ASGI ``send`` (for raw ASGI endpoints)."""
    body = json.dumps(error.to_json()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    headers.extend(extra or ())
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
