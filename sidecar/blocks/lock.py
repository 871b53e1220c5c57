"""The distributed-lock building block: store lookup, validation, Dapr's errors (spec §6.5)."""
from __future__ import annotations

from ..components.lock import LockError, LockStore, TryLockRequest, UnlockRequest, UnlockStatus
from ..errors import DaprError
from .base import Block, LoadedComponent

__all__ = ["LockBlock"]


class LockBlock(Block):
    """All lock stores of one sidecar, by component name."""

    contracts = (LockStore,)

    def __init__(self) -> None:
        self._stores: dict[str, LockStore] = {}

    def add(self, component: LoadedComponent) -> None:
        assert isinstance(component.driver, LockStore)
        self._stores[component.name] = component.driver

    def store(self, name: str) -> LockStore:
        found = self._stores.get(name)
        if found is not None:
            return found
        if not self._stores:
            raise DaprError(500, "ERR_LOCK_STORE_NOT_CONFIGURED", "lock store is not configured")
        raise DaprError(400, "ERR_LOCK_STORE_NOT_FOUND", f"lock store {name} not found")

    async def try_lock(self, name: str, request: TryLockRequest) -> bool:
        store = self.store(name)
        if not request.resource_id:
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "ResourceId is empty in lock store " + name)
        if not request.lock_owner:
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "LockOwner is empty in lock store " + name)
        if request.expiry_seconds <= 0:
            raise DaprError(400, "ERR_MALFORMED_REQUEST",
                            f"ExpiryInSeconds is not positive in lock store {name}")
        try:
            return await store.try_lock(request)
        except LockError as exc:
            raise DaprError(500, "ERR_TRY_LOCK", f"failed to try acquiring lock: {exc}") from exc

    async def unlock(self, name: str, request: UnlockRequest) -> UnlockStatus:
        store = self.store(name)
        if not request.resource_id:
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "ResourceId is empty in lock store " + name)
        if not request.lock_owner:
            raise DaprError(400, "ERR_MALFORMED_REQUEST", "LockOwner is empty in lock store " + name)
        try:
            return await store.unlock(request)
        except LockError as exc:
            raise DaprError(500, "ERR_UNLOCK", f"failed to release lock: {exc}") from exc
