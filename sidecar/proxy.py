"""Stream an HTTP exchange from an ASGI request to an upstream and back.

Shared by every hop that carries an invocation: caller sidecar → target
sidecar, and sidecar → app. Small bodies with a declared length are read at
once (cheaper); anything else streams through untouched in both directions.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping

import aiohttp
from multidict import CIMultiDict
from starlette.types import Receive, Send

from .errors import DaprError

__all__ = ["HOP_BY_HOP", "RequestBody", "outgoing_headers", "relay_reply", "new_session", "internal_headers",
           "INTERNAL_SECRET_HEADER"]

#: Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus ``host``.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"host",
})
#: Our own server sets ``date`` on every reply; relaying the upstream's would send two.
_NOT_RELAYED = HOP_BY_HOP | {b"date"}
_SMALL = 64 * 1024
#: The internal hop's secret travels in this header (see :mod:`tandem.sidecar.internal_auth`).
INTERNAL_SECRET_HEADER = "x-tandem-internal-secret"


def internal_headers(secret: str | None) -> dict[str, str]:
    """The headers every sidecar-to-sidecar request carries: the internal secret, when there is one."""
    return {INTERNAL_SECRET_HEADER: secret} if secret else {}


def new_session(keepalive: float = 30.0, headers: Mapping[str, str] | None = None) -> aiohttp.ClientSession:
    """A pooled keep-alive session that adds no headers but ``headers``.

    ``keepalive`` must stay below the upstream server's idle timeout, so that
    we never reuse a connection the server is closing.
    """
    return aiohttp.ClientSession(
        headers=dict(headers or {}),
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=keepalive),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=3),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
    )


def outgoing_headers(raw: Iterable[tuple[bytes, bytes]], drop: frozenset[bytes] = frozenset()) -> CIMultiDict[str]:
    """The request's headers minus hop-by-hop ones and ``drop``, repeated headers kept."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in raw:
        if name in HOP_BY_HOP or name in drop:
            continue
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return headers


class RequestBody:
    """The ASGI request body, readable more than once until it is released.

    Chunks already read are kept so that a send that failed to connect can be
    retried with the same body; the caller releases them once a reply started.
    A refusal raised while reading (the body limit's 413) is kept in ``refused``:
    the HTTP client reports it wrapped as a connection error, and the caller's
    answer must be the refusal, not a failure of the upstream.
    """

    def __init__(self, receive: Receive, length: int | None) -> None:
        self._receive = receive
        self._length = length
        self._chunks: list[bytes] = []
        self._done = False
        self._keep = True
        self.refused: DaprError | None = None

    async def prepare(self) -> bytes | None:
        """Read a small declared body at once; ``None`` means "stream it"."""
        if self._length is not None and self._length <= _SMALL:
            while not self._done:
                await self._pull()
            return b"".join(self._chunks)
        return None

    def payload(self, prepared: bytes | None) -> bytes | AsyncIterator[bytes] | None:
        """What to hand the HTTP client: the bytes read at once, a stream, or nothing at all."""
        if prepared is None:
            return self.stream()
        return prepared if prepared or self._length else None

    async def _pull(self) -> bytes:
        try:
            message = await self._receive()
        except DaprError as error:
            self.refused = error
            raise
        if message["type"] == "http.disconnect":
            self._done = True
            raise ConnectionResetError("the caller went away")
        chunk: bytes = message.get("body", b"")
        self._done = not message.get("more_body", False)
        if self._keep and chunk:
            self._chunks.append(chunk)
        return chunk

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in list(self._chunks):
            yield chunk
        while not self._done:
            chunk = await self._pull()
            if chunk:
                yield chunk

    def release(self) -> None:
        self._keep = False
        self._chunks = []


async def relay_reply(reply: aiohttp.ClientResponse, send: Send,
                      extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send the upstream's status, headers and body to the ASGI caller, streaming."""
    headers = [(k.lower(), v) for k, v in reply.raw_headers if k.lower() not in _NOT_RELAYED]
    headers.extend(extra)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    length = reply.content_length
    if length is not None and length <= _SMALL:
        await send({"type": "http.response.body", "body": await reply.read()})
        return
    async for chunk in reply.content.iter_any():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
