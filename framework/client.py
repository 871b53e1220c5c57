"""Async client for the sidecar's HTTP API (Dapr v1.0), over one pooled aiohttp session.

Where the sidecar is comes from the environment when a client is made, never at import:
``DAPR_HTTP_ENDPOINT`` (a full URL) wins, else ``http://127.0.0.1:$DAPR_HTTP_PORT`` (port
3500 by default); ``DAPR_API_TOKEN``, when set, is sent as the ``dapr-api-token`` header.

State values travel as JSON: Dapr's state API takes ``{"key", "value"}`` items and stores
the JSON serialisation of ``value``. So any JSON-serialisable value can be saved (a `str`
is stored with its quotes), `StateResult.data` holds the stored bytes exactly, and
`StateResult.json()` gives the value back. To store opaque bytes, encode them (base64)
first. Every non-2xx reply raises `SidecarError`; no reply raises `SidecarUnavailable`.
The exception is `Client.invoke`: the invoked app's status is the caller's business, so it
returns the reply whatever its status (see `SidecarResponse.invocation_failed` and
`SidecarResponse.raise_for_status`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .actors.calls import ActorCalls
from .errors import SidecarError, SidecarUnavailable
from .tracing import inject

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "BindingResult",
    "BulkPublishEntry",
    "BulkPublishFailure",
    "BulkStateItem",
    "Client",
    "SidecarResponse",
    "StateItem",
    "StateResult",
    "TransactionOperation",
]

DEFAULT_HTTP_PORT = 3500

Concurrency = Literal["first-write", "last-write"]
Consistency = Literal["strong", "eventual"]
Params = Mapping[str, str] | Sequence[tuple[str, str]]


# -- state types ------------------------------------------------------------------------


@dataclass(frozen=True)
class StateItem:
    """One key to save; `value` is sent as JSON."""

    key: str
    value: Any = None
    etag: str | None = None
    metadata: Mapping[str, str] | None = None
    concurrency: Concurrency | None = None
    consistency: Consistency | None = None
    ttl_in_seconds: int | None = None

    def to_wire(self, *, with_value: bool = True) -> dict[str, Any]:
        """The camelCase JSON item of Dapr's state API."""
        item: dict[str, Any] = {"key": self.key}
        if with_value:
            item["value"] = self.value
        if self.etag is not None:
            item["etag"] = self.etag
        metadata = dict(self.metadata or {})
        if self.ttl_in_seconds is not None:
            metadata["ttlInSeconds"] = str(self.ttl_in_seconds)
        if metadata:
            item["metadata"] = metadata
        options = {"concurrency": self.concurrency, "consistency": self.consistency}
        options = {k: v for k, v in options.items() if v is not None}
        if options:
            item["options"] = options
        return item


@dataclass(frozen=True)
class TransactionOperation:
    """One operation of `Client.transact_state`; build with `upsert` or `delete`."""

    operation: Literal["upsert", "delete"]
    item: StateItem

    @classmethod
    def upsert(cls, key: str, value: Any, **options: Any) -> TransactionOperation:
        """Save `value` under `key` (options as for `StateItem`)."""
        return cls("upsert", StateItem(key, value, **options))

    @classmethod
    def delete(cls, key: str, **options: Any) -> TransactionOperation:
        """Delete `key` (options as for `StateItem`, e.g. ``etag=``)."""
        return cls("delete", StateItem(key, **options))

    def to_wire(self) -> dict[str, Any]:
        return {"operation": self.operation, "request": self.item.to_wire(with_value=self.operation == "upsert")}


class _Body:
    data: bytes | None

    def text(self) -> str:
        return (self.data or b"").decode("utf-8")

    def json(self) -> Any:
        """The value decoded from JSON; None when there is no data."""
        return json.loads(self.data) if self.data else None


