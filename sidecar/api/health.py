"""``/v1.0/healthz`` and ``/v1.0/healthz/outbound`` (spec §6.3).

Both answer 204 as soon as components are loaded and the API serves — before
the app's port opens — so an app may use its sidecar during its own start-up
(Dapr blocks here until the app listens; its users hit the deadlock).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import DaprError
from .responses import no_content

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["routes"]


def routes(runtime: Runtime) -> list[Route]:
    async def healthz(request: Request) -> Response:
        app_id = request.query_params.get("appid")
        if app_id is not None and app_id != runtime.config.app_id:
            raise DaprError(500, "ERR_HEALTH_APPID_NOT_MATCH", "dapr app-id does not match")
        if not runtime.outbound_ready:
            raise DaprError(500, "ERR_HEALTH_NOT_READY", "dapr is not ready")
        return no_content()

    async def outbound(request: Request) -> Response:
        if not runtime.outbound_ready:
            raise DaprError(500, "ERR_OUTBOUND_HEALTH_NOT_READY", "dapr outbound is not ready")
        return no_content()

    return [
        Route("/v1.0/healthz", healthz, methods=["GET"]),
        Route("/v1.0/healthz/outbound", outbound, methods=["GET"]),
    ]
