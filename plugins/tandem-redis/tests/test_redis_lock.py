"""``lock.redis``: the conformance suite and Dapr's key layout (``SET NX EX``, Lua unlock)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis

from redis_helpers import component_yaml, redis_host
from tandem.sidecar.components.lock import LockStore, TryLockRequest, UnlockRequest, UnlockStatus
from tandem.sidecar.conformance import open_component
from tandem.sidecar.conformance.lock import LockStoreConformance

pytestmark = pytest.mark.anyio

LOCKSTORE = component_yaml("lockstore", "lock.redis", {"redisHost": redis_host(), "redisPassword": ""})


class TestRedisLockConformance(LockStoreConformance):
    @pytest.fixture
    async def lock_store(self, shared_redis: redis.Redis) -> AsyncIterator[LockStore]:
        async with open_component(LOCKSTORE, LockStore) as store:
            yield store


@pytest.fixture
async def locks(shared_redis: redis.Redis) -> AsyncIterator[LockStore]:
    async with open_component(LOCKSTORE, LockStore) as store:
        yield store


async def test_lock_is_a_plain_key_holding_the_owner(locks: LockStore, shared_redis: redis.Redis,
                                                     prefix: str) -> None:
    resource = f"{prefix}-res"
    assert await locks.try_lock(TryLockRequest(resource, "owner-a", 30))
    assert shared_redis.get(resource) == b"owner-a"
    assert 25 <= shared_redis.ttl(resource) <= 30
    assert await locks.unlock(UnlockRequest(resource, "owner-a")) is UnlockStatus.SUCCESS
    assert shared_redis.exists(resource) == 0


async def test_lock_taken_by_another_program_is_respected(locks: LockStore, shared_redis: redis.Redis,
                                                          prefix: str) -> None:
    resource = f"{prefix}-dapr"
    shared_redis.set(resource, "a-dapr-sidecar", ex=30)
    assert await locks.try_lock(TryLockRequest(resource, "owner-a", 30)) is False
    assert await locks.unlock(UnlockRequest(resource, "owner-a")) is UnlockStatus.LOCK_BELONGS_TO_OTHERS
    assert await locks.unlock(UnlockRequest(resource, "a-dapr-sidecar")) is UnlockStatus.SUCCESS
