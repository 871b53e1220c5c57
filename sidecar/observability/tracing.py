"""Spans through the OpenTelemetry API, and the W3C headers to send on after them.

:class:`Tracing` is off until the runtime configures it from the Configuration's
``tracing`` section (see :mod:`.otel_sdk`, the optional ``tandem[otel]`` extra).
Off, :meth:`Tracing.start` opens nothing and only makes the next hop's
``traceparent`` (a child id under the caller's trace), so trace context flows
with no exporter at all.

For code that calls out on behalf of a request (actors, bindings, deliveries)::

    span = runtime.observability.tracing.start(
        "CallActor/Counter/increment", CLIENT, parent=traceparent, state=tracestate,
        attributes={"dapr.actor": "Counter.1"})
    headers.update(span.headers())          # traceparent (+ tracestate) for the outgoing call
    ...
    span.end(status=reply.status)           # or span.end(error="why") when there is no reply
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from ..tracecontext import child_traceparent, format_traceparent, parse_traceparent, valid_tracestate

__all__ = ["CLIENT", "CONSUMER", "PRODUCER", "SERVER", "ActiveSpan", "Tracing"]

log = logging.getLogger("tandem.sidecar.tracing")

CLIENT = SpanKind.CLIENT
SERVER = SpanKind.SERVER
PRODUCER = SpanKind.PRODUCER
CONSUMER = SpanKind.CONSUMER


class _Provider(Protocol):
    def get_tracer(self, name: str, version: str | None = None) -> trace.Tracer: ...

    def shutdown(self) -> None: ...


class ActiveSpan:
    """A started span (or, with tracing off, just the next hop's context)."""

    __slots__ = ("traceparent", "tracestate", "_span")

    def __init__(self, traceparent: str, tracestate: str | None, span: trace.Span | None = None) -> None:
        self.traceparent = traceparent
        self.tracestate = tracestate
        self._span = span

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1]

    @property
    def recording(self) -> bool:
        return self._span is not None and self._span.is_recording()

    def headers(self) -> dict[str, str]:
        """``traceparent`` and, when there is one, ``tracestate``, for the outgoing call."""
        found = {"traceparent": self.traceparent}
        if self.tracestate:
            found["tracestate"] = self.tracestate
        return found

    def set_attribute(self, key: str, value: str) -> None:
        if self._span is not None:
            self._span.set_attribute(key, value)

    def end(self, status: int | None = None, error: str | None = None) -> None:
        """End the span: an HTTP ``status`` of 400 or more, or an ``error``, marks it failed."""
        span = self._span
        if span is None:
            return
        if status is not None:
            span.set_attribute("dapr.status_code", str(status))
            if status >= 400:
                span.set_status(Status(StatusCode.ERROR, f"Code({status})"))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()


def _remote_parent(traceparent: str | None, tracestate: str | None) -> Any:
    """An OpenTelemetry context whose current span is the caller's (or an empty one)."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    try:
        state = TraceState.from_header([tracestate]) if tracestate else None
    except ValueError:
        state = None
    context = SpanContext(int(parsed.trace_id, 16), int(parsed.span_id, 16), is_remote=True,
                          trace_flags=TraceFlags(int(parsed.flags, 16)), trace_state=state)
    return trace.set_span_in_context(NonRecordingSpan(context))


class Tracing:
    """The sidecar's tracer: off (propagation only) until :meth:`install` gives it a provider."""

    def __init__(self) -> None:
        self._provider: _Provider | None = None
        self._tracer: trace.Tracer | None = None

    @property
    def recording(self) -> bool:
        """True when spans are made and exported (an SDK provider is installed)."""
        return self._tracer is not None

    def install(self, provider: _Provider, version: str = "") -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("tandem.sidecar", version or None)

    def start(self, name: str, kind: SpanKind, *, parent: str | None = None, state: str | None = None,
              attributes: Mapping[str, str] | None = None) -> ActiveSpan:
        """Open a span under ``parent`` (a ``traceparent``; a new trace when None or invalid)."""
        state = valid_tracestate(state)
        tracer = self._tracer
        if tracer is None:
            return ActiveSpan(child_traceparent(parent), state)
        span = tracer.start_span(name, context=_remote_parent(parent, state), kind=kind, attributes=attributes)
        context = span.get_span_context()
        traceparent = format_traceparent(f"{context.trace_id:032x}", f"{context.span_id:016x}",
                                         bool(context.trace_flags & TraceFlags.SAMPLED))
        tracestate = context.trace_state.to_header() if context.trace_state else state
        return ActiveSpan(traceparent, tracestate or None, span)

    async def close(self) -> None:
        """Flush what is left to the exporters and stop them."""
        provider, self._provider, self._tracer = self._provider, None, None
        if provider is not None:
            try:
                await asyncio.to_thread(provider.shutdown)
            except Exception as exc:  # an exporter's failure must not stop the shutdown
                log.warning("tracing: flushing spans at shutdown failed: %r", exc)
