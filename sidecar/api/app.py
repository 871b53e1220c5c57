"""Assemble the sidecar's ASGI app: every API module's routes, middleware, error table.

Reading this one function tells the whole request path.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ..errors import DaprError
from . import health, metadata, shutdown, state
from .middleware import LimitBody, NormalizePath, RequireApiToken
from .responses import error_response

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["build_api"]

_NO_APP_ID = DaprError(404, "ERR_DIRECT_INVOKE",
                       "failed getting app id either from the URL path or the header dapr-app-id")


def build_api(runtime: Runtime) -> Starlette:
    """The sidecar's HTTP API over ``runtime``'s building blocks."""
    routes = [
        *health.routes(runtime),
        *metadata.routes(runtime),
        *shutdown.routes(runtime),
        *state.routes(runtime.state),
    ]
    middleware = [Middleware(NormalizePath)]
    if runtime.config.api_token:
        middleware.append(Middleware(RequireApiToken, token=runtime.config.api_token))
    middleware.append(Middleware(LimitBody, limit=runtime.config.max_body_size))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            DaprError: _dapr_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )


async def _dapr_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DaprError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        # Dapr hands unmatched routes to service invocation, which finds no app id.
        return error_response(_NO_APP_ID)
    return error_response(DaprError(exc.status_code, "ERR_BAD_REQUEST", str(exc.detail)))


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(DaprError(500, "ERROR", f"internal error: {type(exc).__name__}: {exc}"))
