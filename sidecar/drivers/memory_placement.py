"""``placement.in-memory``: placement for one sidecar, beside ``state.in-memory``.

Nothing is shared or persisted, exactly like the state store it goes with:
for tests and for a single process.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from ..components.base import ComponentMetadata
from ..components.placement import HostInfo, PlacementStore, ReminderRecord

__all__ = ["MemoryPlacementStore"]


class MemoryPlacementStore(PlacementStore):
    def __init__(self) -> None:
        self._hosts: dict[str, tuple[HostInfo, float]] = {}
        self._claims: dict[tuple[str, str], str] = {}
        self._reminders: dict[tuple[str, str, str, str], ReminderRecord] = {}

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    async def heartbeat(self, host: HostInfo, ttl: float) -> None:
        self._hosts[host.host_id] = (host, time.time() + ttl)

    async def leave(self, host_id: str) -> None:
        self._hosts.pop(host_id, None)
        for key in [k for k, v in self._claims.items() if v == host_id]:
            del self._claims[key]

    def _live(self, host_id: str) -> bool:
        entry = self._hosts.get(host_id)
        return entry is not None and entry[1] >= time.time()

    async def live_hosts(self, namespace: str) -> list[HostInfo]:
        return sorted((h for h, _ in self._hosts.values() if h.namespace == namespace and self._live(h.host_id)),
                      key=lambda h: h.host_id)

    async def claim(self, namespace: str, actor_key: str, host_id: str) -> str | None:
        holder = self._claims.get((namespace, actor_key))
        if holder is not None and holder != host_id and self._live(holder):
            return holder
        self._claims[(namespace, actor_key)] = host_id
        return None

    async def release(self, namespace: str, actor_keys: Sequence[str], host_id: str) -> None:
        for key in actor_keys:
            if self._claims.get((namespace, key)) == host_id:
                del self._claims[(namespace, key)]

    async def save_reminder(self, record: ReminderRecord) -> None:
        self._reminders[(record.namespace, *record.key)] = replace(record)

    async def get_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> ReminderRecord | None:
        found = self._reminders.get((namespace, actor_type, actor_id, name))
        return replace(found) if found else None

    async def delete_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> None:
        self._reminders.pop((namespace, actor_type, actor_id, name), None)

    async def due_reminders(self, namespace: str, types: Sequence[str], now: float,
                            limit: int) -> list[ReminderRecord]:
        due = [r for r in self._reminders.values()
               if r.namespace == namespace and r.actor_type in types and r.next_fire <= now]
        return [replace(r) for r in sorted(due, key=lambda r: r.next_fire)[:limit]]

    async def advance_reminder(self, record: ReminderRecord, next_fire: float | None, fired: int) -> bool:
        key = (record.namespace, *record.key)
        current = self._reminders.get(key)
        if current is None or current.next_fire != record.next_fire:
            return False
        if next_fire is None:
            del self._reminders[key]
        else:
            self._reminders[key] = replace(current, next_fire=next_fire, fired=fired)
        return True
