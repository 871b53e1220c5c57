"""Conformance suite for ``lock.*`` drivers (the contract in :mod:`tandem.sidecar.components.lock`).

Subclass :class:`LockStoreConformance` under a ``Test…`` name and define:

``lock_store`` (fixture, required)
    Yields an *initialised* :class:`~tandem.sidecar.components.lock.LockStore`
    and closes it afterwards. Every test locks only its own resources
    (``conformance-lock-<uuid>``) and unlocks what it still holds when it
    ends, so one shared server is fine.

Class attributes a subclass may set:

``expiry_grace`` (``0.5``)
    Seconds past ``expiry_seconds`` after which an expired lock must be free.

Semantics checked (Dapr's, as on Redis ``SET NX PX``): a held lock refuses
every ``try_lock``, its owner's included; it frees itself after
``expiry_seconds``; only its owner unlocks it.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import ClassVar

import anyio
import pytest

from ..components.lock import LockStore, TryLockRequest, UnlockRequest, UnlockStatus
from . import ConformanceSuite, unique

__all__ = ["LockStoreConformance"]


class LockStoreConformance(ConformanceSuite):
    """The lock contract as tests; see the module docstring for the fixture and attributes."""

    expiry_grace: ClassVar[float] = 0.5

    _held: set[tuple[str, str]]

    @pytest.fixture
    def lock_store(self) -> LockStore:
        pytest.fail(f"{type(self).__name__} must define a 'lock_store' fixture yielding an initialised LockStore")

    @pytest.fixture(autouse=True)
    async def _conformance_lock_cleanup(self, lock_store: LockStore) -> AsyncIterator[None]:
        """Unlock what the test may still hold."""
        self._held = set()
        yield
        for resource, owner in sorted(self._held):
            with contextlib.suppress(Exception):
                await lock_store.unlock(UnlockRequest(resource, owner))

    # -- helpers --------------------------------------------------------------------

    @staticmethod
    def resource() -> str:
        return unique("lock")

    async def lock(self, store: LockStore, resource: str, owner: str, expiry: int = 30) -> bool:
        """``try_lock``, remembering a success so the lock is released when the test ends."""
        taken = await store.try_lock(TryLockRequest(resource, owner, expiry))
        assert isinstance(taken, bool), f"try_lock returned {taken!r}, not a bool"
        if taken:
            self._held.add((resource, owner))
        return taken

    @staticmethod
    async def unlock(store: LockStore, resource: str, owner: str) -> UnlockStatus:
        status = await store.unlock(UnlockRequest(resource, owner))
        assert isinstance(status, UnlockStatus), f"unlock returned {status!r}, not an UnlockStatus"
        return status

    # -- tests ----------------------------------------------------------------------

    async def test_try_lock_takes_a_free_lock(self, lock_store: LockStore) -> None:
        assert await self.lock(lock_store, self.resource(), "owner-a") is True

    async def test_a_held_lock_refuses_another_owner(self, lock_store: LockStore) -> None:
        resource = self.resource()
        assert await self.lock(lock_store, resource, "owner-a")
        assert await self.lock(lock_store, resource, "owner-b") is False

    async def test_a_held_lock_refuses_its_own_owner_too(self, lock_store: LockStore) -> None:
        resource = self.resource()
        assert await self.lock(lock_store, resource, "owner-a")
        assert await self.lock(lock_store, resource, "owner-a") is False

    async def test_locks_of_different_resources_are_independent(self, lock_store: LockStore) -> None:
        one, two = self.resource(), self.resource()
        assert await self.lock(lock_store, one, "owner-a")
        assert await self.lock(lock_store, two, "owner-b")
        assert await self.unlock(lock_store, two, "owner-b") is UnlockStatus.SUCCESS
        assert await self.lock(lock_store, one, "owner-b") is False

    async def test_the_owner_unlocks(self, lock_store: LockStore) -> None:
        resource = self.resource()
        assert await self.lock(lock_store, resource, "owner-a")
        assert await self.unlock(lock_store, resource, "owner-a") is UnlockStatus.SUCCESS
        assert await self.unlock(lock_store, resource, "owner-a") is UnlockStatus.LOCK_DOES_NOT_EXIST
        assert await self.lock(lock_store, resource, "owner-b") is True  # free again

    async def test_another_owner_cannot_unlock(self, lock_store: LockStore) -> None:
        resource = self.resource()
        assert await self.lock(lock_store, resource, "owner-a")
        assert await self.unlock(lock_store, resource, "owner-b") is UnlockStatus.LOCK_BELONGS_TO_OTHERS
        assert await self.lock(lock_store, resource, "owner-c") is False  # still held
        assert await self.unlock(lock_store, resource, "owner-a") is UnlockStatus.SUCCESS

    async def test_unlocking_a_missing_lock(self, lock_store: LockStore) -> None:
        assert await self.unlock(lock_store, self.resource(), "owner-a") is UnlockStatus.LOCK_DOES_NOT_EXIST

    async def test_an_expired_lock_is_free(self, lock_store: LockStore) -> None:
        retaken, lapsed = self.resource(), self.resource()
        assert await self.lock(lock_store, retaken, "owner-a", expiry=1)
        assert await self.lock(lock_store, lapsed, "owner-a", expiry=1)
        assert await self.lock(lock_store, retaken, "owner-b", expiry=1) is False
        await anyio.sleep(1.0 + self.expiry_grace)
        assert await self.lock(lock_store, retaken, "owner-b") is True
        assert await self.unlock(lock_store, retaken, "owner-a") is UnlockStatus.LOCK_BELONGS_TO_OTHERS
        assert await self.unlock(lock_store, lapsed, "owner-a") is UnlockStatus.LOCK_DOES_NOT_EXIST

    async def test_concurrent_try_lock_has_one_winner(self, lock_store: LockStore) -> None:
        resource = self.resource()
        results: dict[str, bool] = {}

        async def attempt(owner: str) -> None:
            results[owner] = await self.lock(lock_store, resource, owner)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(attempt, f"owner-{i}")
        winners = [owner for owner, taken in results.items() if taken]
        assert len(winners) == 1, winners
        assert await self.unlock(lock_store, resource, winners[0]) is UnlockStatus.SUCCESS
