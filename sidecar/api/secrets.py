"""``/v1.0/secrets/{store}/{name}`` and ``/bulk`` (spec §6.1)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blocks.secrets import SecretsBlock
from .responses import json_response, no_content, query_metadata

__all__ = ["routes"]


def routes(block: SecretsBlock) -> list[Route]:
    async def get(request: Request) -> Response:
        data = await block.get(request.path_params["store"], request.path_params["name"],
                               query_metadata(request))
        return json_response(data) if data else no_content()

    async def bulk(request: Request) -> Response:
        return json_response(await block.bulk(request.path_params["store"], query_metadata(request)))

    return [
        # ``bulk`` first: otherwise it would be read as a secret named "bulk", as in Dapr's router.
        Route("/v1.0/secrets/{store}/bulk", bulk, methods=["GET"]),
        Route("/v1.0/secrets/{store}/{name:path}", get, methods=["GET"]),
    ]
