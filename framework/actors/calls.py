"""The sidecar's actor API (``/v1.0/actors/...``) on `tandem.Client`, and `ActorProxy`.

`ActorCalls` is mixed into `Client`, so actor calls share its pooled session, API token and
error mapping: a non-2xx reply raises `SidecarError` (a method that failed in the actor
arrives as 500 ``ERR_ACTOR_INVOKE_METHOD``). While an actor turn runs, the
``Dapr-Reentrancy-Id`` the sidecar gave it is kept in a context variable and sent on every
actor call made from that turn, so A → B → A gets back into A when reentrancy is on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .durations import TimeSpec, wire_time

if TYPE_CHECKING:
    from ..client import Params, SidecarResponse, StateResult, TransactionOperation

__all__ = ["ActorCalls", "ActorProxy", "ActorReminder", "REENTRANCY_HEADER"]

REENTRANCY_HEADER = "Dapr-Reentrancy-Id"

#: The reentrancy id of the actor turn running in this context (None outside one).
reentrancy_id: ContextVar[str | None] = ContextVar("tandem_actor_reentrancy_id", default=None)


@dataclass(frozen=True)
class ActorReminder:
    """A reminder as the sidecar describes it (``GET .../reminders/{name}``)."""

    actor_type: str
    actor_id: str
    name: str
    due_time: str | None = None
    period: str | None = None
    data: Any = None
    registered_time: str | None = None
    expiration_time: str | None = None

    @classmethod
    def from_wire(cls, actor_type: str, actor_id: str, name: str, doc: Mapping[str, Any]) -> ActorReminder:
        def text(key: str) -> str | None:
            value = doc.get(key)
            return None if value in (None, "") else str(value)

        return cls(
            actor_type=text("actorType") or actor_type, actor_id=text("actorID") or actor_id,
            name=text("name") or name, due_time=text("dueTime"), period=text("period"),
            data=doc.get("data"), registered_time=text("registeredTime"),
            expiration_time=text("expirationTime"),
        )


class ActorCalls:
    """Actor API methods of `Client` (a mixin: it only needs ``Client.request``)."""

    if TYPE_CHECKING:
        async def request(
            self, method: str, path: str, *, params: Params | None = None, json: Any = None,
            data: bytes | str | None = None, headers: Mapping[str, str] | None = None,
            raise_for_status: bool = True,
        ) -> SidecarResponse: ...

    def actor(self, actor_type: str, actor_id: str) -> ActorProxy:
        """A proxy for one actor: ``await client.actor("Counter", "c1").call("increment", 5)``."""
        return ActorProxy(self, actor_type, actor_id)

    async def invoke_actor(
        self, actor_type: str, actor_id: str, method: str, data: Any = None, *,
        headers: Mapping[str, str] | None = None,
    ) -> SidecarResponse:
        """``POST`` actor method `method` with `data` as its JSON body (None: no body); raises on non-2xx."""
        sent = dict(headers or {})
        current = reentrancy_id.get()
        if current and not any(k.lower() == REENTRANCY_HEADER.lower() for k in sent):
            sent[REENTRANCY_HEADER] = current
        body = None if data is None else _dumps(data)
        if body is not None and not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = "application/json"
        return await self.request("POST", f"{_actor_path(actor_type, actor_id)}/method/{_q(method)}",
                                  data=body, headers=sent)

    async def get_actor_state(self, actor_type: str, actor_id: str, key: str) -> StateResult | None:
        """The saved value of an actor's `key` (its JSON bytes), or None; the actor must be active here."""
        from ..client import StateResult

        resp = await self.request("GET", f"{_actor_path(actor_type, actor_id)}/state/{_q(key)}")
        if resp.status == 204:
            return None
        meta = {k[len("metadata."):]: v for k, v in resp.headers.items() if k.lower().startswith("metadata.")}
        return StateResult(key, resp.body, resp.headers.get("ETag"), meta)

    async def save_actor_state(
        self, actor_type: str, actor_id: str, operations: Sequence[TransactionOperation]
    ) -> None:
        """Apply upserts and deletes to an actor's state in one transaction."""
        await self.request("POST", f"{_actor_path(actor_type, actor_id)}/state",
                           json=[op.to_wire() for op in operations])

    async def register_actor_timer(
        self, actor_type: str, actor_id: str, name: str, *, callback: str,
        due_time: TimeSpec | None = None, period: TimeSpec | None = None,
        ttl: TimeSpec | None = None, data: Any = None,
    ) -> None:
        """Call method `callback` of the actor after `due_time`, then every `period` (while it is active)."""
        body = _schedule(due_time, period, ttl, data)
        body["callback"] = callback
        await self.request("POST", f"{_actor_path(actor_type, actor_id)}/timers/{_q(name)}", json=body)

    async def unregister_actor_timer(self, actor_type: str, actor_id: str, name: str) -> None:
        await self.request("DELETE", f"{_actor_path(actor_type, actor_id)}/timers/{_q(name)}")

    async def register_actor_reminder(
        self, actor_type: str, actor_id: str, name: str, *, due_time: TimeSpec | None = None,
        period: TimeSpec | None = None, ttl: TimeSpec | None = None, data: Any = None,
    ) -> None:
        """A persistent reminder: the actor's ``receive_reminder`` runs after `due_time`, then every `period`."""
        await self.request("POST", f"{_actor_path(actor_type, actor_id)}/reminders/{_q(name)}",
                           json=_schedule(due_time, period, ttl, data))

    async def get_actor_reminder(self, actor_type: str, actor_id: str, name: str) -> ActorReminder | None:
        """The reminder, or None when the sidecar has none by that name."""
        resp = await self.request("GET", f"{_actor_path(actor_type, actor_id)}/reminders/{_q(name)}",
                                  raise_for_status=False)
        if resp.status in (204, 404):
            return None
        resp.raise_for_status()
        doc = resp.json()
        return ActorReminder.from_wire(actor_type, actor_id, name, doc) if isinstance(doc, dict) else None

    async def unregister_actor_reminder(self, actor_type: str, actor_id: str, name: str) -> None:
        await self.request("DELETE", f"{_actor_path(actor_type, actor_id)}/reminders/{_q(name)}")


