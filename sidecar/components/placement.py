"""The actor placement store: membership, activation claims and reminders, shared by every sidecar.

Dapr keeps membership in a placement service and reminders in the scheduler.
Tandem keeps all three in the backend of the actor state store (SQLite on one
machine, Redis for many), through this one contract:

* **membership**: each sidecar hosting actor types heartbeats a row that
  expires after ``ttl``; every sidecar reads the live rows to build the
  hash rings;
* **claims**: before an actor is activated its host claims it; a claim held by
  a live host cannot be taken, one held by an expired host can. This is what
  keeps an actor from being active in two places while hosts join or leave;
* **reminders**: one record per reminder (never one document per type), with
  its next fire time indexed, and a compare-and-set advance so exactly one
  sidecar fires each tick.

The store is chosen from the actor state store's type: ``state.X`` uses
``placement.X`` with the same metadata (connection settings).
"""
from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from .base import Component, DriverError

__all__ = ["HostInfo", "ReminderRecord", "PlacementStore", "PlacementError"]


class PlacementError(DriverError):
    """The placement store failed (server down, timeout ...)."""


@dataclass(frozen=True)
class HostInfo:
    """One sidecar in the membership table; ``host_id`` is new for every process."""

    host_id: str
    app_id: str
    address: str  # host:internal-port, where other sidecars forward actor calls
    types: tuple[str, ...]
    namespace: str = ""
    pid: int = 0


@dataclass
class ReminderRecord:
    """A persisted reminder; ``next_fire`` is epoch seconds, ``fired`` counts ticks so far."""

    actor_type: str
    actor_id: str
    name: str
    due_time: str = ""
    period: str = ""
    ttl: str = ""
    data: str | None = None  # raw JSON text, replayed verbatim
    registered: float = 0.0
    expires: float | None = None
    next_fire: float = 0.0
    fired: int = 0
    namespace: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.actor_type, self.actor_id, self.name)

    def to_json(self, **changes: Any) -> str:
        """The stored form, with ``changes`` (``next_fire=…``, ``fired=…``) applied."""
        return json.dumps({**asdict(self), **changes})

    @classmethod
    def from_json(cls, text: str | bytes) -> ReminderRecord:
        """Read a stored record; keys this version does not know are ignored (a newer writer's)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})


class PlacementStore(Component):
    """Membership, claims and reminders for the actors of one namespace."""

    kind = "placement"

    # membership
    @abc.abstractmethod
    async def heartbeat(self, host: HostInfo, ttl: float) -> None:
        """Insert or refresh ``host``; it counts as live for ``ttl`` seconds."""

    @abc.abstractmethod
    async def leave(self, host_id: str) -> None:
        """Remove the host and every claim it holds (a graceful shutdown)."""

    @abc.abstractmethod
    async def live_hosts(self, namespace: str) -> list[HostInfo]:
        """Every host of ``namespace`` whose heartbeat has not expired."""

    # claims
    @abc.abstractmethod
    async def claim(self, namespace: str, actor_key: str, host_id: str) -> str | None:
        """Claim an actor for ``host_id``: ``None`` when granted, else the live holder's host id."""

    @abc.abstractmethod
    async def release(self, namespace: str, actor_keys: Sequence[str], host_id: str) -> None:
        """Drop claims of ``host_id`` (others' claims are left alone)."""

    # reminders
    @abc.abstractmethod
    async def save_reminder(self, record: ReminderRecord) -> None:
        """Create or replace a reminder."""

    @abc.abstractmethod
    async def get_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> ReminderRecord | None:
        ...

    @abc.abstractmethod
    async def delete_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> None:
        ...

    @abc.abstractmethod
    async def due_reminders(self, namespace: str, types: Sequence[str], now: float,
                            limit: int) -> list[ReminderRecord]:
        """Reminders of ``types`` whose ``next_fire`` is at or before ``now``, earliest first."""

    @abc.abstractmethod
    async def advance_reminder(self, record: ReminderRecord, next_fire: float | None, fired: int) -> bool:
        """Move a reminder from ``record.next_fire`` on (``None``: delete it); False if someone else did first."""

    async def advance_reminders(self, ticks: Sequence[tuple[ReminderRecord, float | None, int]]) -> list[bool]:
        """:meth:`advance_reminder` for many ticks; a driver that can do them in one round trip overrides it."""
        return [await self.advance_reminder(record, next_fire, fired) for record, next_fire, fired in ticks]