@dataclass(frozen=True)
class StateResult(_Body):
    """A stored value: `data` is the stored bytes (the value's JSON), with its ETag."""

    key: str
    data: bytes
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BulkStateItem(_Body):
    """One key of a bulk get: `data` is None when the key is missing, `error` when it failed."""

    key: str
    data: bytes | None = None
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class SidecarResponse:
    """A raw reply, from `Client.request` and the invocation helpers.

    For `Client.invoke` it is the target app's reply, status and all, unless the sidecars
    could not carry the call: then it is Dapr's ``ERR_DIRECT_INVOKE`` error (500, or 404
    when no app id was given, 403 when access control refused), which `invocation_failed`
    tells apart. An app that itself answers with such a body (say, relaying a nested call
    that failed) looks the same, as it does in Dapr.
    """

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        """Dapr's ``errorCode`` when the body is a Dapr error (``{"errorCode": ...}``), else None."""
        if self.ok or not self.body.lstrip().startswith(b"{"):
            return None
        try:
            payload = json.loads(self.body)
        except ValueError:
            return None
        code = payload.get("errorCode") if isinstance(payload, dict) else None
        return code if isinstance(code, str) else None

    @property
    def invocation_failed(self) -> bool:
        """True when the sidecar could not reach or resolve the app (``ERR_DIRECT_INVOKE``)."""
        return self.error_code == "ERR_DIRECT_INVOKE"

    def raise_for_status(self) -> SidecarResponse:
        """Raise `SidecarError` (built from the body) unless 2xx; returns self for chaining."""
        if not self.ok:
            raise SidecarError.from_response(self.status, self.body)
        return self

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class BindingResult(_Body):
    """An output binding's answer: its raw `data` (None when it gave none: a 204) and `metadata`.

    `metadata` comes from the ``metadata.*`` reply headers, so its keys are case-insensitive
    (``result.metadata["statusCode"]`` and ``["statuscode"]`` are the same entry).
    """

    data: bytes | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


# -- pub/sub types ----------------------------------------------------------------------


@dataclass(frozen=True)
class BulkPublishEntry:
    """One event of `Client.bulk_publish`; `event` is encoded as for `Client.publish`."""

    event: Any
    entry_id: str | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] | None = None

    def to_wire(self, entry_id: str) -> dict[str, Any]:
        """Dapr's bulk entry: ``event`` is a string for text, base64 for bytes, JSON otherwise."""
        event, ctype = _bulk_event(self.event, self.content_type)
        entry: dict[str, Any] = {"entryId": entry_id, "event": event, "contentType": ctype}
        if self.metadata:
            entry["metadata"] = {str(k): str(v) for k, v in self.metadata.items()}
        return entry


@dataclass(frozen=True)
class BulkPublishFailure:
    """An entry the sidecar could not publish, with its reason (and the entry, to retry it)."""

    entry_id: str
    error: str
    entry: BulkPublishEntry | None = None


# -- client -----------------------------------------------------------------------------


