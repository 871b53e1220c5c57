"""Tandem: write services for a Dapr-compatible sidecar.

`App` answers the sidecar's calls into the service (invocation, pub/sub deliveries, input
bindings); `Client` calls the sidecar's API (state, metadata, health ...).
"""

from __future__ import annotations

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
    "App",
    "BindingResult",
    "BulkPublishEntry",
    "BulkPublishFailure",
    "BulkStateItem",
    "Client",
    "CloudEvent",
    "Drop",
    "Retry",
    "Router",
    "SidecarError",
    "SidecarResponse",
    "SidecarUnavailable",
    "StateItem",
    "StateResult",
    "TandemMiddleware",
    "TransactionOperation",
]
