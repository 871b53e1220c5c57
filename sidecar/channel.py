"""The app channel: the one place the sidecar calls its app.

Pooled keep-alive connections (one aiohttp session per sidecar);
``APP_API_TOKEN`` goes on every call as ``dapr-api-token``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from starlette.types import Send

from .proxy import RequestBody, new_session, relay_reply

__all__ = ["AppChannel", "AppResponse"]

log = logging.getLogger("tandem.sidecar.channel")

#: Below the idle timeout of common app servers (uvicorn, Node.js: 5 s).
_APP_KEEPALIVE = 4.0


@dataclass(frozen=True)
class AppResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class AppChannel:
    """HTTP calls from the sidecar to its app at ``address:port``."""

    def __init__(self, address: str, port: int, app_api_token: str | None = None) -> None:
        self.address = address
        self.port = port
        self.base_url = f"http://{address}:{port}"
        self._token = app_api_token
        self._session: aiohttp.ClientSession | None = None
        #: Whether the app has ever accepted a connection (an app that has not is still starting).
        self.reached = False

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session(keepalive=_APP_KEEPALIVE)
        return self._session

    async def wait_until_reachable(self, interval: float = 0.05) -> None:
        """Return once the app accepts TCP connections (polls; never gives up)."""
        while True:
            try:
                _, writer = await asyncio.open_connection(self.address, self.port)
            except OSError:
                await asyncio.sleep(interval)
                continue
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
            self.reached = True
            return

    async def call(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
        body: bytes | None = None, timeout: float | None = None,
    ) -> AppResponse:
        """One request to the app; raises ``aiohttp.ClientError``/``TimeoutError`` on failure."""
        sent = dict(headers or {})
        if self._token:
            sent["dapr-api-token"] = self._token
        async with self._client().request(
            method, self.base_url + path, headers=sent, data=body,
            timeout=aiohttp.ClientTimeout(total=timeout) if timeout else None,
        ) as reply:
            data = await reply.read()
            return AppResponse(reply.status, dict(reply.headers), data)

    async def forward(self, method: str, path: bytes, headers: CIMultiDict[str], body: RequestBody,
                      send: Send) -> None:
        """Stream one request to the app and its reply back to ``send``.

        Raises ``aiohttp.ClientConnectionError`` when the app cannot be reached
        (before anything was sent back).
        """
        if self._token:
            headers["dapr-api-token"] = self._token
        small = await body.prepare()
        async with self._client().request(
            method, self.base_url + path.decode("latin-1"), headers=headers,
            data=body.payload(small),
        ) as reply:
            self.reached = True
            body.release()
            await relay_reply(reply, send)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
