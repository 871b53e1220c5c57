"""Tandem: write services for a Dapr-compatible sidecar.

`App` answers the sidecar's calls into the service (invocation, pub/sub deliveries, input
bindings) and hosts virtual actors (`Actor`, `actor_method`); `Client` calls the sidecar's
API (state, metadata, health, actors ...).
"""

from __future__ import annotations

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
from .client import (
    BindingResult,
    BulkPublishEntry,
    BulkPublishFailure,
    BulkStateItem,
    Client,
    SidecarResponse,
    StateItem,
    StateResult,
    TransactionOperation,
)
from .errors import Drop, Retry, SidecarError, SidecarUnavailable
from .router import CloudEvent, Router

__all__ = [
    "Actor",
    "ActorConfig",
    "ActorProxy",
    "ActorReminder",
    "ActorStateManager",
    "App",
    "BindingResult",
    "BulkPublishEntry",
    "BulkPublishFailure",
    "BulkStateItem",
    "CancelReminder",
    "Client",
    "CloudEvent",
    "Drop",
    "Reentrancy",
    "Retry",
    "Router",
    "SidecarError",
    "SidecarResponse",
    "SidecarUnavailable",
    "StateItem",
    "StateResult",
    "TandemMiddleware",
    "TransactionOperation",
    "actor_method",
]
