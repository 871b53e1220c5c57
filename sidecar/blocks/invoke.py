"""Service invocation: carry a call to the sidecar of another app id, or to our own app.

The caller's sidecar resolves the target (cached briefly), adds Dapr's caller
headers and streams the request to the target sidecar's internal port; the
target sidecar streams it to its app. A failure to *connect* is retried three
times, one second apart, with the resolution dropped each time (a target that
restarted elsewhere is found again); an answer from the app, whatever its
status, is never retried. A target that is still starting (its id not yet
registered, its app's port not yet open) is waited for within ``startup_wait``
(:mod:`..startup_wait`). The trace headers are set by the API layer
(``tracecontext.for_next_hop``); the invoker carries them as given.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from starlette.types import Message, Send

from ..channel import AppChannel
from ..components.nameresolution import Address, NameResolver, ResolveRequest
from ..errors import DaprError
from ..proxy import INTERNAL_SECRET_HEADER, RequestBody, relay_reply
from ..startup_wait import deadline_after, until_app_reachable, until_found

__all__ = ["Invoker", "Target", "WRONG_TARGET_HEADER", "invoke_error"]

log = logging.getLogger("tandem.sidecar.invoke")

#: Set by a sidecar that received a call meant for another app id (a stale address).
WRONG_TARGET_HEADER = "x-tandem-wrong-target"
_RETRIES = 3
_RETRY_DELAY = 1.0
_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Target:
    app_id: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.app_id}.{self.namespace}" if self.namespace else self.app_id


class _Relay:
    """An ASGI ``send`` that remembers whether the reply has started."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = True
        await self._send(message)


def invoke_error(target: object, detail: str, status: int = 500) -> DaprError:
    return DaprError(status, "ERR_DIRECT_INVOKE", f"failed to invoke, id: {target}, err: {detail}")


def _host_identity() -> tuple[str, str]:
    hostname = socket.gethostname()
    try:
        ip = socket.gethostbyname(hostname)
    except OSError:
        ip = "127.0.0.1"
    return hostname, ip


class Invoker:
    """Invocation for one sidecar: resolution cache, transport session, app channel."""

    def __init__(self, app_id: str, namespace: str | None, resolver: NameResolver,
                 channel: AppChannel | None, session: aiohttp.ClientSession,
                 retry_delay: float = _RETRY_DELAY, startup_wait: float = 0.0) -> None:
        self.app_id = app_id
        self.namespace = namespace
        self.channel = channel
        self._resolver = resolver
        self._session = session
        self._cache: dict[Target, tuple[float, list[Address]]] = {}
        self._turn = itertools.count()
        self._retry_delay = retry_delay
        #: How long a call waits for a target that is still starting (see :mod:`..startup_wait`).
        self._startup_wait = startup_wait
        self._hostname, self._ip = _host_identity()

    def is_self(self, target: Target) -> bool:
        return target.app_id == self.app_id and (target.namespace or self.namespace) == self.namespace

    async def to_app(self, method: str, path: bytes, headers: CIMultiDict[str], body: RequestBody,
                     send: Send, caller: object) -> None:
        """Carry a call to our own app (a self-call, or one that arrived from another sidecar)."""
        if self.channel is None:
            raise invoke_error(caller, "app channel is not initialized (start the sidecar with --app-port)")
        relayed = _Relay(send)
        deadline = deadline_after(self._startup_wait)
        try:
            try:
                await self.channel.forward(method, path, headers, body, relayed)
            except aiohttp.ClientConnectorError:
                if not await until_app_reachable(self.channel, deadline):
                    raise
                await self.channel.forward(method, path, headers, body, relayed)  # the app has just opened
        except aiohttp.ClientConnectorError as exc:
            raise invoke_error(caller, f"the app is not reachable on port {self.channel.port}: {exc}") from None
        except aiohttp.ClientError as exc:
            if relayed.started:
                raise
            raise invoke_error(caller, f"the app failed to answer: {exc!r}") from None

    async def to_sidecar(self, target: Target, method: str, path: bytes, headers: CIMultiDict[str],
                         body: RequestBody, send: Send) -> None:
        """Carry a call to the sidecar serving ``target``, retrying failed connections."""
        headers.popall(INTERNAL_SECRET_HEADER, None)  # the session adds ours; never one the app sent
        headers["dapr-caller-app-id"] = self.app_id
        headers["dapr-callee-app-id"] = target.app_id
        namespace = target.namespace or self.namespace
        if namespace:
            headers["dapr-callee-namespace"] = namespace
        headers["x-forwarded-for"] = self._ip
        headers["x-forwarded-host"] = self._hostname
        forwarded = f"for={self._ip};by={self._ip};host={self._hostname}"
        headers["forwarded"] = f"{headers['forwarded']}, {forwarded}" if "forwarded" in headers else forwarded
        small = await body.prepare()
        last = "no attempt"
        relayed = _Relay(send)
        deadline = deadline_after(self._startup_wait)
        for attempt in range(_RETRIES + 1):
            if attempt:
                await asyncio.sleep(self._retry_delay)
            address = await self._address(target, deadline)
            url = f"http://{address}{path.decode('latin-1')}"
            try:
                async with self._session.request(
                    method, url, headers=headers, data=body.payload(small),
                ) as reply:
                    if reply.headers.get(WRONG_TARGET_HEADER):
                        self._forget(target)
                        last = f"{address} now serves another app"
                        continue
                    body.release()
                    await relay_reply(reply, relayed)
                    return
            except aiohttp.ClientConnectorError as exc:
                self._forget(target)
                last = f"cannot connect to its sidecar at {address}: {exc.os_error.strerror or exc}"
                log.debug("invoke %s: attempt %d failed: %s", target, attempt + 1, last)
            except aiohttp.ClientError as exc:
                if relayed.started:
                    raise  # the reply is half sent: only dropping the connection tells the caller
                raise invoke_error(target, f"the call to its sidecar at {address} failed: {exc!r}") from None
        raise invoke_error(target, last)

    async def _address(self, target: Target, deadline: float) -> Address:
        now = time.monotonic()
        cached = self._cache.get(target)
        if cached is None or cached[0] < now:
            request = ResolveRequest(target.app_id, target.namespace or self.namespace)
            try:
                found = await self._resolver.resolve(request)
                if not found:  # perhaps not registered *yet*: wait for it, within the bound
                    found = await until_found(lambda: self._resolver.resolve(request), deadline, f"app id {target}")
            except Exception as exc:
                raise invoke_error(target, f"name resolution failed: {exc}") from None
            if not found:
                self._forget(target)
                raise invoke_error(target, f"couldn't find service: {target}")
            cached = (now + _CACHE_SECONDS, found)
            self._cache[target] = cached
        addresses = cached[1]
        return addresses[next(self._turn) % len(addresses)]

    def _forget(self, target: Target) -> None:
        self._cache.pop(target, None)
