"""``/v1.0-alpha1/lock/{store}`` and ``/unlock/{store}`` (spec §6.5)."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blocks.lock import LockBlock
from ..components.lock import TryLockRequest, UnlockRequest
from ..errors import DaprError
from .responses import json_response, read_json

__all__ = ["routes"]


def _field(body: dict[str, Any], camel: str, snake: str) -> Any:
    """protojson accepts both spellings."""
    return body.get(camel, body.get(snake))


async def _body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", "failed deserializing HTTP body: expected an object")
    return body


def routes(block: LockBlock) -> list[Route]:
    async def lock(request: Request) -> Response:
        body = await _body(request)
        expiry = _field(body, "expiryInSeconds", "expiry_in_seconds") or 0
        if not isinstance(expiry, int) or isinstance(expiry, bool):
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "expiryInSeconds must be an integer")
        taken = await block.try_lock(request.path_params["store"], TryLockRequest(
            str(_field(body, "resourceId", "resource_id") or ""),
            str(_field(body, "lockOwner", "lock_owner") or ""), expiry))
        return json_response({"success": taken})

    async def unlock(request: Request) -> Response:
        body = await _body(request)
        status = await block.unlock(request.path_params["store"], UnlockRequest(
            str(_field(body, "resourceId", "resource_id") or ""),
            str(_field(body, "lockOwner", "lock_owner") or "")))
        return json_response({"status": int(status)})

    return [
        Route("/v1.0-alpha1/lock/{store}", lock, methods=["POST"]),
        Route("/v1.0-alpha1/unlock/{store}", unlock, methods=["POST"]),
    ]
