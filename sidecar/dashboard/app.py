"""The dashboard's web app: one static page, and the JSON API it polls.

``GET /api/apps``                   every app with its replicas (ports, pids, uptime, health)
``GET /api/apps/{id}``              one app: replicas, components, subscriptions, actors
``GET /api/apps/{id}/logs``         the tail of each replica's log (``?source=sidecar``, ``?lines=N``)

Errors use Dapr's shape, ``{"errorCode": ..., "message": ...}``.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..home import run_dir
from . import data

__all__ = ["build_app"]

STATIC = Path(__file__).parent / "static"
_MAX_LINES = 5000


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def build_app(folder: Path | None = None) -> Starlette:
    """The dashboard over the sidecars registered in ``folder`` (default: this Tandem home's run folder)."""
    registry = folder or run_dir()
    session: dict[str, aiohttp.ClientSession] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        session["http"] = data.new_session()
        try:
            yield
        finally:
            await session.pop("http").close()

    async def probes() -> list[data.Probe]:
        return await data.probe_all(session["http"], registry)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def apps(request: Request) -> Response:
        return JSONResponse({"apps": data.apps_summary(await probes())})

    async def app(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        detail = data.app_detail(app_id, await probes())
        if detail is None:
            return _not_found(app_id)
        return JSONResponse(detail)

    async def logs(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        source = request.query_params.get("source", "app")
        if source not in ("app", "sidecar"):
            return _error(400, "ERR_MALFORMED_REQUEST", f"source must be app or sidecar, not {source!r}")
        raw = request.query_params.get("lines", "200")
        if not raw.isdigit() or not 0 < int(raw) <= _MAX_LINES:
            return _error(400, "ERR_MALFORMED_REQUEST", f"lines must be a whole number from 1 to {_MAX_LINES}")
        found: dict[str, Any] | None = await asyncio.to_thread(
            data.app_logs, app_id, await probes(), source == "sidecar", int(raw))
        if found is None:
            return _not_found(app_id)
        return JSONResponse(found)

    async def unknown_api(request: Request) -> Response:
        return _error(404, "ERR_NOT_FOUND", f"no dashboard API at {request.url.path}")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/apps", apps),
            Route("/api/apps/{app_id}", app),
            Route("/api/apps/{app_id}/logs", logs),
            Route("/api/{rest:path}", unknown_api),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )


def _not_found(app_id: str) -> JSONResponse:
    return _error(404, "ERR_APP_NOT_FOUND", f"no running app with id '{app_id}' (see /api/apps)")
