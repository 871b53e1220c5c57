"""Serving an ASGI app in a test as a server would: its lifespan run around an HTTP client."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import anyio
import httpx

__all__ = ["serving"]


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run the ASGI lifespan around the block, as a server does."""
    to_app_send, to_app_receive = anyio.create_memory_object_stream[dict[str, Any]](4)
    from_app_send, from_app_receive = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    async with to_app_send, to_app_receive, from_app_send, from_app_receive, anyio.create_task_group() as tg:
        tg.start_soon(app, scope, to_app_receive.receive, from_app_send.send)
        await to_app_send.send({"type": "lifespan.startup"})
        assert (await from_app_receive.receive())["type"] == "lifespan.startup.complete"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
            yield http
        await to_app_send.send({"type": "lifespan.shutdown"})
        assert (await from_app_receive.receive())["type"] == "lifespan.shutdown.complete"
