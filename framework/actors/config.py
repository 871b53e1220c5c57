"""How the sidecar should run this app's actors: the actor part of ``GET /dapr/config``.

Settings given to `App` apply to every actor type; settings given when a type is registered
override them for that type only and go out as an ``entitiesConfig`` entry, fully resolved,
so the sidecar never has to guess which defaults an entry inherits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .durations import Duration, wire_time

__all__ = ["ActorConfig", "Reentrancy"]

DEFAULT_IDLE_TIMEOUT = timedelta(minutes=60)
DEFAULT_DRAIN_TIMEOUT = timedelta(seconds=60)
DEFAULT_STACK_DEPTH = 32


@dataclass(frozen=True)
class Reentrancy:
    """Let a call chain re-enter an actor it already holds (A → B → A) up to `max_stack_depth`."""

    enabled: bool = True
    max_stack_depth: int = DEFAULT_STACK_DEPTH

    def __post_init__(self) -> None:
        if isinstance(self.max_stack_depth, bool) or not isinstance(self.max_stack_depth, int) \
                or self.max_stack_depth < 1:
            raise ValueError(f"max_stack_depth must be a positive integer, got {self.max_stack_depth!r}")

    def to_wire(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "maxStackDepth": self.max_stack_depth}


@dataclass(frozen=True)
class ActorConfig:
    """Actor runtime settings; a field left as None takes the app's value, then Dapr's default.

    `idle_timeout`: deactivate an actor unused this long (default 60 min).
    `drain_ongoing_call_timeout`: how long calls may finish when actors move (default 60 s).
    `drain_rebalanced_actors`: wait for those calls at all (default true).
    `reentrancy`: `Reentrancy(...)`, or True / False (default: off).
    `reminders_storage_partitions`: Dapr's setting, passed on when given.
    Durations are `timedelta`, seconds, or a string the sidecar parses (``"5m"``).
    """

    idle_timeout: Duration | None = None
    drain_ongoing_call_timeout: Duration | None = None
    drain_rebalanced_actors: bool | None = None
    reentrancy: Reentrancy | bool | None = None
    reminders_storage_partitions: int | None = None

    def __post_init__(self) -> None:
        # Fail at registration, not when the sidecar first asks.
        wire_time(self.idle_timeout, "idle_timeout", absolute=False)
        wire_time(self.drain_ongoing_call_timeout, "drain_ongoing_call_timeout", absolute=False)
        if isinstance(self.reentrancy, bool):
            object.__setattr__(self, "reentrancy", Reentrancy(enabled=self.reentrancy))
        elif self.reentrancy is not None and not isinstance(self.reentrancy, Reentrancy):
            raise TypeError("reentrancy must be a Reentrancy, True or False")
        partitions = self.reminders_storage_partitions
        if partitions is not None and (isinstance(partitions, bool) or not isinstance(partitions, int)
                                       or partitions < 0):
            raise ValueError(f"reminders_storage_partitions must be >= 0, got {partitions!r}")

    def merged(self, overrides: ActorConfig | None) -> ActorConfig:
        """These settings with every field `overrides` sets taken from it."""
        if overrides is None:
            return self
        changes = {f.name: getattr(overrides, f.name) for f in dataclasses.fields(overrides)
                   if getattr(overrides, f.name) is not None}
        return dataclasses.replace(self, **changes)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))

    def to_wire(self) -> dict[str, Any]:
        """Dapr's camelCase fields, defaults filled in."""
        reentrancy = self.reentrancy if isinstance(self.reentrancy, Reentrancy) else Reentrancy(enabled=False)
        doc: dict[str, Any] = {
            "actorIdleTimeout": _duration(self.idle_timeout, DEFAULT_IDLE_TIMEOUT, "idle_timeout"),
            "drainOngoingCallTimeout": _duration(self.drain_ongoing_call_timeout, DEFAULT_DRAIN_TIMEOUT,
                                                 "drain_ongoing_call_timeout"),
            "drainRebalancedActors": True if self.drain_rebalanced_actors is None else self.drain_rebalanced_actors,
            "reentrancy": reentrancy.to_wire(),
        }
        if self.reminders_storage_partitions is not None:
            doc["remindersStoragePartitions"] = self.reminders_storage_partitions
        return doc


def config_document(entities: Sequence[str], app: ActorConfig,
                    per_type: Mapping[str, ActorConfig]) -> dict[str, Any]:
    """The whole ``/dapr/config`` reply; without actor types it is just ``{"entities": []}``."""
    if not entities:
        return {"entities": []}
    doc: dict[str, Any] = {"entities": list(entities), **app.to_wire()}
    overridden = [(name, cfg) for name, cfg in per_type.items() if not cfg.is_empty()]
    if overridden:
        doc["entitiesConfig"] = [{"entities": [name], **app.merged(cfg).to_wire()} for name, cfg in overridden]
    return doc


def _duration(value: Duration | None, default: timedelta, what: str) -> str:
    return wire_time(default if value is None else value, what, absolute=False) or ""
