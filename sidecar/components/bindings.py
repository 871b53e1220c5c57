"""The bindings contract: what ``bindings.*`` drivers implement (spec §4).

Bindings connect the app to outside systems without a client library:

* an :class:`InputBinding` calls the app when something happens outside (a
  schedule fires, a message arrives). The runtime hands ``read`` a handler; each
  event goes through it to the app, and the handler returns the app's answer —
  or raises when the app failed it, so that the driver acknowledges or retries
  as its system allows;
* an :class:`OutputBinding` lets the app act on an outside system: the runtime
  checks the operation against ``operations()`` before ``invoke``.

One driver class may be both (inherit from both contracts); the component's
``direction`` metadata decides which sides the runtime uses.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .base import Component, DriverError

__all__ = [
    "BindingError", "BindingEvent", "BindingFeature", "EventHandler", "InputBinding", "InvokeRequest",
    "InvokeResponse", "OutputBinding",
]


class BindingFeature(str, enum.Enum):
    """What the metadata API lists as a binding's capabilities (Dapr's names)."""

    INPUT_BINDING = "INPUT_BINDING"
    OUTPUT_BINDING = "OUTPUT_BINDING"


class BindingError(DriverError):
    """The outside system failed an operation.

    ``metadata`` is what is known of its answer anyway (an HTTP status, say):
    Dapr returns it to the app as ``metadata.*`` headers even on error.
    """

    def __init__(self, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.metadata: dict[str, str] = dict(metadata or {})


@dataclass(frozen=True)
class BindingEvent:
    """One event from an input binding, for the app: raw bytes (maybe none) and metadata."""

    data: bytes = b""
    #: Sent to the app as HTTP headers.
    metadata: Mapping[str, str] = field(default_factory=dict)


#: Delivers one event to the app; returns the app's answer body, raises when the app failed it.
EventHandler = Callable[[BindingEvent], Awaitable[bytes]]


@dataclass(frozen=True)
class InvokeRequest:
    """One output-binding call: ``data`` is the JSON re-encoding of the app's ``data`` field."""

    operation: str
    data: bytes = b""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvokeResponse:
    """The outside system's answer: returned to the app as the body and ``metadata.*`` headers."""

    data: bytes = b""
    metadata: Mapping[str, str] = field(default_factory=dict)


class InputBinding(Component):
    kind = "bindings"

    @abc.abstractmethod
    async def read(self, handler: EventHandler) -> None:
        """Start calling ``handler`` for each event and return at once.

        Called at most once, after ``init``, when the app is ready for events.
        Handler calls must not pile up: a driver waits for one (or for a bounded
        number) before starting the next.
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop reading: no handler call starts after this returns. Safe to call twice or before ``read``."""

    def features(self) -> frozenset[str]:
        return super().features() | {BindingFeature.INPUT_BINDING.value}


class OutputBinding(Component):
    kind = "bindings"

    @abc.abstractmethod
    def operations(self) -> Sequence[str]:
        """The operation names ``invoke`` accepts (``create``, ``get`` …); others never reach it."""

    @abc.abstractmethod
    async def invoke(self, request: InvokeRequest) -> InvokeResponse | None:
        """Run one operation; ``None`` when it has no answer at all (the app gets a 204).

        Raise :class:`BindingError` when the outside system failed it (any other
        exception is reported the same way, without metadata).
        """

    def features(self) -> frozenset[str]:
        return super().features() | {BindingFeature.OUTPUT_BINDING.value}
