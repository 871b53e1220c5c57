"""A bound on the time a client may take to send a request's headers (Go's ``ReadHeaderTimeout``).

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but
a connection that sent half a request line, or nothing at all, stays open for
ever: a few hundred of them hold the sidecar's sockets. These protocol classes
(one per parser uvicorn offers) arm a timer when a connection opens and when a
request begins, and disarm it once the request's headers are complete; when it
fires, the connection is closed. Time spent on the body and on the answer is
not bounded here: that is the app's and the client's business.
"""
from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["protocol_class"]


class _HeaderDeadline:
    """The timer; mixed in before a uvicorn HTTP protocol class."""

    read_header_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def _arm(self) -> None:
        if self._deadline is None and self.read_header_timeout > 0:
            self._deadline = self.loop.call_later(self.read_header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()  # a new connection owes its first request's headers

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


class H11WithHeaderTimeout(_HeaderDeadline, H11Protocol):
    """h11: the headers are complete once the client's side of the exchange has left ``IDLE``."""

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()


def _httptools_class() -> type[Any] | None:
    try:
        from .http_protocol import HttpToolsDapr  # httptools, answering in Dapr's error shape
    except ImportError:
        return None

    class HttpToolsWithHeaderTimeout(_HeaderDeadline, HttpToolsDapr):  # type: ignore[misc]
        """httptools: the parser says when a request begins and when its headers are complete."""

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return HttpToolsWithHeaderTimeout


def protocol_class(read_header_timeout: float, *, prefer_httptools: bool = True) -> type[asyncio.Protocol]:
    """A uvicorn ``http`` protocol class (httptools when installed, else h11) closing connections whose
    request headers take longer than ``read_header_timeout`` seconds (0: no bound)."""
    base = _httptools_class() if prefer_httptools else None
    chosen: type[Any] = base or H11WithHeaderTimeout
    return type(chosen.__name__, (chosen,), {"read_header_timeout": read_header_timeout})
