"""Trace context in Tandem services: continue the sidecar's trace in handlers, carry it on calls.

The sidecar calls a handler with a ``traceparent`` (its own span). While the
handler runs, that context is the current OpenTelemetry context, so spans the
app opens with its own tracer nest under the sidecar's, and
:class:`tandem.Client` calls made from the handler carry it on — the next
sidecar continues the same trace, with no code in the app::

    from opentelemetry import trace

    @app.method("checkout")
    async def checkout(order: dict) -> dict:
        with trace.get_tracer("shop").start_as_current_span("price"):   # a child of the sidecar's span
            ...
        await client.invoke("stock", "reserve", order)                  # same trace, next hop
        return {"trace": tandem.tracing.current_traceparent()}

Propagation uses the OpenTelemetry API's global propagator (W3C trace context
and baggage unless ``OTEL_PROPAGATORS`` says otherwise). Recording spans in the
app needs an OpenTelemetry SDK set up by the app; without one nothing is
recorded and the context still flows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping

from opentelemetry import context, propagate, trace
from starlette.types import Scope

__all__ = ["continued", "current_traceparent", "inject"]

_TRACE_HEADERS = (b"traceparent", b"tracestate", b"baggage")


@contextlib.contextmanager
def continued(scope: Scope) -> Iterator[None]:
    """Make the request's trace context (its ``traceparent``…) current for the body of the block.

    A request without trace headers changes nothing, and costs one scan of its headers.
    """
    carrier = {name.decode("latin-1"): value.decode("latin-1")
               for name, value in scope.get("headers", ()) if name in _TRACE_HEADERS}
    if not carrier:
        yield
        return
    token = context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        context.detach(token)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context to outgoing ``headers``, unless they already carry a ``traceparent``."""
    if "traceparent" in headers or "Traceparent" in headers:
        return
    if not trace.get_current_span().get_span_context().is_valid:
        return
    propagate.inject(headers)


def current_traceparent() -> str | None:
    """The current span's ``traceparent`` (inside a handler: the sidecar's, or the app's own span)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")
