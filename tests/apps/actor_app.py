"""A plain actor host written to Dapr's app contract (no Tandem framework), for sidecar tests.

    python actor_app.py PORT SIDECAR_HTTP_PORT CONFIG_JSON

``GET /dapr/config`` answers CONFIG_JSON. Actor types are whatever the config
lists; every method is the same small program, chosen by name:

* ``increment`` (body: n): keeps a per-actor in-flight count to catch overlap,
  sleeps 2 ms, adds n to a counter read from and saved to the sidecar's actor state;
* ``slow``: sleeps 0.2 s (to show different ids run in parallel);
* ``call`` (body: {"type","id","method","body"}): calls that actor through the
  sidecar, passing ``Dapr-Reentrancy-Id`` on, and returns its status and body;
* ``whoami``: this process's pid; ``fail``: 500 (with header ``x-with-header``: 418 and X-DaprErrorResponseHeader);
* ``timer/{name}`` and ``remind/{name}``: recorded; a name starting with ``cancel``
  answers ``X-DaprReminderCancel: true``.

``GET /stats`` returns what happened: activations, deactivations, fires, overlaps, and timed
on/off events (to check that an actor is never active in two processes at once).
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from typing import Any

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PORT, SIDECAR, CONFIG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
BASE = f"http://127.0.0.1:{SIDECAR}/v1.0/actors"

active: set[str] = set()
activations: list[str] = []
deactivations: list[str] = []
events: list[tuple[float, str, str]] = []  # (time, actor, "on"|"off"): when this process held each actor
fires: list[dict[str, Any]] = []
inflight: dict[str, int] = defaultdict(int)
overlaps: list[str] = []
concurrent = 0
max_concurrent = 0
session: aiohttp.ClientSession | None = None


def client() -> aiohttp.ClientSession:
    global session
    if session is None:
        session = aiohttp.ClientSession()
    return session


async def config(request: Request) -> Response:
    return Response(CONFIG, media_type="application/json")


async def state_get(actor_type: str, actor_id: str, key: str) -> Any:
    async with client().get(f"{BASE}/{actor_type}/{actor_id}/state/{key}") as reply:
        return json.loads(await reply.read()) if reply.status == 200 else None


async def state_save(actor_type: str, actor_id: str, key: str, value: Any) -> None:
    ops = [{"operation": "upsert", "request": {"key": key, "value": value}}]
    async with client().post(f"{BASE}/{actor_type}/{actor_id}/state", json=ops) as reply:
        assert reply.status == 204, await reply.text()


async def method(request: Request) -> Response:
    global concurrent, max_concurrent
    actor_type, actor_id, name = (request.path_params[k] for k in ("type", "id", "method"))
    key = f"{actor_type}/{actor_id}"
    if key not in active:
        active.add(key)
        activations.append(key)
        events.append((time.time(), key, "on"))
    body = await request.body()
    if name.startswith(("timer/", "remind/")):
        kind, _, which = name.partition("/")
        fires.append({"kind": kind, "actor": key, "name": which, "body": json.loads(body or b"null"),
                      "at": time.time()})
        headers = {"X-DaprReminderCancel": "true"} if which.startswith("cancel") else {}
        return Response(b"", headers=headers)
    inflight[key] += 1
    concurrent += 1
    max_concurrent = max(max_concurrent, concurrent)
    if inflight[key] > 1:
        overlaps.append(key)
    try:
        if name == "increment":
            await asyncio.sleep(0.002)
            count = (await state_get(actor_type, actor_id, "count")) or 0
            count += json.loads(body or b"1")
            await state_save(actor_type, actor_id, "count", count)
            return JSONResponse(count)
        if name == "slow":
            await asyncio.sleep(0.2)
            return JSONResponse("done")
        if name == "call":
            target = json.loads(body)
            headers = {}
            if "dapr-reentrancy-id" in request.headers:
                headers["Dapr-Reentrancy-Id"] = request.headers["dapr-reentrancy-id"]
            timeout = aiohttp.ClientTimeout(total=target.get("timeout", 30))
            try:
                async with client().put(f"{BASE}/{target['type']}/{target['id']}/method/{target['method']}",
                                        json=target.get("body"), headers=headers, timeout=timeout) as reply:
                    return JSONResponse({"status": reply.status, "body": (await reply.read()).decode()})
            except TimeoutError:
                return JSONResponse({"status": "timeout"})
        if name == "whoami":
            return JSONResponse(os.getpid())
        if name == "echo":
            return JSONResponse({"body": body.decode(), "headers": dict(request.headers)})
        if name == "fail":
            headers = {"X-DaprErrorResponseHeader": "yes"} if request.headers.get("x-with-header") else {}
            return Response(b"it broke", status_code=418 if headers else 500, headers=headers)
        return Response(b"no such method", status_code=404)
    finally:
        inflight[key] -= 1
        concurrent -= 1


async def deactivate(request: Request) -> Response:
    key = f"{request.path_params['type']}/{request.path_params['id']}"
    if key in active:
        events.append((time.time(), key, "off"))
    active.discard(key)
    deactivations.append(key)
    return Response(b"")


async def stats(request: Request) -> Response:
    return JSONResponse({"pid": os.getpid(), "active": sorted(active), "activations": activations,
                         "deactivations": deactivations, "fires": fires, "overlaps": overlaps,
                         "max_concurrent": max_concurrent, "events": events,
                         "inflight": {k: v for k, v in inflight.items() if v}})


app = Starlette(routes=[
    Route("/dapr/config", config, methods=["GET"]),
    Route("/actors/{type}/{id}/method/{method:path}", method, methods=["PUT"]),
    Route("/actors/{type}/{id}", deactivate, methods=["DELETE"]),
    Route("/stats", stats, methods=["GET"]),
])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
