"""``lock.in-memory``: locks within one sidecar, for tests and single-process use."""
from __future__ import annotations

import time

from ..components.base import ComponentMetadata
from ..components.lock import LockStore, TryLockRequest, UnlockRequest, UnlockStatus

__all__ = ["MemoryLockStore"]


class MemoryLockStore(LockStore):
    """Owner and deadline per resource; no awaits inside, so each call is atomic."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    async def try_lock(self, request: TryLockRequest) -> bool:
        now = time.monotonic()
        held = self._held.get(request.resource_id)
        if held is not None and held[1] > now:
            return False
        self._held[request.resource_id] = (request.lock_owner, now + request.expiry_seconds)
        return True

    async def unlock(self, request: UnlockRequest) -> UnlockStatus:
        held = self._held.get(request.resource_id)
        if held is None or held[1] <= time.monotonic():
            self._held.pop(request.resource_id, None)
            return UnlockStatus.LOCK_DOES_NOT_EXIST
        if held[0] != request.lock_owner:
            return UnlockStatus.LOCK_BELONGS_TO_OTHERS
        del self._held[request.resource_id]
        return UnlockStatus.SUCCESS
