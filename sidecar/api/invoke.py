"""Service invocation (spec §1): ``/v1.0/invoke/{app-id}/method/{method...}``, the
``dapr-app-id`` header and HTTP Basic forms, and the internal endpoint other
sidecars call. All raw ASGI: the body streams through, nothing is buffered whole.
"""
from __future__ import annotations

import base64
import binascii
import posixpath
import re
from urllib.parse import quote, unquote

from multidict import CIMultiDict
from starlette.types import Receive, Scope, Send

from ..blocks.invoke import WRONG_TARGET_HEADER, Invoker, Target, invoke_error
from ..errors import DaprError
from ..proxy import RequestBody, outgoing_headers
from ..tracecontext import for_next_hop
from .responses import send_error

__all__ = ["InvokeByPath", "InvokeByHeader", "InternalInvoke", "app_id_from_headers"]

_PREFIX = b"/v1.0/invoke/"
_DROP = frozenset({b"dapr-app-id", b"dapr-api-token", b"destination-app-id"})
_UNSAFE = re.compile(r"[\x00-\x1f\x7f#?]")
_NO_APP_ID = DaprError(404, "ERR_DIRECT_INVOKE",
                       "failed getting app id either from the URL path or the header dapr-app-id")


def parse_target(raw: str) -> Target:
    """``name`` or ``name.namespace`` (one dot at most), URL-unescaped."""
    app_id = unquote(raw)
    parts = app_id.split(".")
    if not app_id or len(parts) > 2 or not all(parts):
        raise DaprError(500, "ERR_DIRECT_INVOKE", f"failed to invoke, id: {app_id}, err: invalid app id")
    return Target(parts[0], parts[1] if len(parts) == 2 else None)


def clean_method(raw: bytes, query: bytes) -> bytes:
    """The path to call on the target: normalised like Go's ``path.Clean``, unsafe ones refused."""
    text = raw.decode("latin-1")
    decoded = unquote(text)
    if _UNSAFE.search(decoded):
        raise DaprError(400, "ERR_DIRECT_INVOKE", f"invalid method name {decoded!r}: control characters, '#' and '?' "
                        "are not allowed")
    segments = decoded.split("/")
    if "." in segments or ".." in segments:
        path = quote(posixpath.normpath("/" + decoded), safe="/:@!$&'()*+,;=~")
    else:
        path = "/" + "/".join(s for s in text.split("/") if s)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    target = path.encode("latin-1")
    return target + b"?" + query if query else target


def app_id_from_headers(scope: Scope) -> tuple[str | None, bool]:
    """The target from ``dapr-app-id`` or HTTP Basic ``dapr-app-id:<id>``; ``(id, used_basic)``."""
    basic = None
    for name, value in scope["headers"]:
        if name == b"dapr-app-id":
            return value.decode("latin-1").strip(), False
        if name == b"authorization" and value[:6].lower() == b"basic ":
            basic = value[6:]
    if basic is not None:
        try:
            user, _, password = base64.b64decode(basic, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        if user == "dapr-app-id" and password:
            return password, True
    return None, False


def _trace_headers(headers: CIMultiDict[str], scope: Scope) -> CIMultiDict[str]:
    """The next hop's ``traceparent``/``tracestate`` in place of the caller's (spec §1.1)."""
    traceparent, tracestate = for_next_hop(scope)
    headers["traceparent"] = traceparent
    if tracestate:
        headers["tracestate"] = tracestate
    else:
        headers.popall("tracestate", None)
    return headers


async def _carry(invoker: Invoker, target: Target, method: bytes, scope: Scope, receive: Receive, send: Send,
                 drop: frozenset[bytes] = _DROP) -> None:
    headers = _trace_headers(outgoing_headers(scope["headers"], drop), scope)
    body = RequestBody(receive, _length(scope))
    try:
        if invoker.is_self(target):
            await invoker.to_app(scope["method"], method, headers, body, send, target)
        else:
            await invoker.to_sidecar(target, scope["method"], method, headers, body, send)
    except DaprError:
        if body.refused is not None:
            raise body.refused from None  # the body broke our limit while streaming: not the app's failure
        raise


def _length(scope: Scope) -> int | None:
    """The declared body length; ``None`` for a chunked body; 0 when there is none (HTTP/1.1)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
        if name == b"transfer-encoding":
            return None
    return 0


class InvokeByPath:
    """``/v1.0/invoke/{app-id}/method/{method...}``, any verb."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        rest = raw.split(b"?", 1)[0][len(_PREFIX):]
        app_raw, sep, method = rest.partition(b"/method/")
        if not sep:
            raise _NO_APP_ID
        target = parse_target(app_raw.decode("latin-1"))
        await _carry(self.invoker, target, clean_method(method, scope["query_string"]), scope, receive, send)


class InvokeByHeader:
    """Any path that is no other sidecar route, addressed with ``dapr-app-id`` (header or Basic)."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app_id, basic = app_id_from_headers(scope)
        if not app_id:
            raise _NO_APP_ID
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        method = clean_method(raw.split(b"?", 1)[0], scope["query_string"])
        drop = _DROP | {b"authorization"} if basic else _DROP
        await _carry(self.invoker, parse_target(app_id), method, scope, receive, send, drop)


class InternalInvoke:
    """The internal port: calls from other sidecars for our app, carried to it as they came."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        callee = namespace = None
        for name, value in scope["headers"]:
            if name == b"dapr-callee-app-id":
                callee = value.decode("latin-1")
            elif name == b"dapr-callee-namespace":
                namespace = value.decode("latin-1")
        if callee != self.invoker.app_id or (namespace or None) != (self.invoker.namespace or None):
            error = invoke_error(callee, f"this sidecar serves app id {self.invoker.app_id!r}")
            await send_error(send, error, extra=[(WRONG_TARGET_HEADER.encode(), b"1")])
            return
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw + b"?" + scope["query_string"] if scope["query_string"] else raw
        headers = _trace_headers(outgoing_headers(scope["headers"], frozenset({b"dapr-callee-namespace"})), scope)
        body = RequestBody(receive, _length(scope))
        try:
            await self.invoker.to_app(scope["method"], path, headers, body, send, callee)
        except DaprError as error:
            await send_error(send, body.refused or error)
