"""Raw ASGI middleware on the API's request path: path clean-up, API token, body limit.

Kept as plain ASGI callables (no per-request objects) because every request
crosses them.
"""
from __future__ import annotations

import hmac
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DaprError
from .responses import send_error

__all__ = ["NormalizePath", "RequireApiToken", "LimitBody"]

_SLASHES = re.compile(r"/{2,}")
#: Invocation paths are the app's: carried as given (normalised by the invoke API itself).
_INVOKE = "/v1.0/invoke/"
_TOKEN_EXEMPT = frozenset({"/v1.0/healthz", "/v1.0/healthz/outbound"})


class NormalizePath:
    """Collapse duplicate slashes and drop a trailing one, as Dapr's router does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if not path.startswith(_INVOKE) and ("//" in path or (path.endswith("/") and len(path) > 1)):
                path = _SLASHES.sub("/", path)
                if len(path) > 1:
                    path = path.rstrip("/") or "/"
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)


class RequireApiToken:
    """``DAPR_API_TOKEN``: every route but the two health routes needs ``dapr-api-token``.

    A missing or wrong token gets Dapr's plain-text 401; the header is removed
    before the request goes further, so it is never forwarded.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET" and scope["path"] in _TOKEN_EXEMPT:
            await self.app(scope, receive, send)
            return
        given = None
        headers = []
        for name, value in scope["headers"]:
            if name == b"dapr-api-token":
                given = value
            else:
                headers.append((name, value))
        if given is None or not hmac.compare_digest(given, self.token):
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"invalid api token"})
            return
        await self.app({**scope, "headers": headers}, receive, send)


class LimitBody:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _error(self) -> DaprError:
        return DaprError(413, "ERR_BODY_READ",
                         f"request body too large: the limit is {self.limit} bytes (--max-body-size)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.limit:
                    await send_error(send, self._error(), close=True)
                    return
                break
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._error()
            return message

        await self.app(scope, limited, send)


