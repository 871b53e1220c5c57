"""This sidecar's view of actor placement: heartbeats, the live hosts, one hash ring per type.

Every sidecar reads the membership table every ``heartbeat`` seconds; one that
hosts actor types also writes its own row, which lapses ``ttl`` seconds after its
last heartbeat (a SIGKILLed host drops out within ``ttl``). Rings are rebuilt only
when the set of hosts changes (``version`` counts the changes), and after every
refresh ``on_refresh`` is called so the runtime can hand over actors it no longer owns.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable

from ..components.placement import HostInfo, PlacementError, PlacementStore
from .ring import HashRing

__all__ = ["Placement"]

log = logging.getLogger("tandem.sidecar.actors")

DEFAULT_HEARTBEAT = 1.0
DEFAULT_TTL = 4.0


class Placement:
    def __init__(self, store: PlacementStore, app_id: str, namespace: str,
                 heartbeat: float = DEFAULT_HEARTBEAT, ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.namespace = namespace
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.me = HostInfo(host_id=uuid.uuid4().hex, app_id=app_id, address="", types=(), namespace=namespace,
                           pid=os.getpid())
        self.hosts: dict[str, HostInfo] = {}
        self._rings: dict[str, HashRing] = {}
        self._by_address: dict[str, HostInfo] = {}
        self._signature: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
        self._last_beat = 0.0
        self._task: asyncio.Task[None] | None = None
        self.on_refresh: Callable[[], None] = lambda: None
        self.version = 0  # of the rings: +1 whenever the set of hosts changes
        self.connected = False

    @property
    def hosting(self) -> bool:
        return bool(self.me.types and self.me.address)

    def set_address(self, address: str) -> None:
        self.me = HostInfo(self.me.host_id, self.me.app_id, address, self.me.types, self.namespace, self.me.pid)

    async def host_types(self, types: tuple[str, ...]) -> None:
        """Start hosting ``types``: join the table now rather than at the next beat."""
        self.me = HostInfo(self.me.host_id, self.me.app_id, self.me.address, types, self.namespace, self.me.pid)
        await self.refresh()

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.hosting:
            try:
                await self.store.leave(self.me.host_id)
            except PlacementError as exc:
                log.warning("actor placement: could not leave the membership table: %s", exc)

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except PlacementError as exc:
                self.connected = False
                log.warning("actor placement: %s", exc)
            await asyncio.sleep(self.heartbeat)

    async def refresh(self) -> None:
        """Heartbeat (when hosting) and re-read the live hosts; rebuild rings if they changed."""
        if self.hosting:
            await self.store.heartbeat(self.me, self.ttl)
            self._last_beat = time.monotonic()
        hosts = await self.store.live_hosts(self.namespace)
        self.connected = True
        if self.hosting and all(h.host_id != self.me.host_id for h in hosts):
            hosts.append(self.me)  # our own row is live by definition once written
        signature = tuple(sorted((h.host_id, h.address, h.types) for h in hosts))
        if signature != self._signature:
            self._rebuild(signature, hosts)
        self.on_refresh()

    def _rebuild(self, signature: tuple[tuple[str, str, tuple[str, ...]], ...], hosts: list[HostInfo]) -> None:
        self._signature = signature
        self.version += 1
        self.hosts = {h.host_id: h for h in hosts}
        self._by_address = {h.address: h for h in hosts}
        by_type: dict[str, list[str]] = {}
        for host in hosts:
            for actor_type in host.types:
                by_type.setdefault(actor_type, []).append(host.address)
        self._rings = {t: HashRing(addresses) for t, addresses in by_type.items()}
        log.info("actor placement: %d host(s): %s", len(hosts),
                 ", ".join(f"{h.app_id}@{h.address}{list(h.types)}" for h in hosts) or "none")

    def owner(self, actor_type: str, actor_id: str) -> HostInfo | None:
        ring = self._rings.get(actor_type)
        if ring is None:
            return None
        address = ring.owner(actor_id)
        return self._by_address.get(address) if address else None

    def is_me(self, host: HostInfo | None) -> bool:
        return host is not None and host.host_id == self.me.host_id

    @property
    def membership_fresh(self) -> bool:
        """False once our own row may have lapsed (heartbeats failing): stop serving activations."""
        return not self.hosting or time.monotonic() - self._last_beat < self.ttl
