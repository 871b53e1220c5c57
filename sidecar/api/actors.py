"""``/v1.0/actors/...`` (spec §5.1), and the internal route other sidecars forward actor calls on."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..actors.runtime import FORWARD_HEADER, NOT_HERE_HEADER, ActorReply
from ..actors.service import Actors
from ..errors import DaprError
from ..tracecontext import for_next_hop
from .responses import error_response, json_response, no_content, read_json, send_error

__all__ = ["routes", "InternalActors"]

_DROP = frozenset({"content-length", "transfer-encoding", "connection", "date", "server", "keep-alive"})


def _reply(reply: ActorReply) -> Response:
    headers = {k: v for k, v in reply.headers.items() if k.lower() not in _DROP}
    return Response(reply.body, status_code=reply.status, headers=headers)


def _ids(request: Request) -> tuple[str, str]:
    return request.path_params["type"], request.path_params["id"]


async def _object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    doc = await read_json(request)
    if not isinstance(doc, dict):
        raise DaprError(400, "ERR_MALFORMED_REQUEST", "failed deserializing HTTP body: expected an object")
    return doc


def routes(actors: Actors) -> list[Route]:
    async def invoke(request: Request) -> Response:
        actor_type, actor_id = _ids(request)
        headers = dict(request.headers)
        headers["traceparent"], tracestate = for_next_hop(request.scope)  # under the API call's span
        if tracestate:
            headers["tracestate"] = tracestate
        reply = await actors.invoke(actor_type, actor_id, request.path_params["method"], headers,
                                    await request.body())
        return _reply(reply)

    async def save_state(request: Request) -> Response:
        actor_type, actor_id = _ids(request)
        await actors.save_state(actor_type, actor_id, await read_json(request))
        return no_content()

    async def get_state(request: Request) -> Response:
        actor_type, actor_id = _ids(request)
        found = await actors.get_state(actor_type, actor_id, request.path_params["key"])
        if found is None:
            return no_content()
        headers: Mapping[str, str] = {f"metadata.{k}": v for k, v in found.metadata.items()}
        return Response(found.data, headers=headers, media_type="application/json")

    async def reminder(request: Request) -> Response:
        actor_type, actor_id = _ids(request)
        name = request.path_params["name"]
        if request.method == "GET":
            found = await actors.get_reminder(actor_type, actor_id, name)
            if found is None:
                return error_response(DaprError(404, "ERR_ACTOR_REMINDER_GET",
                                                f"reminder {name!r} of {actor_type}/{actor_id} not found"))
            return json_response(found)
        if request.method == "DELETE":
            await actors.delete_reminder(actor_type, actor_id, name)
        else:
            await actors.create_reminder(actor_type, actor_id, name, await _object(request))
        return no_content()

    async def timer(request: Request) -> Response:
        actor_type, actor_id = _ids(request)
        name = request.path_params["name"]
        if request.method == "DELETE":
            await actors.delete_timer(actor_type, actor_id, name)
        else:
            await actors.create_timer(actor_type, actor_id, name, await _object(request))
        return no_content()

    base = "/v1.0/actors/{type}/{id}"
    return [
        Route(base + "/method/{method:path}", invoke, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Route(base + "/state", save_state, methods=["POST", "PUT"]),
        Route(base + "/state/{key:path}", get_state, methods=["GET"]),
        Route(base + "/reminders/{name}", reminder, methods=["GET", "POST", "PUT", "DELETE"]),
        Route(base + "/timers/{name}", timer, methods=["POST", "PUT", "DELETE"]),
    ]


class InternalActors:
    """The internal port's actor route: a call another sidecar forwarded because we own the actor."""

    PREFIX = "/v1.0/actors/"

    def __init__(self, actors: Actors) -> None:
        self.actors = actors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        parts = scope["path"][len(self.PREFIX):].split("/", 3)
        if len(parts) < 4 or parts[2] != "method":
            await send_error(send, DaprError(404, "ERR_ACTOR_INVOKE_METHOD", "unknown internal actor route"))
            return
        actor_type, actor_id, _, method = parts
        runtime = self.actors.runtime
        if (request.headers.get(FORWARD_HEADER) != runtime.placement.me.host_id
                or actor_type not in runtime.hosted):
            error = DaprError(500, "ERR_ACTOR_INVOKE_METHOD", "this sidecar is not the host the call was meant for")
            await send_error(send, error, extra=[(NOT_HERE_HEADER.encode(), b"1")])
            return
        try:
            reply = await runtime.call_method(actor_type, actor_id, method, dict(request.headers),
                                              await request.body())
            response = _reply(reply)
        except DaprError as error:
            response = error_response(error)
        await response(scope, receive, send)
