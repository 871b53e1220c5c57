"""The app's actor settings, read from its ``GET /dapr/config`` (spec §5.2).

Durations come in Go form (``1h0m0s``) or the long form some SDKs send
(``0h5m0s0ms0μs``); both parse with :func:`parse_go_duration`. ``entitiesConfig``
overrides the top-level values per actor type.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .timefmt import TimeFormatError, parse_go_duration

__all__ = ["TypeConfig", "ActorsConfig", "parse_app_config"]

log = logging.getLogger("tandem.sidecar.actors")

DEFAULT_IDLE_TIMEOUT = 3600.0
DEFAULT_DRAIN_TIMEOUT = 60.0
DEFAULT_MAX_STACK_DEPTH = 32


@dataclass(frozen=True)
class TypeConfig:
    """The settings of one actor type."""

    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    reentrancy: bool = False
    max_stack_depth: int = DEFAULT_MAX_STACK_DEPTH


@dataclass(frozen=True)
class ActorsConfig:
    entities: tuple[str, ...] = ()
    default: TypeConfig = field(default_factory=TypeConfig)
    per_type: Mapping[str, TypeConfig] = field(default_factory=dict)

    def for_type(self, actor_type: str) -> TypeConfig:
        return self.per_type.get(actor_type, self.default)


def _seconds(value: Any, name: str, fallback: float) -> float:
    if value in (None, ""):
        return fallback
    try:
        seconds = parse_go_duration(str(value)).total_seconds()
    except TimeFormatError:
        log.warning("/dapr/config: %s=%r is not a duration; using %ss", name, value, fallback)
        return fallback
    return seconds if seconds > 0 else fallback


def _apply(base: TypeConfig, doc: Mapping[str, Any]) -> TypeConfig:
    config = replace(
        base,
        idle_timeout=_seconds(doc.get("actorIdleTimeout"), "actorIdleTimeout", base.idle_timeout),
        drain_timeout=_seconds(doc.get("drainOngoingCallTimeout"), "drainOngoingCallTimeout", base.drain_timeout),
    )
    reentrancy = doc.get("reentrancy")
    if isinstance(reentrancy, Mapping):
        depth = reentrancy.get("maxStackDepth")
        config = replace(
            config, reentrancy=bool(reentrancy.get("enabled", False)),
            max_stack_depth=int(depth) if isinstance(depth, int) and depth > 0 else base.max_stack_depth,
        )
    return config


def parse_app_config(doc: Mapping[str, Any]) -> ActorsConfig:
    """Turn the app's ``/dapr/config`` JSON into settings; bad values fall back to defaults with a warning."""
    entities = tuple(str(e) for e in doc.get("entities") or ())
    default = _apply(TypeConfig(), doc)
    per_type: dict[str, TypeConfig] = {}
    for item in doc.get("entitiesConfig") or ():
        if not isinstance(item, Mapping):
            continue
        override = _apply(default, item)
        for name in item.get("entities") or ():
            per_type[str(name)] = override
    return ActorsConfig(entities=entities, default=default, per_type=per_type)
