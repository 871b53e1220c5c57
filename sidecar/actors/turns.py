"""Turn-based concurrency: one FIFO lock per actor, with Dapr's reentrancy (spec §5.3).

Every method call, timer and reminder takes a turn. With reentrancy on, a
request carrying the ``Dapr-Reentrancy-Id`` of the turn in flight enters at
once, one level deeper; past ``max_depth`` it is refused.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import DaprError

__all__ = ["TurnLock", "stack_depth_error"]


def stack_depth_error(depth: int) -> DaprError:
    return DaprError(500, "ERR_ACTOR_STACK_DEPTH", f"maximum stack depth exceeded: {depth}")


class TurnLock:
    """asyncio.Lock hands over in FIFO order and never lets a newcomer barge ahead of waiters."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: str | None = None
        self._depth = 0
        self.waiting = 0

    @property
    def busy(self) -> bool:
        return self._lock.locked() or self.waiting > 0

    @asynccontextmanager
    async def turn(self, reentrancy_id: str | None = None, max_depth: int = 32) -> AsyncIterator[None]:
        if reentrancy_id is not None and self._lock.locked() and reentrancy_id == self._owner:
            if self._depth >= max_depth:
                raise stack_depth_error(max_depth)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self.waiting -= 1
        self._owner, self._depth = reentrancy_id, 1
        try:
            yield
        finally:
            self._owner, self._depth = None, 0
            self._lock.release()
