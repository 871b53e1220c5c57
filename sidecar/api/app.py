"""Assemble the sidecar's ASGI app: every API module's routes, middleware, error table.

Reading this one function tells the whole request path.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import DaprError
from . import actors, bindings, health, invoke, lock, metadata, pubsub, secrets, shutdown, state, unimplemented
from .middleware import LimitBody, NormalizePath, RequireApiToken, observe
from .responses import error_response, send_error

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["build_api", "build_internal", "PortDispatch"]

_NO_APP_ID = DaprError(404, "ERR_DIRECT_INVOKE",
                       "failed getting app id either from the URL path or the header dapr-app-id")


def build_api(runtime: Runtime) -> ASGIApp:
    """The sidecar's HTTP API over ``runtime``'s building blocks."""
    routes = [
        *health.routes(runtime),
        *metadata.routes(runtime),
        *shutdown.routes(runtime),
        *state.routes(runtime.blocks.state),
        *pubsub.routes(runtime.blocks.pubsub.publisher),
        *lock.routes(runtime.blocks.locks),
        *bindings.routes(runtime.blocks.bindings),
        *secrets.routes(runtime.blocks.secrets),
        *unimplemented.routes(),
    ]
    if runtime.actors is not None:
        routes += actors.routes(runtime.actors)
    by_header = invoke.InvokeByHeader(runtime.invoker)
    by_path = invoke.InvokeByPath(runtime.invoker)

    async def unmatched(request: Request, exc: Exception) -> Response:
        # Dapr hands every request that matches no route to service invocation.
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            if invoke.app_id_from_headers(request.scope)[0]:
                return _Delegate(by_header)
            return error_response(_NO_APP_ID)
        return error_response(DaprError(exc.status_code, "ERR_BAD_REQUEST", str(exc.detail)))

    api = Starlette(
        routes=routes,
        exception_handlers={
            DaprError: _dapr_error,
            HTTPException: unmatched,
            Exception: _unexpected,
        },
    )
    api.router.redirect_slashes = False  # Dapr answers 404, never a redirect
    app: ASGIApp = _InvokeFastPath(by_path, api)
    app = LimitBody(app, limit=runtime.config.max_body_size)
    if runtime.config.api_token:
        app = RequireApiToken(app, token=runtime.config.api_token)
    return NormalizePath(observe(app, runtime.observability))


class _InvokeFastPath:
    """Invocations skip Starlette's router and exception layers: they are the hottest path."""

    def __init__(self, invoke: ASGIApp, api: ASGIApp) -> None:
        self.invoke = invoke
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1.0/invoke/"):
            await _Delegate(self.invoke)(scope, receive, send)
        else:
            await self.api(scope, receive, send)


async def _dapr_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DaprError)
    return error_response(exc)


class _Delegate(Response):
    """A "response" that hands the untouched request to another ASGI app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except DaprError as error:  # raised before anything was sent: we are past the error table here
            await send_error(send, error)


def build_internal(runtime: Runtime) -> ASGIApp:
    """The internal port's app: invocations and actor calls from other sidecars, body limit applied."""
    app: ASGIApp = invoke.InternalInvoke(runtime.invoker)
    if runtime.actors is not None:
        app = _InternalActorsFirst(actors.InternalActors(runtime.actors), app)
    return observe(LimitBody(app, limit=runtime.config.max_body_size), runtime.observability, internal=True)


class _InternalActorsFirst:
    """Forwarded actor calls have their own path; everything else is service invocation."""

    def __init__(self, actor_app: ASGIApp, invoke_app: ASGIApp) -> None:
        self.actor_app = actor_app
        self.invoke_app = invoke_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(actors.InternalActors.PREFIX):
            await self.actor_app(scope, receive, send)
        else:
            await self.invoke_app(scope, receive, send)


class PortDispatch:
    """One server, two faces: the public API and the internal port, told apart by local port."""

    def __init__(self, api: ASGIApp, internal: ASGIApp, internal_port: int) -> None:
        self.api = api
        self.internal = internal
        self.internal_port = internal_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if server and server[1] == self.internal_port:
            await self.internal(scope, receive, send)
        else:
            await self.api(scope, receive, send)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(DaprError(500, "ERROR", f"internal error: {type(exc).__name__}: {exc}"))
