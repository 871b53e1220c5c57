"""Observability: spans (OpenTelemetry), metrics (Prometheus text format) and logs.

The runtime owns one :class:`~.bundle.Observability`; the API middleware
(:class:`tandem.sidecar.api.middleware.Observe`) and the blocks that call the
app or a component record through it.
"""
from __future__ import annotations

from .bundle import Observability

__all__ = ["Observability"]
