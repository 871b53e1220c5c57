"""``POST /v1.0/shutdown``: answer 204, then shut down gracefully."""
from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["routes"]


def routes(runtime: Runtime) -> list[Route]:
    async def shutdown(request: Request) -> Response:
        return Response(status_code=204, background=BackgroundTask(runtime.request_shutdown))

    return [Route("/v1.0/shutdown", shutdown, methods=["POST"])]
