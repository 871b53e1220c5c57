"""``lock.in-memory`` beyond the conformance kit (test_conformance_builtin.py): scope, registration, cleanup."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.lock import LockStore, TryLockRequest, UnlockRequest, UnlockStatus
from tandem.sidecar.drivers import memory_lock
from tandem.sidecar.drivers.memory_lock import MemoryLockStore
from tandem.sidecar.plugins import component_registry, plugin_manager

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def open_lock() -> MemoryLockStore:
    store = MemoryLockStore()
    await store.init(ComponentMetadata(name="lockstore", type="lock.in-memory"))
    return store


def test_registered_as_a_builtin() -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    driver = registry.lookup("lock.in-memory", "v1").create()
    assert isinstance(driver, MemoryLockStore) and isinstance(driver, LockStore)
    assert driver.features() == frozenset()


async def test_locks_belong_to_one_instance() -> None:
    """One sidecar's locks: another instance (another sidecar) does not see them."""
    one, two = await open_lock(), await open_lock()
    try:
        assert await one.try_lock(TryLockRequest("r", "a", 30))
        assert await two.try_lock(TryLockRequest("r", "b", 30))
        assert await two.unlock(UnlockRequest("r", "a")) is UnlockStatus.LOCK_BELONGS_TO_OTHERS
    finally:
        await one.close()
        await two.close()


async def test_expired_entries_are_dropped_on_unlock(monkeypatch: pytest.MonkeyPatch) -> None:
    store = await open_lock()
    now = [1000.0]
    monkeypatch.setattr(memory_lock, "time", SimpleNamespace(monotonic=lambda: now[0]))
    assert await store.try_lock(TryLockRequest("r", "a", 5))
    now[0] += 4.9
    assert not await store.try_lock(TryLockRequest("r", "b", 5))
    now[0] += 0.2
    assert await store.unlock(UnlockRequest("r", "a")) is UnlockStatus.LOCK_DOES_NOT_EXIST
    assert store._held == {}
    assert await store.try_lock(TryLockRequest("r", "b", 5))
    await store.close()

