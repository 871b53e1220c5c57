"""Tandem: write services for a Dapr-compatible sidecar.

`App` answers the sidecar's calls into the service (invocation, pub/sub deliveries, input
bindings) and hosts virtual actors (`Actor`, `actor_method`); `Client` calls the sidecar's
API (state, metadata, health, actors ...). The client's data types (`StateItem`,
`SidecarResponse` ...) live in `tandem.client`; typed payloads in `tandem.payloads`.
"""

from __future__ import annotations

import warnings

from .actors import (
    Actor,
    ActorConfig,
    ActorProxy,
    ActorReminder,
    ActorStateManager,
    CancelReminder,
    Reentrancy,
    actor_method,
)
from .app import App, TandemMiddleware
from .client import Client
from .errors import Drop, Retry, SidecarError, SidecarUnavailable
from .router import CloudEvent, Router

__all__ = [
    "Actor",
    "ActorConfig",
    "ActorProxy",
    "ActorReminder",
    "ActorStateManager",
    "App",
    "CancelReminder",
    "Client",
    "CloudEvent",
    "Drop",
    "Reentrancy",
    "Retry",
    "Router",
    "SidecarError",
    "SidecarUnavailable",
    "TandemMiddleware",
    "actor_method",
]

# Moved to `tandem.client`; still importable from here, with a warning, until the next release.
_MOVED_TO_CLIENT = frozenset({
    "BindingResult", "BulkPublishEntry", "BulkPublishFailure", "BulkStateItem",
    "SidecarResponse", "StateItem", "StateResult", "TransactionOperation",
})


def __getattr__(name: str) -> object:
    if name in _MOVED_TO_CLIENT:
        warnings.warn(f"tandem.{name} moved to tandem.client.{name}; import it from there",
                      DeprecationWarning, stacklevel=2)
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
