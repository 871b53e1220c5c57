"""What the dashboard shows, gathered live: the run folder, each sidecar's metadata and health.

Every request reads the run folder (which sidecars live, their ports) and asks each
sidecar, in parallel, for ``GET /v1.0/metadata`` and ``GET /v1.0/healthz``; psutil
gives the uptimes. Nothing is cached, so a page is never staler than one refresh.
Wire names are camelCase, like the metadata API they come from.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from ..cli._sidecar_http import sidecar_url
from ..cli.logfiles import tail
from ..instances import Instance, live_instances

__all__ = ["Probe", "probe_all", "apps_summary", "app_detail", "app_logs"]

_TIMEOUT = aiohttp.ClientTimeout(total=1.5)


@dataclass(frozen=True)
class Probe:
    """One sidecar as seen now: its registry entry, metadata (None if unreadable) and health."""

    instance: Instance
    metadata: Mapping[str, Any] | None
    health: str  # healthy | unhealthy | unreachable

    @property
    def extended(self) -> Mapping[str, Any]:
        ext = (self.metadata or {}).get("extended")
        return ext if isinstance(ext, Mapping) else {}

    @property
    def replica(self) -> int | None:
        value = str(self.extended.get("replica") or "")
        return int(value) if value.isdigit() else None


async def _probe(session: aiohttp.ClientSession, instance: Instance) -> Probe:
    base = sidecar_url(instance.address, instance.http_port)
    token = os.environ.get("DAPR_API_TOKEN")
    headers = {"dapr-api-token": token} if token else {}

    async def metadata() -> Mapping[str, Any] | None:
        try:
            async with session.get(f"{base}/v1.0/metadata", headers=headers) as resp:
                data = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        return data if isinstance(data, Mapping) else None

    async def health() -> str:
        try:
            async with session.get(f"{base}/v1.0/healthz") as resp:
                return "healthy" if resp.status == 204 else "unhealthy"
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return "unreachable"

    meta, state = await asyncio.gather(metadata(), health())
    return Probe(instance, meta, state)


async def probe_all(session: aiohttp.ClientSession, folder: Path) -> list[Probe]:
    """Every live sidecar of the run folder, probed in parallel."""
    instances = await asyncio.to_thread(live_instances, folder)
    return list(await asyncio.gather(*(_probe(session, i) for i in instances)))


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=_TIMEOUT)


def _uptime(pid: int, now: float) -> float | None:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(now - float(proc.create_time()), 1)
    except (psutil.Error, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value)) or None
    except ValueError:
        return None


def instance_view(p: Probe, now: float) -> dict[str, Any]:
    """One replica: ports, pids, uptimes, health, and where its logs go."""
    ext, inst = p.extended, p.instance
    app_pid = _int(ext.get("appPID"))
    return {
        "appId": inst.app_id, "replica": p.replica, "health": p.health,
        "httpPort": inst.http_port, "appPort": inst.app_port, "internalPort": inst.internal_port,
        "daprdPid": inst.pid, "appPid": app_pid, "cliPid": _int(ext.get("cliPID")),
        "uptimeSeconds": _uptime(inst.pid, now), "appUptimeSeconds": _uptime(app_pid, now) if app_pid else None,
        "command": ext.get("appCommand") or "", "runFile": ext.get("runTemplatePath") or None,
        "appLogPath": ext.get("appLogPath") or None, "daprdLogPath": ext.get("daprdLogPath") or None,
        "runtimeVersion": (p.metadata or {}).get("runtimeVersion"),
    }


def _group(probes: list[Probe]) -> dict[str, list[Probe]]:
    groups: dict[str, list[Probe]] = {}
    for p in sorted(probes, key=lambda p: (p.instance.app_id, p.replica or 0, p.instance.pid)):
        groups.setdefault(p.instance.app_id, []).append(p)
    return groups


def _list(meta: Mapping[str, Any] | None, key: str) -> list[Mapping[str, Any]]:
    value = (meta or {}).get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def apps_summary(probes: list[Probe]) -> list[dict[str, Any]]:
    """Every app with its replicas, and the names of its components and topics for the overview."""
    now = time.time()
    apps = []
    for app_id, group in _group(probes).items():
        meta = next((p.metadata for p in group if p.metadata), None)
        apps.append({
            "appId": app_id, "replicas": len(group),
            "healthy": sum(p.health == "healthy" for p in group),
            "instances": [instance_view(p, now) for p in group],
            "components": [c.get("name") for c in _list(meta, "components")],
            "topics": [s.get("topic") for s in _list(meta, "subscriptions")],
        })
    return apps


def app_detail(app_id: str, probes: list[Probe]) -> dict[str, Any] | None:
    """One app: its replicas, components, subscriptions and actors (counts summed over replicas)."""
    group = _group(probes).get(app_id)
    if not group:
        return None
    now = time.time()
    meta = next((p.metadata for p in group if p.metadata), None) or {}
    actors: dict[str, int] = {}
    for p in group:
        for entry in _list(p.metadata, "actors"):
            kind = str(entry.get("type") or "")
            actors[kind] = actors.get(kind, 0) + (_int(entry.get("count")) or 0)
    return {
        "appId": app_id,
        "instances": [instance_view(p, now) for p in group],
        "runtimeVersion": meta.get("runtimeVersion"),
        "enabledFeatures": meta.get("enabledFeatures") or [],
        "components": [
            {"name": c.get("name"), "type": c.get("type"), "version": c.get("version"),
             "capabilities": c.get("capabilities") or []}
            for c in _list(meta, "components")
        ],
        "subscriptions": [
            {"pubsubname": s.get("pubsubname"), "topic": s.get("topic"), "type": s.get("type"),
             "routes": [{"match": r.get("match") or "", "path": r.get("path")} for r in _list(s, "rules")],
             "deadLetterTopic": s.get("deadLetterTopic")}
            for s in _list(meta, "subscriptions")
        ],
        "actors": [{"type": k, "count": v} for k, v in sorted(actors.items())],
        "actorRuntime": meta.get("actorRuntime"),
    }


def app_logs(app_id: str, probes: list[Probe], sidecar: bool, lines: int) -> dict[str, Any] | None:
    """The last ``lines`` lines of each replica's log file (the app's, or its sidecar's)."""
    group = _group(probes).get(app_id)
    if not group:
        return None
    key = "daprdLogPath" if sidecar else "appLogPath"
    logs = []
    for p in group:
        path = p.extended.get(key)
        logs.append({"replica": p.replica, "daprdPid": p.instance.pid, "path": path or None,
                     "lines": tail(Path(str(path)), lines) if path else []})
    return {"appId": app_id, "source": "sidecar" if sidecar else "app", "logs": logs}