class Client(ActorCalls):
    """Async client for one sidecar; ``async with Client() as c:`` or call `aclose`.

    Arguments left as None come from the environment (see the module docstring); pass
    ``api_token=""`` to send no token whatever the environment says. A `session` passed in
    is used as is and not closed by the client (the seam for tests and shared pools).
    Actor calls (``client.actor(type, id)``, actor state, timers, reminders) come from `ActorCalls`.
    """

    def __init__(
        self, base_url: str | None = None, *, api_token: str | None = None,
        timeout: float | None = 60.0, session: aiohttp.ClientSession | None = None,
    ) -> None:
        if base_url is None or api_token is None:
            env_url, env_token = _from_env(os.environ)
            base_url = env_url if base_url is None else base_url
            api_token = env_token if api_token is None else api_token
        self.base_url = base_url.rstrip("/")
        self.api_token = api_token or None
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *,
        timeout: float | None = 60.0, session: aiohttp.ClientSession | None = None,
    ) -> Client:
        """A client configured from `env` (default: ``os.environ`` as it is now)."""
        base_url, token = _from_env(os.environ if env is None else env)
        return cls(base_url, api_token=token or "", timeout=timeout, session=session)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        if not self._owns_session or self._session is None:
            return
        session, self._session = self._session, None
        await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop, as aiohttp requires.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None,
        data: bytes | str | None = None, headers: Mapping[str, str] | None = None,
        raise_for_status: bool = True,
    ) -> SidecarResponse:
        """Send ``METHOD <base_url><path>``; `path` must already be URL-quoted.

        `json` (when not None) is sent as the JSON body, else `data` as is. Raises
        `SidecarError` on a non-2xx reply unless `raise_for_status` is false.
        """
        url = self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        sent = CIMultiDict(headers or {})
        inject(sent)  # inside a handler: the next sidecar continues the handler's trace
        if self.api_token:
            sent["dapr-api-token"] = self.api_token
        body: bytes | None = data.encode() if isinstance(data, str) else data
        if json is not None:
            body = _dumps(json)
            sent.setdefault("Content-Type", "application/json")
        try:
            async with self._get_session().request(
                method, URL(url, encoded=True), data=body, headers=sent
            ) as resp:
                reply = SidecarResponse(resp.status, CIMultiDictProxy(CIMultiDict(resp.headers)), await resp.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SidecarUnavailable(f"{method} {url} failed: {exc!r}") from exc
        return reply.raise_for_status() if raise_for_status else reply

    # -- state --------------------------------------------------------------------------

    async def save_state(
        self, store: str, key: str, value: Any, *, etag: str | None = None,
        metadata: Mapping[str, str] | None = None, concurrency: Concurrency | None = None,
        consistency: Consistency | None = None, ttl_in_seconds: int | None = None,
    ) -> None:
        """Save one JSON value; a stale `etag` raises `SidecarError` (409, ERR_STATE_SAVE)."""
        item = StateItem(key, value, etag, metadata, concurrency, consistency, ttl_in_seconds)
        await self.save_states(store, [item])

    async def save_states(
        self, store: str, items: Sequence[StateItem], *, metadata: Mapping[str, str] | None = None
    ) -> None:
        """Save several items in one request (`metadata` applies to every item)."""
        await self.request(
            "POST", f"/v1.0/state/{_q(store)}", json=[i.to_wire() for i in items], params=_meta(metadata)
        )

    async def get_state(
        self, store: str, key: str, *, metadata: Mapping[str, str] | None = None,
        consistency: Consistency | None = None,
    ) -> StateResult | None:
        """The stored value with its ETag, or None when the key does not exist."""
        params = _meta(metadata) + ([("consistency", consistency)] if consistency else [])
        resp = await self.request("GET", f"/v1.0/state/{_q(store)}/{_q(key)}", params=params)
        if resp.status == 204:
            return None
        meta = {k[len("metadata.") :]: v for k, v in resp.headers.items() if k.lower().startswith("metadata.")}
        return StateResult(key, resp.body, resp.headers.get("ETag"), meta)

    async def get_bulk_state(
        self, store: str, keys: Sequence[str], *, parallelism: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> list[BulkStateItem]:
        """Several keys at once, in the sidecar's order; `data` is the value re-serialised as JSON."""
        payload: dict[str, Any] = {"keys": list(keys)}
        if parallelism is not None:
            payload["parallelism"] = parallelism
        if metadata:
            payload["metadata"] = dict(metadata)
        resp = await self.request("POST", f"/v1.0/state/{_q(store)}/bulk", json=payload)
        return [
            BulkStateItem(
                key=str(item.get("key", "")),
                data=_dumps(item["data"]) if "data" in item else None,
                etag=item.get("etag") or None,
                metadata=dict(item.get("metadata") or {}),
                error=item.get("error") or None,
            )
            for item in resp.json() or []
        ]

    async def delete_state(
        self, store: str, key: str, *, etag: str | None = None, concurrency: Concurrency | None = None,
        consistency: Consistency | None = None, metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Delete a key (deleting a missing key succeeds); a stale `etag` raises (409)."""
        params = _meta(metadata)
        params += [(k, v) for k, v in (("concurrency", concurrency), ("consistency", consistency)) if v]
        headers = {"If-Match": etag} if etag is not None else None
        await self.request("DELETE", f"/v1.0/state/{_q(store)}/{_q(key)}", params=params, headers=headers)

    async def transact_state(
        self, store: str, operations: Sequence[TransactionOperation], *,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Apply upserts and deletes atomically (any failure: 500 ERR_STATE_TRANSACTION)."""
        payload: dict[str, Any] = {"operations": [op.to_wire() for op in operations]}
        if metadata:
            payload["metadata"] = dict(metadata)
        await self.request("POST", f"/v1.0/state/{_q(store)}/transaction", json=payload)

    # -- metadata, health, shutdown -----------------------------------------------------

    async def get_metadata(self) -> dict[str, Any]:
        """The sidecar's ``/v1.0/metadata`` document (app id, components, subscriptions ...)."""
        result = (await self.request("GET", "/v1.0/metadata")).json()
        return result if isinstance(result, dict) else {}

    async def set_metadata(self, key: str, value: str) -> None:
        """Set a custom attribute, shown under ``extended`` in the metadata."""
        await self.request(
            "PUT", f"/v1.0/metadata/{_q(key)}", data=value, headers={"Content-Type": "text/plain"}
        )

    async def health(self, *, outbound: bool = False) -> bool:
        """Whether the sidecar is ready (`outbound`: its APIs, before the app is connected)."""
        path = "/v1.0/healthz/outbound" if outbound else "/v1.0/healthz"
        try:
            resp = await self.request("GET", path, raise_for_status=False)
        except SidecarUnavailable:
            return False
        return 200 <= resp.status < 300

    async def wait_for_sidecar(self, timeout: float = 60.0, *, interval: float = 0.1) -> None:
        """Poll the outbound health check until it passes; `SidecarUnavailable` after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await self.health(outbound=True):
            if loop.time() >= deadline:
                raise SidecarUnavailable(f"sidecar at {self.base_url} not ready after {timeout}s")
            await asyncio.sleep(interval)

    async def shutdown(self) -> None:
        """Ask the sidecar to shut down gracefully."""
        await self.request("POST", "/v1.0/shutdown")

    # -- secrets ------------------------------------------------------------------------

    async def get_secret(
        self, store: str, name: str, metadata: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Secret `name` of secret store `store` as its keys and values ({} when the store has no data).

        Raises `SidecarError`: 401 unknown store, 403 denied by the Configuration's secret
        scopes, 500 the store failed or holds no such secret.
        """
        resp = await self.request("GET", f"/v1.0/secrets/{_q(store)}/{_q(name)}", params=_meta(metadata))
        data = resp.json() if resp.status != 204 else None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    async def get_bulk_secret(
        self, store: str, metadata: Mapping[str, str] | None = None
    ) -> dict[str, dict[str, str]]:
        """Every secret of `store` this app may read, by name (secrets denied by scopes are left out)."""
        resp = await self.request("GET", f"/v1.0/secrets/{_q(store)}/bulk", params=_meta(metadata))
        data = resp.json() if resp.status != 204 else None
        if not isinstance(data, dict):
            return {}
        return {
            str(name): {str(k): str(v) for k, v in values.items()}
            for name, values in data.items() if isinstance(values, dict)
        }

    # -- invocation, pub/sub, output bindings -------------------------------------------

    async def invoke(
        self, app_id: str, method: str, data: Any = None, *, http_verb: str = "POST",
        headers: Mapping[str, str] | None = None, query: Params | str | None = None,
        content_type: str | None = None,
    ) -> SidecarResponse:
        """Call ``VERB /<method>?<query>`` on app `app_id` through this client's sidecar.

        `data`: bytes as is, text as text, None as no body, anything else as JSON (the
        content type follows unless `content_type` or a ``Content-Type`` header says
        otherwise). `query` is a mapping or pairs to encode, or a raw query string sent
        verbatim. Never raises on the reply's status: the caller needs the app's own
        status; `SidecarResponse.invocation_failed` and `raise_for_status` sort it out.
        No reply at all from the sidecar still raises `SidecarUnavailable`.
        """
        body, ctype = _encode(data, content_type)
        sent = CIMultiDict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        elif ctype:
            sent.setdefault("Content-Type", ctype)
        path = f"/v1.0/invoke/{_q(app_id)}/method/{quote(method.lstrip('/'), safe='/')}"
        params: Params | None = None
        if isinstance(query, str):
            if query.lstrip("?"):
                path += "?" + query.lstrip("?")
        else:
            params = query
        return await self.request(
            http_verb.upper(), path, data=body, headers=sent, params=params, raise_for_status=False
        )

    async def invoke_method(
        self, app_id: str, method: str, data: Any = None, *, http_verb: str = "POST",
        content_type: str | None = None, headers: Mapping[str, str] | None = None,
        params: Params | None = None,
    ) -> SidecarResponse:
        """`invoke`, but the app's non-2xx reply raises `SidecarError`."""
        reply = await self.invoke(
            app_id, method, data, http_verb=http_verb, headers=headers, query=params, content_type=content_type
        )
        return reply.raise_for_status()

    async def publish(
        self, pubsub: str, topic: str, data: Any, *, content_type: str | None = None,
        metadata: Mapping[str, str] | None = None, raw_payload: bool = False,
    ) -> None:
        """Publish `data` to `topic` of component `pubsub`; the sidecar wraps it in a CloudEvent.

        bytes go as ``application/octet-stream`` (delivered as ``data_base64``), str as
        ``text/plain``, anything else (None too) as ``application/json``. Pass
        ``content_type="application/cloudevents+json"`` with a CloudEvent-shaped dict to send
        your own envelope (the sidecar completes it). `raw_payload` skips the envelope
        (``metadata.rawPayload=true``). Raises `SidecarError`: 404 unknown pub/sub, 403 a
        topic this app may not publish to, 500 the broker refused.
        """
        meta = dict(metadata or {})
        if raw_payload:
            meta["rawPayload"] = "true"
        body, ctype = _encode_event(data, content_type)
        headers = {"Content-Type": ctype} if ctype else None
        await self.request("POST", _publish_path("v1.0", pubsub, topic), data=body, headers=headers,
                           params=_meta(meta))

    async def publish_event(
        self, pubsub: str, topic: str, data: Any, *, content_type: str | None = None,
        metadata: Mapping[str, str] | None = None, raw_payload: bool = False,
    ) -> None:
        """`publish`, under the name Dapr's Python SDK uses."""
        await self.publish(pubsub, topic, data, content_type=content_type, metadata=metadata,
                           raw_payload=raw_payload)

    async def bulk_publish(
        self, pubsub: str, topic: str, entries: Sequence[Any], *, metadata: Mapping[str, str] | None = None,
    ) -> list[BulkPublishFailure]:
        """Publish several events in one request; returns the entries the broker did not take.

        Each entry is a `BulkPublishEntry` or a bare value (encoded as for `publish`, entry id
        = its index). An empty list means every event was published. When the sidecar names
        the entries that failed (Dapr's ``failedEntries``, with a 500) they are returned, for
        the caller to retry; any other non-2xx reply (unknown pub/sub, scopes, a malformed
        request) raises `SidecarError`.
        """
        items: dict[str, BulkPublishEntry] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, BulkPublishEntry):
                entry = BulkPublishEntry(entry)
            entry_id = entry.entry_id or str(i)
            if entry_id in items:
                raise ValueError(f"bulk_publish: entry id {entry_id!r} is used twice")
            items[entry_id] = entry
        wire = [entry.to_wire(entry_id) for entry_id, entry in items.items()]
        resp = await self.request("POST", _publish_path("v1.0-alpha1", pubsub, topic, bulk=True), json=wire,
                                  params=_meta(metadata), raise_for_status=False)
        if resp.ok:
            return []
        failed = _failed_entries(resp)
        if failed is None:
            raise SidecarError.from_response(resp.status, resp.body)
        return [BulkPublishFailure(entry_id, error, items.get(entry_id)) for entry_id, error in failed]

    async def invoke_binding(
        self, name: str, operation: str, data: Any = None, metadata: Mapping[str, str] | None = None
    ) -> BindingResult:
        """Run `operation` on output binding `name` and return its answer.

        `data` is sent as the request's JSON ``data`` (the component receives its JSON text:
        a `str` arrives with its quotes, as in Dapr); bytes are sent base64-encoded, which is
        how Dapr's components (``bindings.localstorage``, blob stores) take binary content.
        Raises `SidecarError`: 500 ``ERR_INVOKE_OUTPUT_BINDING`` for an unknown binding, an
        operation it does not support, or a failure of the outside system.
        """
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = base64.b64encode(bytes(data)).decode("ascii")
        payload = {"data": data, "operation": operation, "metadata": {k: str(v) for k, v in (metadata or {}).items()}}
        resp = await self.request("POST", f"/v1.0/bindings/{_q(name)}", json=payload)
        meta = CIMultiDict(
            (k[len("metadata."):], v) for k, v in resp.headers.items() if k.lower().startswith("metadata.")
        )
        return BindingResult(None if resp.status == 204 else resp.body, CIMultiDictProxy(meta))


# -- helpers ----------------------------------------------------------------------------


def _from_env(env: Mapping[str, str]) -> tuple[str, str | None]:
    endpoint = env.get("DAPR_HTTP_ENDPOINT", "").strip()
    if not endpoint:
        port = env.get("DAPR_HTTP_PORT", "").strip() or str(DEFAULT_HTTP_PORT)
        if not port.isdigit():
            raise ValueError(f"DAPR_HTTP_PORT must be a port number, got {port!r}")
        endpoint = f"http://127.0.0.1:{port}"
    return endpoint, env.get("DAPR_API_TOKEN") or None


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _meta(metadata: Mapping[str, str] | None) -> list[tuple[str, str]]:
    return [(f"metadata.{k}", str(v)) for k, v in (metadata or {}).items()]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _encode(data: Any, content_type: str | None) -> tuple[bytes | None, str | None]:
    """Bytes as is, text as text, None as no body, anything else as JSON."""
    if data is None:
        return None, content_type
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), content_type or "application/octet-stream"
    if isinstance(data, str):
        return data.encode(), content_type or "text/plain; charset=utf-8"
    return _dumps(data), content_type or "application/json"


def _publish_path(version: str, pubsub: str, topic: str, *, bulk: bool = False) -> str:
    # The topic is the rest of the path and may hold "/".
    return f"/{version}/publish/{'bulk/' if bulk else ''}{_q(pubsub)}/{quote(topic, safe='/')}"


def _encode_event(data: Any, content_type: str | None) -> tuple[bytes | None, str | None]:
    """`_encode`, but text is plain ``text/plain`` (it becomes the event's ``datacontenttype``)
    and None is JSON ``null`` (an empty POST would go out as ``application/octet-stream``)."""
    if isinstance(data, str) and content_type is None:
        return data.encode(), "text/plain"
    if data is None:
        return b"null", content_type or "application/json"
    return _encode(data, content_type)


def _bulk_event(data: Any, content_type: str | None) -> tuple[Any, str]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(data)).decode("ascii"), content_type or "application/octet-stream"
    if isinstance(data, str):
        return data, content_type or "text/plain"
    return data, content_type or "application/json"


def _failed_entries(resp: SidecarResponse) -> list[tuple[str, str]] | None:
    """Dapr's ``{"failedEntries": [{"entryId", "error"}]}``; None when the body is not that."""
    try:
        doc = resp.json()
    except ValueError:
        return None
    entries = doc.get("failedEntries") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        return None
    found = [(str(e.get("entryId", "")), str(e.get("error", ""))) for e in entries if isinstance(e, dict)]
    return found or None
