"""What an API request is, for metrics, spans and log lines: its API, route and invocation target.

Dapr labels its HTTP metrics with the path minus ids and keys (``/v1.0/state/store``
for every key of ``store``), names invocation spans ``CallLocal/<app>/<method>`` and
every other API span after the path, and attributes spans by building block
(``db.*`` for state, secrets and bindings; ``messaging.*`` for publish;
``rpc.service`` for invocation). :func:`classify` works that out once per
path and caches it, since the same few paths come back on every request.
"""
from __future__ import annotations

from typing import NamedTuple
from urllib.parse import unquote

from starlette.types import Scope

__all__ = ["Call", "Classifier", "span_attributes", "span_name"]

_INVOKE_PREFIX = "/v1.0/invoke/"
_CACHE_LIMIT = 2048
_HEALTH = ("/v1.0/healthz", "/v1.0/healthz/outbound")
_DB_APIS = {"state": "state", "secrets": "secrets", "bindings": "bindings"}


class Call(NamedTuple):
    """One request as the observers see it."""

    #: The path with ids and keys left out: the ``path`` metric label and the obfuscated URL.
    route: str
    #: ``state``, ``publish``, ``invoke`` … (the second path segment), ``""`` when unknown.
    api: str
    #: The resource named in the path: store, pub/sub, binding or target app id.
    resource: str = ""
    #: Invocation only: the method path on the target app (no leading slash, no query).
    method: str = ""
    #: Publish only: the topic.
    topic: str = ""
    health: bool = False


def _invoke(app_id: str, method: str) -> Call:
    return Call(f"/v1.0/invoke/{app_id}/method", "invoke", app_id, method.lstrip("/"))


def _classify_path(path: str) -> Call:
    if path.startswith(_INVOKE_PREFIX):
        app_raw, sep, method = path[len(_INVOKE_PREFIX):].partition("/method/")
        return _invoke(unquote(app_raw), method) if sep else Call(path, "invoke")
    parts = path.split("/")
    if len(parts) < 3 or not parts[1].startswith("v1.0"):
        return Call("", "")
    api = parts[2]
    if path in _HEALTH:
        return Call(path, api, health=True)
    if api == "publish":
        if len(parts) > 3 and parts[3] == "bulk":
            return Call(path, api, parts[4] if len(parts) > 4 else "", topic="/".join(parts[5:]))
        return Call(path, api, parts[3] if len(parts) > 3 else "", topic="/".join(parts[4:]))
    if api == "actors" and len(parts) >= 6:
        # /v1.0/actors/<type>/<id>/<kind>/...: the id left out, as Dapr does.
        return Call("/".join([*parts[:4], "{id}", parts[5]]), api, parts[3],
                    method=parts[6] if len(parts) > 6 else "")
    return Call("/".join(parts[:4]), api, parts[3] if len(parts) > 3 else "")


class Classifier:
    """:func:`classify` with a bounded cache (paths are few; a flood of odd ones resets it)."""

    def __init__(self) -> None:
        self._cache: dict[str, Call] = {}

    def __call__(self, scope: Scope) -> Call:
        path: str = scope["path"]
        found = self._cache.get(path)
        if found is None:
            found = _classify_path(path)
            if not found.api and not found.route:
                # Not a sidecar route: the header form of invocation, if it names an app.
                target = _header_app_id(scope)
                return _invoke(target, path) if target else found
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[path] = found
        return found


def _header_app_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"dapr-app-id":
            return value.decode("latin-1").strip() or None
    return None


def span_name(call: Call, method: str, path: str) -> str:
    """Dapr's span names: ``CallLocal/<app>/<method>`` for invocation, ``CallActor/<type>/<method>``
    for actor methods, the path for everything else."""
    if call.api == "invoke" and call.resource:
        return f"CallLocal/{call.resource}/{call.method}"
    if call.api == "actors" and call.route.endswith("/method"):
        return f"CallActor/{call.resource}/{call.method}"
    return path


def span_attributes(call: Call, method: str, path: str) -> dict[str, str]:
    """The attributes Dapr puts on an API span (the status code is added at the end)."""
    attributes = {"dapr.protocol": "http", "dapr.api": f"{method} {path}"}
    if call.api in _DB_APIS:
        system = _DB_APIS[call.api]
        attributes.update({"db.system": system, "db.name": call.resource, "db.statement": f"{method} {path}",
                           "db.connection_string": system})
    elif call.api == "invoke":
        attributes.update({"rpc.service": "ServiceInvocation", "net.peer.name": call.resource,
                           "dapr.invoke_method": call.method})
    elif call.api == "publish":
        attributes.update({"messaging.system": "pubsub", "messaging.destination.name": call.topic,
                           "messaging.destination_kind": "topic"})
    elif call.api == "actors":
        parts = path.split("/")
        if len(parts) > 4:
            attributes["dapr.actor"] = f"{parts[3]}.{parts[4]}"
        if call.route.endswith("/method"):
            attributes.update({"rpc.service": "ServiceInvocation", "net.peer.name": attributes.get("dapr.actor", "")})
        elif call.route.endswith("/state"):
            attributes.update({"db.system": "state", "db.name": "actor"})
    return attributes