class ActorProxy:
    """Calls one actor's methods: ``await proxy.call("deposit", 10)`` or ``await proxy.deposit(10)``.

    Arguments become the JSON body: none → no body, one → that value, several → a JSON
    array, keywords → a JSON object. The result is the method's JSON result decoded.
    """

    def __init__(self, client: ActorCalls, actor_type: str, actor_id: str) -> None:
        self.client = client
        self.actor_type = actor_type
        self.actor_id = actor_id

    def __repr__(self) -> str:
        return f"ActorProxy({self.actor_type!r}, {self.actor_id!r})"

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Invoke `method` and return its decoded result (None when it returned nothing)."""
        if args and kwargs:
            raise TypeError("pass an actor method positional or keyword arguments, not both")
        data: Any = kwargs if kwargs else (args[0] if len(args) == 1 else list(args) if args else None)
        resp = await self.client.invoke_actor(self.actor_type, self.actor_id, method, data)
        return _decode(resp)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self.call(name, *args, **kwargs)

        method.__name__ = name
        return method


# -- helpers ----------------------------------------------------------------------------


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _actor_path(actor_type: str, actor_id: str) -> str:
    return f"/v1.0/actors/{_q(actor_type)}/{_q(actor_id)}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _schedule(due_time: TimeSpec | None, period: TimeSpec | None, ttl: TimeSpec | None,
              data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (("dueTime", wire_time(due_time, "due_time")),
                       ("period", wire_time(period, "period", absolute=False)),
                       ("ttl", wire_time(ttl, "ttl"))):
        if value is not None:
            body[key] = value
    if data is not None:
        body["data"] = data
    return body


def _decode(resp: SidecarResponse) -> Any:
    """JSON (or no content type) decoded, text as str, anything else as bytes."""
    if not resp.body:
        return None
    media = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if not media or media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(resp.body)
        except ValueError:
            return resp.body
    if media.startswith("text/"):
        return resp.body.decode("utf-8", errors="replace")
    return resp.body
