"""The benchmark's subscriber: a bare ASGI app that records publish→delivery latency.

    python subscriber_app.py PORT TOPIC

Answers ``/dapr/subscribe`` with one subscription (pubsub ``pubsub``), acknowledges
every event, and keeps ``now - event.data.t`` per message; ``GET /stats`` returns
them (and resets).
"""
from __future__ import annotations

import json
import sys
import time

import uvicorn
from starlette.types import Receive, Scope, Send

_TOPIC = sys.argv[2] if len(sys.argv) > 2 else "bench"
_SUBSCRIBE = json.dumps([{"pubsubname": "pubsub", "topic": _TOPIC, "route": "/events"}]).encode()
latencies: list[float] = []
seen: set[int] = set()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    out = b'{"status":"SUCCESS"}'
    if scope["path"] == "/dapr/subscribe":
        out = _SUBSCRIBE
    elif scope["path"] == "/stats":
        out = json.dumps({"latencies": latencies, "unique": len(seen)}).encode()
        latencies.clear()
        seen.clear()
    elif scope["path"] == "/events":
        data = json.loads(body)["data"]
        latencies.append(time.time() - data["t"])
        seen.add(data["n"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off")
