"""Redis components for Tandem, in Dapr's own data layout (``state.redis``, ``pubsub.redis``, ``lock.redis``)."""
from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
