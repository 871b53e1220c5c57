"""``GET /metrics`` on the metrics port: the Prometheus text of one sidecar's :class:`Metrics`.

Served by the sidecar's own server on a socket of its own (``--metrics-port``),
so a scrape never waits behind the API and needs no second event loop.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from .metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from .bundle import Observability

__all__ = ["MetricsApp"]

_PATHS = frozenset({"/metrics", "/"})


class MetricsApp:
    """The metrics port's ASGI app."""

    def __init__(self, observability: Observability) -> None:
        self.observability = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] not in _PATHS or scope["method"] not in ("GET", "HEAD"):
            body = b"not found: metrics are served on GET /metrics\n"
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        body = self.observability.metrics.render()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
