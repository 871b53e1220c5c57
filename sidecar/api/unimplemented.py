"""Dapr APIs this sidecar does not serve yet: a clear 501 naming the API, not invocation's 404.

Without these routes such a call would fall through to service invocation
and be told "failed getting app id", which sends the user looking in the
wrong place. The work that builds an API removes its row from the table.
"""
from __future__ import annotations

from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ..errors import DaprError
from .responses import send_error

__all__ = ["NOT_IMPLEMENTED", "not_implemented", "routes"]

#: API name → the path prefixes Dapr serves it on (every method, every path below them).
NOT_IMPLEMENTED: dict[str, tuple[str, ...]] = {
    "jobs": ("/v1.0-alpha1/jobs",),
    "configuration": ("/v1.0/configuration", "/v1.0-alpha1/configuration"),
    "workflows": ("/v1.0-beta1/workflows", "/v1.0/workflows", "/v1.0-alpha1/workflows"),
    "crypto": ("/v1.0-alpha1/crypto", "/v1.0-alpha1/subtlecrypto"),
    "conversation": ("/v1.0-alpha1/conversation", "/v1.0-alpha2/conversation"),
}


def not_implemented(api: str) -> DaprError:
    return DaprError(501, "ERR_API_NOT_IMPLEMENTED",
                     f"the {api} API is not implemented by this sidecar (tandemd) yet")


class _Answer:
    """An ASGI endpoint (not a function, so Starlette lets every method through) that answers 501."""

    def __init__(self, api: str) -> None:
        self.error = not_implemented(api)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_error(send, self.error)


def routes() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for api, prefixes in NOT_IMPLEMENTED.items():
        answer = _Answer(api)
        for prefix in prefixes:
            found += [Route(prefix, answer), Route(prefix + "/{rest:path}", answer)]
    return found
