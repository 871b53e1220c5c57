"""Virtual actors for Tandem apps: `Actor`, `actor_method`, the runtime and the client side.

Modules, one job each: `actor` (the base class and marker), `state` (the per-turn state
manager), `host` (activations and the routes the sidecar calls), `calls` (the sidecar's
actor API on `tandem.Client`, and `ActorProxy`), `config` (``/dapr/config``), `durations`.
"""

from __future__ import annotations

from .actor import Actor, CancelReminder, actor_method
from .calls import ActorCalls, ActorProxy, ActorReminder
from .config import ActorConfig, Reentrancy
from .host import ActorHost
from .state import ActorStateManager

__all__ = [
    "Actor",
    "ActorCalls",
    "ActorConfig",
    "ActorHost",
    "ActorProxy",
    "ActorReminder",
    "ActorStateManager",
    "CancelReminder",
    "Reentrancy",
    "actor_method",
]
