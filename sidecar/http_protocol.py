"""uvicorn's httptools protocol, reading any method token and refusing in Dapr's JSON error shape.

uvicorn answers an unparsable request with a plain-text 400 ("Invalid HTTP
request received."); Dapr's clients expect ``{"errorCode", "message"}``. And
llhttp (under httptools) knows only a fixed list of methods, where Go's server
accepts any method token and lets the route decide (405, or invocation's 404).

Each change is a mixin calling ``super()``, so that another one (a header-read
timeout, say) stacks on the same classes::

    class Timed(HeaderTimeout, HttpToolsDapr): ...
"""
from __future__ import annotations

import asyncio
import json
import re
import sys
from functools import lru_cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["AnyMethodToken", "DaprParseErrors", "HttpToolsDapr", "malformed_body", "stand_in_method"]

_TOKEN_METHOD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}) ")
_COMMON = frozenset({b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH"})
#: What llhttp is told an unknown method is, so it reads the rest; the ASGI scope gets the real one.
_STAND_IN = b"GET"


def malformed_body(reason: str) -> bytes:
    """Dapr's error body for a request that could not be read as HTTP."""
    return json.dumps({"errorCode": "ERR_MALFORMED_REQUEST",
                       "message": f"invalid HTTP request: {reason}"}).encode()


def _reason(exc: BaseException | None) -> str:
    """The parser's own words for what was wrong (its cause, when a parser callback raised it)."""
    if exc is None:
        return "the request could not be parsed"
    cause = exc.__context__
    if cause is not None and type(cause).__module__.startswith(("httptools", "h11")):
        exc = cause
    return str(exc) or type(exc).__name__


class DaprParseErrors:
    """Mixin: a request the parser refuses gets a JSON 400 ``ERR_MALFORMED_REQUEST``, then the close.

    uvicorn calls ``send_400_response`` from inside its handler of the
    parser's exception, so that exception is the one being handled here. (Its
    h11 protocol calls it the same way: the mixin serves there too.)
    """

    transport: asyncio.Transport
    server_state: Any

    def send_400_response(self, msg: str) -> None:
        body = malformed_body(_reason(sys.exc_info()[1]))
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()


@lru_cache(maxsize=32)
def llhttp_knows(method: bytes) -> bool:
    """Whether llhttp parses ``method`` itself (it has a fixed list of them)."""
    try:
        httptools.HttpRequestParser(object()).feed_data(method + b" / HTTP/1.1\r\n\r\n")
    except httptools.HttpParserInvalidMethodError:
        return False
    except httptools.HttpParserError:
        return True
    return True


def stand_in_method(data: bytes) -> tuple[bytes, bytes | None]:
    """``data`` (the start of a request) with an unknown method token swapped for one llhttp reads.

    Returns the bytes to parse and the real method (``None`` when nothing was swapped).
    """
    match = _TOKEN_METHOD.match(data)
    if match is None:
        return data, None
    method = match.group(1)
    if method in _COMMON or llhttp_knows(method):
        return data, None
    return _STAND_IN + data[len(method):], method


class AnyMethodToken:
    """Mixin for the httptools protocol: any method token is read, as Go's server does.

    Only a chunk that starts a new request is looked at (never body bytes); a
    request line split before its first space still meets llhttp's refusal.
    """

    scope: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._between_requests = True
        self._real_method: bytes | None = None

    def data_received(self, data: bytes) -> None:
        if self._between_requests and data:
            data, self._real_method = stand_in_method(data)
        super().data_received(data)  # type: ignore[misc]

    def on_message_begin(self) -> None:
        self._between_requests = False
        super().on_message_begin()  # type: ignore[misc]

    def on_headers_complete(self) -> None:
        super().on_headers_complete()  # type: ignore[misc]
        if self._real_method is not None:  # the request's task is created, not yet run: in time
            self.scope["method"] = self._real_method.decode("ascii")
            self._real_method = None

    def on_message_complete(self) -> None:
        self._between_requests = True
        super().on_message_complete()  # type: ignore[misc]


class HttpToolsDapr(AnyMethodToken, DaprParseErrors, HttpToolsProtocol):
    """httptools (the default): any method token, parse errors in Dapr's shape."""
