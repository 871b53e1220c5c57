"""``/v1.0/metadata`` (spec §6.2): who this sidecar is and what it loaded."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .responses import json_response, no_content

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["routes"]


def routes(runtime: Runtime) -> list[Route]:
    async def get(request: Request) -> Response:
        return json_response(describe(runtime))

    async def put(request: Request) -> Response:
        body = await request.body()
        runtime.extended[request.path_params["key"]] = body.decode("utf-8", "replace")
        return no_content()

    return [
        Route("/v1.0/metadata", get, methods=["GET"]),
        Route("/v1.0/metadata/{key}", put, methods=["PUT"]),
    ]


def describe(runtime: Runtime) -> dict[str, Any]:
    """The metadata document; never empty (``id`` and ``runtimeVersion`` always present).

    The runtime's own keys, each component with what its blocks use of it, then
    what each block adds (subscriptions, actors …).
    """
    config = runtime.config
    doc: dict[str, Any] = {
        "id": config.app_id,
        "runtimeVersion": runtime.version,
        "enabledFeatures": sorted(k for k, v in runtime.configuration.features.items() if v),
        "components": [
            {"name": c.metadata.name, "type": c.metadata.type, "version": c.metadata.version,
             "capabilities": sorted(c.capabilities)}
            for c in runtime.components
        ],
        "subscriptions": [],
        "extended": {"daprRuntimeVersion": runtime.version, **runtime.extended},
        "plugins": [{"name": n, "distribution": d} for n, d in sorted(runtime.plugins.items())],
    }
    for block in runtime.blocks:
        doc.update(block.describe())
    if config.app_port:
        doc["appConnectionProperties"] = {
            "port": config.app_port,
            "protocol": config.app_protocol,
            "channelAddress": config.app_channel_address,
        }
    return doc
