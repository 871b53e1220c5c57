"""``bindings.http``: an output binding calling one HTTP endpoint (Dapr's ``bindings.http``).

Metadata: ``url`` (required, the base URL), ``securityToken`` + ``securityTokenHeader``
(a header added to every request), ``responseTimeout`` (Go duration; none by
default), ``maxResponseBodySize`` (default 100Mi; the rest is cut off),
``errorIfNot2XX`` (default true). mTLS fields are refused rather than ignored.

Operations are the HTTP verbs in lower case, plus ``create`` (a POST, kept by
Dapr for backward compatibility). Request metadata, as in Dapr:

* ``path`` is appended to ``url`` (one ``/`` between them);
* ``errorIfNot2XX`` overrides the component's setting for this call;
* keys starting with an upper-case letter (``Content-Type``, ``X-Trace`` …) are
  sent as headers, as are ``traceparent``/``tracestate``; other keys are not.

The response metadata holds ``statusCode``, ``status`` (Go's ``"200 OK"``) and
every response header (canonical case, repeated values joined with ``", "``).
A status outside 2xx is an error (unless ``errorIfNot2XX`` is false) that still
carries that metadata.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from http import HTTPStatus

import aiohttp

from ..components.base import ComponentMetadata, MetadataError
from ..components.bindings import BindingError, InvokeRequest, InvokeResponse, OutputBinding

__all__ = ["HttpBinding", "canonical_header"]

_OPERATIONS = ("create", "get", "head", "post", "put", "patch", "delete", "options", "trace")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_JSON = "application/json; charset=utf-8"
_DEFAULT_MAX_BODY = 100 * 1024 * 1024
_CONNECT_TIMEOUT = 15.0
_UNSUPPORTED = ("MTLSRootCA", "MTLSClientCert", "MTLSClientKey", "MTLSRenegotiation")


def canonical_header(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: ``content-type`` → ``Content-Type``."""
    if not name or any(not (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _truthy(value: str) -> bool:
    """dapr/kit's ``IsTruthy``."""
    return value.strip().lower() in ("y", "yes", "true", "t", "on", "1")


class HttpBinding(OutputBinding):
    """One pooled aiohttp session for every call of the component."""

    def __init__(self) -> None:
        self._url = ""
        self._token: tuple[str, str] | None = None
        self._timeout: float | None = None
        self._max_body = _DEFAULT_MAX_BODY
        self._error_if_not_2xx = True
        self._session: aiohttp.ClientSession | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        self._url = metadata.require("url")
        if not self._url.startswith(("http://", "https://")):
            raise MetadataError(f"metadata field 'url': not an http(s) URL: {self._url!r}")
        for name in _UNSUPPORTED:
            if metadata.get(name):
                raise MetadataError(f"metadata field {name!r}: mTLS is not supported by this bindings.http")
        token, header = metadata.get("securityToken") or "", metadata.get("securityTokenHeader") or ""
        if token and header:
            self._token = (header, token)
        timeout = metadata.get_duration("responseTimeout", 0.0)
        self._timeout = timeout if timeout > 0 else None
        self._max_body = metadata.get_size("maxResponseBodySize", _DEFAULT_MAX_BODY)
        value = metadata.get("errorIfNot2XX")
        self._error_if_not_2xx = _truthy(value) if value else True  # anything not truthy is false, as in Dapr

    def operations(self) -> Sequence[str]:
        return _OPERATIONS

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop, as aiohttp wants.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=_CONNECT_TIMEOUT), auto_decompress=True)
        return self._session

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        if request.operation not in self.operations():
            raise BindingError(f"operation {request.operation!r} is not supported by bindings.http "
                               f"(supported: {', '.join(self.operations())})")
        metadata = dict(request.metadata)
        url = self._url
        if metadata.get("path"):
            url = url.rstrip("/") + "/" + metadata["path"].lstrip("/")
        error_if_not_2xx = self._error_if_not_2xx
        if metadata.get("errorIfNot2XX"):
            error_if_not_2xx = _truthy(metadata["errorIfNot2XX"])
        method = "POST" if request.operation == "create" else request.operation.upper()
        body = request.data if method in _WITH_BODY else None
        headers = self._headers(metadata, body is not None)
        timeout = aiohttp.ClientTimeout(total=self._timeout, connect=_CONNECT_TIMEOUT)
        try:
            async with self._client().request(method, url, data=body, headers=headers, timeout=timeout) as reply:
                data = await self._read(reply)
                answer = {"statusCode": str(reply.status), "status": f"{reply.status} {_reason(reply)}".strip()}
                for key in reply.headers:
                    name = canonical_header(key)
                    if name not in answer:
                        answer[name] = ", ".join(reply.headers.getall(key))
        except asyncio.TimeoutError:
            raise BindingError(f"{method} {url}: no answer within {self._timeout}s") from None
        except aiohttp.ClientError as exc:
            raise BindingError(f"{method} {url}: {exc}") from None
        if error_if_not_2xx and not 200 <= reply.status < 300:
            raise BindingError(f"received status code {reply.status}", answer)
        return InvokeResponse(data, answer)

    def _headers(self, metadata: dict[str, str], has_body: bool) -> dict[str, str]:
        headers: dict[str, str] = {}
        if has_body and "Content-Type" not in metadata:
            headers["Content-Type"] = _JSON
        if "Accept" not in metadata:
            headers["Accept"] = _JSON
        if self._token is not None:
            headers[self._token[0]] = self._token[1]
        for key, value in metadata.items():
            if key[:1].isascii() and key[:1].isupper():
                headers[key] = value
        for key in ("traceparent", "tracestate"):
            if metadata.get(key):
                headers[key] = metadata[key]
        return headers

    async def _read(self, reply: aiohttp.ClientResponse) -> bytes:
        """The body, cut at ``maxResponseBodySize`` (a limit of 0 or less means none)."""
        if self._max_body <= 0:
            return await reply.read()
        chunks, size = [], 0
        async for chunk in reply.content.iter_chunked(64 * 1024):
            chunks.append(chunk[: self._max_body - size])
            size += len(chunks[-1])
            if size >= self._max_body:
                break
        return b"".join(chunks)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _reason(reply: aiohttp.ClientResponse) -> str:
    """The server's reason phrase (Go keeps the status line); the standard one if it sent none."""
    if reply.reason:
        return reply.reason
    try:
        return HTTPStatus(reply.status).phrase
    except ValueError:
        return ""
