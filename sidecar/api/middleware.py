"""Raw ASGI middleware on the API's request path: path clean-up, API token, body limit, observers.

Kept as plain ASGI callables (no per-request objects) because every request
crosses them.
"""
from __future__ import annotations

import hmac
import re
from time import perf_counter
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DaprError
from ..observability.calls import Call, span_attributes, span_name
from ..observability.tracing import CLIENT, PRODUCER, SERVER, ActiveSpan
from ..tracecontext import SCOPE_KEY, format_traceparent, incoming, new_span_id, new_trace_id, parse_traceparent
from .responses import send_error

if TYPE_CHECKING:
    from ..observability import Observability

__all__ = ["NormalizePath", "RequireApiToken", "LimitBody", "Observe", "ObserveInternal", "observe"]

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


# -- observers ---------------------------------------------------------------------------

_INTERNAL_SPAN = "/dapr.proto.internals.v1.ServiceInvocation/CallLocal"
_INTERNAL_ACTOR_SPAN = "/dapr.proto.internals.v1.ServiceInvocation/CallActor"
_ACTORS = "/v1.0/actors/"


def observe(app: ASGIApp, observability: Observability, *, internal: bool = False) -> ASGIApp:
    """``app`` with the observing middleware, or ``app`` itself when nothing is observed."""
    if not observability.observes_api:
        return app
    return ObserveInternal(app, observability) if internal else Observe(app, observability)


def _with_traceparent(message: Message, span: ActiveSpan) -> Message:
    """Dapr answers with the call's ``traceparent`` unless the reply already has one."""
    headers = list(message.get("headers", ()))
    if not any(name.lower() == b"traceparent" for name, _ in headers):
        headers.append((b"traceparent", span.traceparent.encode()))
        return {**message, "headers": headers}
    return message


def _ensure_trace(scope: Scope) -> str:
    """The caller's trace id; a call without one gets a new trace, so the log line can name it."""
    parent = parse_traceparent(incoming(scope)[0])
    if parent is not None:
        return parent.trace_id
    trace_id = new_trace_id()
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"traceparent", b"tracestate")]
    headers.append((b"traceparent", format_traceparent(trace_id, new_span_id()).encode()))
    scope["headers"] = headers
    return trace_id


class Observe:
    """Per API call: Dapr's HTTP metrics, a span when tracing records, a line when API logging is on.

    With tracing off this costs two clock reads and a few dict updates per call.
    The span (named and attributed as Dapr does) is the parent of whatever the
    call sends on: its context is left in the scope for ``tracecontext.for_next_hop``.
    """

    def __init__(self, app: ASGIApp, observability: Observability) -> None:
        self.app = app
        self.observability = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        obs = self.observability
        call = obs.classify(scope)
        method: str = scope["method"]
        span: ActiveSpan | None = None
        trace_id = ""
        if obs.tracing.recording and not call.health:
            parent, state = incoming(scope)
            path = scope["path"]
            span = obs.tracing.start(span_name(call, method, path), PRODUCER if call.api == "publish" else CLIENT,
                                     parent=parent, state=state, attributes=span_attributes(call, method, path))
            scope[SCOPE_KEY] = (span.traceparent, span.tracestate)
            trace_id = span.trace_id
        elif obs.api_log is not None:
            trace_id = _ensure_trace(scope)
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if span is not None:
                    message = _with_traceparent(message, span)
            await send(message)

        start = perf_counter()
        try:
            await self.app(scope, receive, observed)
        finally:
            elapsed = (perf_counter() - start) * 1000.0
            if obs.metrics_enabled:
                _count(obs, call, method, str(status), elapsed)
            if span is not None:
                span.end(status)
            if obs.api_log is not None:
                obs.api_log.record(method, scope["path"], call, status, elapsed, trace_id)


def _count(obs: Observability, call: Call, method: str, status: str, elapsed: float) -> None:
    metrics = obs.metrics  # request counts are read off these histograms at scrape time
    metrics.http_server_latency.observe(elapsed, method, call.route, status)
    if call.api == "invoke" and call.resource:
        metrics.invocation_res_recv_latency.observe(elapsed, call.resource, call.method, status)


class ObserveInternal:
    """The internal port: Dapr's server span for a call from another sidecar, and the callee's counts."""

    def __init__(self, app: ASGIApp, observability: Observability) -> None:
        self.app = app
        self.observability = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        obs = self.observability
        caller = ""
        for name, value in scope["headers"]:
            if name == b"dapr-caller-app-id":
                caller = value.decode("latin-1")
                break
        path: str = scope["path"]
        actor = path.startswith(_ACTORS)
        method = path.lstrip("/")
        span: ActiveSpan | None = None
        if obs.tracing.recording:
            parent, state = incoming(scope)
            span = obs.tracing.start(_INTERNAL_ACTOR_SPAN if actor else _INTERNAL_SPAN, SERVER, parent=parent,
                                     state=state, attributes={
                "rpc.service": "ServiceInvocation", "dapr.protocol": "http", "dapr.invoke_method": method,
                "net.peer.name": caller})
            scope[SCOPE_KEY] = (span.traceparent, span.tracestate)
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            if obs.metrics_enabled and not actor:  # requests received are read off the responses sent
                obs.metrics.invocation_res_sent.inc(caller, method, str(status))
            if span is not None:
                span.end(status)
