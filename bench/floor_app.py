"""The HTTP floor: a bare ASGI app on the sidecar's server stack, answering like the state API.

The benchmark runs the same client against it, so the gap between this and
``tandemd`` is the sidecar's own cost, not the HTTP client's or the server's.
"""
from __future__ import annotations

import json
import sys

import uvicorn
from starlette.types import Receive, Scope, Send

#: ``floor_app.py PORT echo`` answers every request with its own body (the invocation target).
_ECHO = len(sys.argv) > 2 and sys.argv[2] == "echo"
_BODY = json.dumps({"order": 42, "items": ["a", "b", "c"], "note": "x" * 200}).encode()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more, body = True, b""
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if _ECHO:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        await send({"type": "http.response.body", "body": body})
    elif scope["method"] == "GET":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"etag", b"1")]})
        await send({"type": "http.response.body", "body": _BODY})
    else:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off")
