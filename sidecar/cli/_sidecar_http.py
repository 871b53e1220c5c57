"""The few sidecar calls the CLI makes (healthz, metadata), blocking and with short timeouts.

Plain urllib: the CLI makes a handful of calls, so a client library would only add
start-up time. ``DAPR_API_TOKEN`` from the environment is sent, as the sidecar
requires it on every API but the health checks.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

__all__ = ["sidecar_url", "connect_host", "outbound_ready", "get_metadata", "put_metadata"]

# The sidecar is local: never route through an HTTP proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def connect_host(listen_addresses: str | None) -> str:
    """The address to reach a sidecar listening on ``listen_addresses`` (loopback for wildcards)."""
    first = (listen_addresses or "").split(",")[0].strip().strip("[]")
    if first in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if first == "::":
        return "::1"
    return first


def sidecar_url(host: str, port: int) -> str:
    host = connect_host(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _request(method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    headers = {"Content-Type": "text/plain"} if body is not None else {}
    token = os.environ.get("DAPR_API_TOKEN")
    if token:
        headers["dapr-api-token"] = token
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def outbound_ready(base: str, timeout: float = 0.5) -> bool:
    """True once the sidecar's own APIs are usable (before the app's port opens)."""
    try:
        status, _ = _request("GET", f"{base}/v1.0/healthz/outbound", None, timeout)
    except (OSError, ValueError):
        return False
    return status == 204


def get_metadata(base: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The sidecar's ``GET /v1.0/metadata`` document, or None if it cannot be read."""
    try:
        status, body = _request("GET", f"{base}/v1.0/metadata", None, timeout)
        data = json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def put_metadata(base: str, key: str, value: str, timeout: float = 2.0) -> bool:
    """Store ``extended[key]`` in the sidecar's metadata; False if it refused or is unreachable."""
    try:
        status, _ = _request("PUT", f"{base}/v1.0/metadata/{key}", value.encode(), timeout)
    except (OSError, ValueError):
        return False
    return 200 <= status < 300
