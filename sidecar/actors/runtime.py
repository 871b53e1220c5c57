"""The actor runtime of one sidecar: placement, activations, turns, forwarding, deactivation.

A call for an actor goes to the owner its type's hash ring names. On the owner
the actor is activated on first use (after claiming it in the placement store,
so it is never active on two hosts), every call takes the actor's turn, and idle
actors — or ones the ring has moved elsewhere — are deactivated with ``DELETE``
to the app. A call for an actor owned elsewhere is forwarded to the owner's
internal port; a forward that finds the owner gone waits for placement to
notice (at most the heartbeat ``ttl``) and goes wherever the ring then says.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..channel import AppChannel
from ..components.placement import PlacementError, PlacementStore
from ..components.wire import field as wire_field
from ..errors import DaprError
from ..observability import Observability
from ..observability.tracing import CLIENT
from ..proxy import INTERNAL_SECRET_HEADER
from .config import ActorsConfig, TypeConfig, parse_app_config
from .placement import Placement
from .turns import TurnLock

__all__ = ["ActorRuntime", "ActorReply", "Activation", "FORWARD_HEADER", "actor_error"]

log = logging.getLogger("tandem.sidecar.actors")

#: Set on a call forwarded by another sidecar: the host id it was meant for.
FORWARD_HEADER = "x-tandem-actor-host"
#: Set by a sidecar that received a forward meant for another host (a stale view).
NOT_HERE_HEADER = "x-tandem-actor-not-here"
_HOP_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding", "dapr-api-token",
                          "keep-alive", "expect", FORWARD_HEADER, INTERNAL_SECRET_HEADER})
#: How long a call waits for an owner (placement catching up after a host left).
_OWNER_WAIT = 20.0
#: How long a call for a type no sidecar hosts waits before failing (a few heartbeats).
_UNKNOWN_TYPE_WAIT = 3.0
#: How long an activation waits for another host to release its claim.
_CLAIM_WAIT = 30.0


def actor_error(status: int, code: str, message: str) -> DaprError:
    return DaprError(status, code, message)


@dataclass(frozen=True)
class ActorReply:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(eq=False)
class Activation:
    actor_type: str
    actor_id: str
    lock: TurnLock = field(default_factory=TurnLock)
    last_used: float = field(default_factory=time.monotonic)
    timers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    closed: bool = False
    #: The placement version this activation's ownership was last checked against.
    ring_version: int = -1

    @property
    def key(self) -> str:
        return f"{self.actor_type}||{self.actor_id}"


class ActorRuntime:
    def __init__(self, app_id: str, namespace: str, channel: AppChannel | None, store: PlacementStore,
                 session: aiohttp.ClientSession, heartbeat: float = 1.0, ttl: float = 4.0,
                 observability: Observability | None = None) -> None:
        self.app_id = app_id
        self.observability = observability or Observability(app_id, namespace)
        self.channel = channel
        self.session = session
        self.placement = Placement(store, app_id, namespace, heartbeat=heartbeat, ttl=ttl)
        self.placement.on_refresh = self._hand_over
        self.config = ActorsConfig()
        self.active: dict[tuple[str, str], Activation] = {}
        self._activating: dict[tuple[str, str], asyncio.Future[Activation]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._scanner: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def hosted(self) -> tuple[str, ...]:
        return self.config.entities

    def start(self, address: str) -> None:
        """Once the internal port serves. Placement is read (and heartbeats written) only by a sidecar
        that hosts actors or has called one: an app without actors costs no placement I/O."""
        self.placement.set_address(address)
        if self.config.entities:  # the app's /dapr/config was read first
            self.placement.start()

    async def host(self, app_config: Mapping[str, object]) -> None:
        """Host the types the app's ``/dapr/config`` lists."""
        self.config = parse_app_config(app_config)
        if not self.config.entities:
            return
        if self.channel is None:
            log.warning("the app lists actor types but the sidecar has no app port; not hosting them")
            return
        await self.placement.host_types(self.config.entities)
        if self.placement.me.address:
            self.placement.start()
        self._scanner = asyncio.ensure_future(self._scan_loop())
        log.info("hosting actor types: %s", ", ".join(self.config.entities))

    async def close(self) -> None:
        """Drain: deactivate every actor (each waits for its turn), then leave placement."""
        self._closing = True
        if self._scanner is not None:
            self._scanner.cancel()
            await asyncio.gather(self._scanner, return_exceptions=True)
        if self.active:
            drain = max((self.config.for_type(t).drain_timeout for t, _ in self.active), default=60.0)
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self.deactivate(a) for a in list(self.active.values())),
                                   return_exceptions=True), drain)
            except TimeoutError:
                log.warning("actors still busy after drainOngoingCallTimeout; leaving them")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.placement.close()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def type_config(self, actor_type: str) -> TypeConfig:
        return self.config.for_type(actor_type)

    # -- invocation ----------------------------------------------------------------------
    async def invoke(self, actor_type: str, actor_id: str, method: str, headers: Mapping[str, str],
                     body: bytes) -> ActorReply:
        """An app's call: run it here if we own the actor, else forward it to the owner."""
        if not self.placement.started:  # this sidecar's first actor call: read placement now, then keep it fresh
            try:
                await self.placement.refresh()
            except PlacementError as exc:
                raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                                  f"error invoke actor method: the placement store failed: {exc}") from None
            self.placement.start()
        started = time.monotonic()
        deadline = started + _OWNER_WAIT
        last = "no host for this actor type"
        while True:
            owner = self.placement.owner(actor_type, actor_id)
            if owner is None and time.monotonic() - started > _UNKNOWN_TYPE_WAIT:
                break  # no sidecar hosts the type: a host starting up would have joined by now
            if owner is not None and self.placement.is_me(owner):
                return await self.call_method(actor_type, actor_id, method, headers, body)
            if owner is not None:
                reply = await self._forward(owner.address, owner.host_id, actor_type, actor_id, method, headers, body)
                if reply is not None:
                    return reply
                last = f"the sidecar hosting it at {owner.address} did not answer"
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.25)
            try:
                await self.placement.refresh()
            except PlacementError as exc:
                last = str(exc)
        raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                          f"error invoke actor method: failed to find an actor host for {actor_type}/{actor_id}: "
                          f"{last}")

    async def _forward(self, address: str, host_id: str, actor_type: str, actor_id: str, method: str,
                       headers: Mapping[str, str], body: bytes) -> ActorReply | None:
        """Carry the call to the owner's internal port; None if it cannot take it (gone, or not the owner)."""
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        sent[FORWARD_HEADER] = host_id
        url = f"http://{address}/v1.0/actors/{actor_type}/{actor_id}/method/{method}"
        try:
            async with self.session.put(url, headers=sent, data=body) as reply:
                data = await reply.read()
                if reply.headers.get(NOT_HERE_HEADER):
                    return None
                return ActorReply(reply.status, _reply_headers(reply.headers), data)
        except aiohttp.ClientConnectorError:
            return None
        except aiohttp.ClientError as exc:
            raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                              f"error invoke actor method: the call to the sidecar at {address} failed: {exc!r}") \
                from None

    async def call_method(self, actor_type: str, actor_id: str, method: str, headers: Mapping[str, str],
                          body: bytes) -> ActorReply:
        """Run one method call on a local activation (taking its turn) and map the app's answer."""
        if actor_type not in self.hosted:
            raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                              f"error invoke actor method: actor type {actor_type!r} is not hosted by app "
                              f"{self.app_id!r}")
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS | {"traceparent", "tracestate"}}
        sent["Dapr-Api-Call"] = "true"
        span = self.observability.tracing.start(
            f"CallActor/{actor_type}/{method}", CLIENT, parent=_header(headers, "traceparent"),
            state=_header(headers, "tracestate"),
            attributes={"dapr.api": "/dapr.proto.internals.v1.ServiceInvocation/CallActor",
                        "dapr.actor.type": actor_type, "dapr.actor.id": actor_id, "dapr.actor.method": method})
        sent.update(span.headers())
        try:
            reply = await self.turn_call(actor_type, actor_id, f"/actors/{actor_type}/{actor_id}/method/{method}",
                                         sent, body)
        except DaprError as error:
            span.end(error=error.message)
            raise
        assert reply is not None
        span.end(status=reply.status)
        if reply.status == 200 or "x-daprerrorresponseheader" in {k.lower() for k in reply.headers}:
            return reply
        text = reply.body.decode("utf-8", "replace")
        raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                          f"error invoke actor method: error from actor service: ({reply.status}) {text}")

    async def turn_call(self, actor_type: str, actor_id: str, path: str, headers: dict[str, str],
                        body: bytes | None, *, pinned: Activation | None = None) -> ActorReply | None:
        """Take the actor's turn (activating it if needed) and make one ``PUT`` to the app.

        With ``pinned`` (a timer's own activation) nothing is activated: None if it is gone.
        """
        config = self.type_config(actor_type)
        reentrancy_id: str | None = None
        if config.reentrancy:
            reentrancy_id = _header(headers, "dapr-reentrancy-id") or str(uuid.uuid4())
            headers = {k: v for k, v in headers.items() if k.lower() != "dapr-reentrancy-id"}
            headers["Dapr-Reentrancy-Id"] = reentrancy_id
        pending = self.observability.metrics.actor_pending_calls
        while True:
            activation = pinned or await self.activation(actor_type, actor_id)
            pending.add(1, actor_type)  # waiting for the turn
            waiting = True
            try:
                async with activation.lock.turn(reentrancy_id, config.max_stack_depth):
                    pending.add(-1, actor_type)
                    waiting = False
                    if activation.closed:
                        if pinned is not None:
                            return None
                        continue  # deactivated while we waited: activate afresh
                    try:
                        return await self._app_call("PUT", path, headers, body)
                    finally:
                        activation.last_used = time.monotonic()
            finally:
                if waiting:
                    pending.add(-1, actor_type)

    async def _app_call(self, verb: str, path: str, headers: Mapping[str, str], body: bytes | None) -> ActorReply:
        if self.channel is None:
            raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD", "error invoke actor method: the sidecar has no app port")
        try:
            reply = await self.channel.call(verb, path, headers=headers, body=body)
        except (aiohttp.ClientError, OSError) as exc:
            raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                              f"error invoke actor method: the app is not reachable: {exc!r}") from None
        return ActorReply(reply.status, reply.headers, reply.body)

    # -- activation ----------------------------------------------------------------------
    async def activation(self, actor_type: str, actor_id: str) -> Activation:
        key = (actor_type, actor_id)
        found = self.active.get(key)
        if found is not None:
            return found
        pending = self._activating.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Activation] = asyncio.get_running_loop().create_future()
        self._activating[key] = future
        try:
            activation = Activation(actor_type, actor_id)
            await self._claim(activation)
            self.active[key] = activation
            self.observability.metrics.actor_activated.inc(actor_type)
            future.set_result(activation)
            return activation
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else must log it
            raise
        finally:
            del self._activating[key]

    async def _claim(self, activation: Activation) -> None:
        if self._closing:
            raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD", "error invoke actor method: the sidecar is shutting down")
        deadline = time.monotonic() + _CLAIM_WAIT
        while True:
            try:
                holder = await self.placement.store.claim(self.placement.namespace, activation.key,
                                                          self.placement.me.host_id)
            except PlacementError as exc:
                raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                                  f"error invoke actor method: the placement store failed: {exc}") from None
            if holder is None:
                return
            if time.monotonic() >= deadline:
                raise actor_error(500, "ERR_ACTOR_INVOKE_METHOD",
                                  f"error invoke actor method: actor {activation.key} is still active on host "
                                  f"{holder}")
            await asyncio.sleep(0.05)

    async def deactivate(self, activation: Activation) -> None:
        """Wait for the actor's turn, stop its timers, tell the app (``DELETE``), release the claim."""
        async with activation.lock.turn():
            if activation.closed:
                return
            activation.closed = True
            for task in activation.timers.values():
                task.cancel()
            activation.timers.clear()
            if self.channel is not None:
                try:
                    reply = await self.channel.call(
                        "DELETE", f"/actors/{activation.actor_type}/{activation.actor_id}",
                        headers={"content-type": "application/x-protobuf"}, timeout=10)
                    if reply.status != 200:
                        log.warning("deactivating %s: the app answered %s", activation.key, reply.status)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.debug("deactivating %s: the app is not reachable: %r", activation.key, exc)
            self.active.pop((activation.actor_type, activation.actor_id), None)
            self.observability.metrics.actor_deactivated.inc(activation.actor_type)
            try:
                await self.placement.store.release(self.placement.namespace, [activation.key],
                                                   self.placement.me.host_id)
            except PlacementError as exc:
                log.warning("could not release %s: %s", activation.key, exc)

    def _hand_over(self) -> None:
        """After each placement refresh: deactivate the actors the rings give to another host.

        Each activation is checked once per ring version, so this is cheap when nothing moved;
        one activated while the rings changed (or for a call forwarded under a stale view) is
        checked at the next refresh rather than kept for good.
        """
        version = self.placement.version
        for activation in list(self.active.values()):
            if activation.ring_version == version or activation.closed:
                continue
            activation.ring_version = version
            owner = self.placement.owner(activation.actor_type, activation.actor_id)
            if owner is not None and not self.placement.is_me(owner):
                self.spawn(self.deactivate(activation))

    async def _scan_loop(self) -> None:
        idle = min([self.type_config(t).idle_timeout for t in self.hosted] or [3600.0])
        interval = min(max(idle / 4, 0.2), 30.0)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for activation in list(self.active.values()):
                if activation.lock.busy or activation.closed:
                    continue
                if now - activation.last_used >= self.type_config(activation.actor_type).idle_timeout:
                    self.spawn(self.deactivate(activation))
                elif not self.placement.membership_fresh:
                    log.warning("actor membership lapsed; deactivating %s", activation.key)
                    self.spawn(self.deactivate(activation))

    def counts(self) -> dict[str, int]:
        """Active actors per hosted type (for the metadata API)."""
        counts = dict.fromkeys(self.hosted, 0)
        for actor_type, _ in self.active:
            counts[actor_type] = counts.get(actor_type, 0) + 1
        return counts


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return wire_field(headers, name)


def _reply_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding",
                                                                     "connection", "date", "server")}
