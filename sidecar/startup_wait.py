"""Waiting, within a bound, for an invocation target that is still starting.

Apps started together (``tandem run -f``) come up in no set order: a client may
call an app id before that app's sidecar has registered, or before the app has
opened its port. Rather than fail such a call at once, the caller's sidecar
waits for the id to be registered, and the callee's sidecar waits for its app
to open its port the first time, each until ``--app-startup-wait`` has passed
since the call arrived. An app that was reachable once and is gone now is not
starting: that call fails at once, as before.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .channel import AppChannel

__all__ = ["deadline_after", "until_found", "until_app_reachable"]

T = TypeVar("T")

log = logging.getLogger("tandem.sidecar.invoke")

_FIRST_POLL = 0.05
_MAX_POLL = 0.25


def deadline_after(seconds: float) -> float:
    return time.monotonic() + seconds


async def until_found(look: Callable[[], Awaitable[list[T]]], deadline: float, what: str = "") -> list[T]:
    """``look()`` again and again, a little less often each time, until it finds something or the deadline
    passes; the last answer (empty when nothing was found)."""
    if deadline > time.monotonic():
        log.debug("%s is not registered yet: waiting up to %.1fs", what, deadline - time.monotonic())
    interval = _FIRST_POLL
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return []
        await asyncio.sleep(min(interval, left))
        found = await look()
        if found:
            return found
        interval = min(interval * 2, _MAX_POLL)


async def until_app_reachable(channel: AppChannel, deadline: float) -> bool:
    """Whether an app that never answered yet opens its port before the deadline (False for one that
    answered before: it is not starting, it is gone)."""
    if channel.reached:
        return False
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    log.debug("the app is not reachable on port %s yet: waiting up to %.1fs", channel.port, left)
    try:
        await asyncio.wait_for(channel.wait_until_reachable(), left)
    except asyncio.TimeoutError:
        return False
    return True
