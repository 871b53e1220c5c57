"""A bare ASGI actor host for bench/actors.py: answers every actor call at once, counts reminder fires.

    python actor_app.py PORT
"""
from __future__ import annotations

import json
import sys

import uvicorn
from starlette.types import Receive, Scope, Send

_CONFIG = json.dumps({"entities": ["Bench"], "actorIdleTimeout": "1h"}).encode()
fires = 0


async def _reply(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global fires
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    path = scope["path"]
    if path == "/dapr/config":
        await _reply(send, 200, _CONFIG)
    elif path == "/fires":
        await _reply(send, 200, str(fires).encode())
    else:
        if "/method/remind/" in path:
            fires += 1
        await _reply(send, 200, b'"ok"')


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", http="httptools")
