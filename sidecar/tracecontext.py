"""W3C trace context (``traceparent``) for calls the sidecar carries.

Every hop gets a new span id under the caller's trace, or a new trace when the
call arrives without one. Exporting spans is the tracing block's job; this only
keeps the context flowing so that traces join up across services.
"""
from __future__ import annotations

import random
import re

__all__ = ["child_traceparent"]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# Trace and span ids need to be unique, not secret: a PRNG seeded from the OS is enough,
# and it spares a system call per hop.
_rand = random.Random()


def _hex(bits: int) -> str:
    return f"{_rand.getrandbits(bits):0{bits // 4}x}"


def child_traceparent(incoming: str | None) -> str:
    """A ``traceparent`` for the next hop: the same trace with a new span, or a new sampled trace."""
    if incoming:
        match = _TRACEPARENT.match(incoming.strip().lower())
        if match and match.group(2) != "0" * 32 and match.group(1) != "ff":
            return f"00-{match.group(2)}-{_hex(64)}-{match.group(4)}"
    return f"00-{_hex(128)}-{_hex(64)}-01"
