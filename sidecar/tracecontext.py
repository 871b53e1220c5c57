"""W3C trace context (``traceparent``/``tracestate``) for calls the sidecar carries.

Every hop gets a new span id under the caller's trace, or a new trace when the
call arrives without one. When the tracing block records spans, the API
middleware opens a span per call and leaves its context in the ASGI scope under
:data:`SCOPE_KEY`; :func:`for_next_hop` hands that on, so the next hop's parent
is a span that is exported. Without a recorded span it falls back to a fresh
child id: traces still join up, nothing is exported.
"""
from __future__ import annotations

import random
import re
from typing import NamedTuple

from starlette.types import Scope

__all__ = [
    "SCOPE_KEY",
    "TraceParent",
    "child_traceparent",
    "for_next_hop",
    "format_traceparent",
    "incoming",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "valid_tracestate",
]

#: Where the API middleware leaves ``(traceparent, tracestate)`` of the span it opened.
SCOPE_KEY = "tandem.trace"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
#: W3C: at most 32 list members; Dapr drops a tracestate longer than 512 characters.
_MAX_TRACESTATE = 512
# Trace and span ids need to be unique, not secret: a PRNG seeded from the OS is enough,
# and it spares a system call per hop.
_rand = random.Random()


class TraceParent(NamedTuple):
    """A parsed ``traceparent``: ids as lower-case hex, ``sampled`` from the flags."""

    trace_id: str
    span_id: str
    flags: str

    @property
    def sampled(self) -> bool:
        return bool(int(self.flags, 16) & 1)


def _hex(bits: int) -> str:
    return f"{_rand.getrandbits(bits):0{bits // 4}x}"


def new_trace_id() -> str:
    return _hex(128)


def new_span_id() -> str:
    return _hex(64)


def parse_traceparent(value: str | None) -> TraceParent | None:
    """The header's fields, or None when it is absent or not a valid version-00 (or later) header."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or (version == "00" and rest):
        return None
    return TraceParent(trace_id, span_id, flags)


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def valid_tracestate(value: str | None) -> str | None:
    """``tracestate`` as it may be carried on: None when absent, empty or too long."""
    if not value or len(value) > _MAX_TRACESTATE:
        return None
    return value


def child_traceparent(incoming: str | None) -> str:
    """A ``traceparent`` for the next hop: the same trace with a new span, or a new sampled trace."""
    parent = parse_traceparent(incoming)
    if parent is not None:
        return f"00-{parent.trace_id}-{_hex(64)}-{parent.flags}"
    return f"00-{_hex(128)}-{_hex(64)}-01"


def incoming(scope: Scope) -> tuple[str | None, str | None]:
    """The request's own ``traceparent`` and ``tracestate`` headers (None when absent)."""
    traceparent = tracestate = None
    for name, value in scope["headers"]:
        if name == b"traceparent":
            traceparent = value.decode("latin-1")
        elif name == b"tracestate":
            tracestate = value.decode("latin-1")
    return traceparent, tracestate


def for_next_hop(scope: Scope) -> tuple[str, str | None]:
    """``(traceparent, tracestate)`` to send on: the recorded span's, else a child of the caller's."""
    opened: tuple[str, str | None] | None = scope.get(SCOPE_KEY)
    if opened is not None:
        return opened
    traceparent, tracestate = incoming(scope)
    return child_traceparent(traceparent), valid_tracestate(tracestate)
