"""An app channel to an ASGI app in this process and event loop, for the in-process test sidecar.

Calls go straight to the app's ASGI callable: no port, no socket. The app's
lifespan starts on :meth:`AsgiChannel.wait_until_reachable` (so an app that opens
a sidecar client at startup gets it) and ends at :meth:`AsgiChannel.close`. Like
uvicorn, an exception before the app answered becomes a 500 (and is logged).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict
from starlette.types import ASGIApp, Message, Send

from .channel import AppChannel, AppResponse
from .proxy import HOP_BY_HOP, RequestBody

__all__ = ["AsgiChannel"]

log = logging.getLogger("tandem.sidecar.channel")


class AsgiChannel(AppChannel):
    """The app channel for an app given as an ASGI object."""

    def __init__(self, app: ASGIApp, app_api_token: str | None = None) -> None:
        super().__init__("in-process", 0, app_api_token)
        self.app = app
        self._lifespan = _Lifespan(app)

    async def wait_until_reachable(self, interval: float = 0.05) -> None:
        await self._lifespan.startup()

    async def call(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                   body: bytes | None = None, timeout: float | None = None) -> AppResponse:
        sent = dict(headers or {})
        if self._token:
            sent["dapr-api-token"] = self._token
        reply = _Reply()
        await asyncio.wait_for(self._run(method, path.encode(), sent.items(), body or b"", reply.send), timeout)
        return AppResponse(reply.status, reply.headers, b"".join(reply.chunks))

    async def forward(self, method: str, path: bytes, headers: CIMultiDict[str], body: RequestBody,
                      send: Send) -> None:
        if self._token:
            headers["dapr-api-token"] = self._token
        small = await body.prepare()
        data = small if small is not None else b"".join([chunk async for chunk in body.stream()])
        body.release()

        async def relay(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in HOP_BY_HOP]
                message = {**message, "headers": kept}
            await send(message)

        await self._run(method, path, headers.items(), data, relay)

    async def close(self) -> None:
        await self._lifespan.shutdown()
        await super().close()

    async def _run(self, method: str, target: bytes, headers: Any, body: bytes, send: Send) -> None:
        path, _, query = target.partition(b"?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.upper(),
            "scheme": "http", "path": unquote(path.decode("latin-1")), "raw_path": path, "query_string": query,
            "root_path": "", "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0),
            "headers": [(str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers],
        }
        done = asyncio.Event()
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("the app failed on %s %s", method, scope["path"])
            if not started:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
        finally:
            done.set()


class _Reply:
    """Collects one ASGI response."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))


class _Lifespan:
    """The ASGI lifespan protocol, driven once: startup on first use, shutdown at close."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._answers: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Lock()
        self._running = False

    async def startup(self) -> None:
        async with self._started:
            if self._task is not None:
                return
            self._task = asyncio.ensure_future(self._serve())
            self._running = await self._ask("lifespan.startup")

    async def shutdown(self) -> None:
        if self._task is None:
            return
        if self._running:
            self._running = False
            await self._ask("lifespan.shutdown")
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _serve(self) -> None:
        try:
            await self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                           self._inbox.get, self._answers.put)
        except Exception as exc:  # an app without lifespan support raises here, as uvicorn's "auto" allows
            await self._answers.put({"type": "lifespan.unsupported", "message": repr(exc)})
        else:
            await self._answers.put({"type": "lifespan.unsupported", "message": "the app returned"})

    async def _ask(self, event: str) -> bool:
        """Send ``event``; True on ``.complete``, False when the app has no lifespan; RuntimeError on failure."""
        await self._inbox.put({"type": event})
        answer = await self._answers.get()
        if answer["type"] == f"{event}.failed":
            raise RuntimeError(f"the app's {event} failed: {answer.get('message', '')}")
        if answer["type"] == "lifespan.unsupported" and event == "lifespan.startup":
            log.debug("the app has no lifespan: %s", answer.get("message"))
        return bool(answer["type"] == f"{event}.complete")
