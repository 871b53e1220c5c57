"""``placement.redis``: the placement conformance suite, and the layout on the shared Redis."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis

from redis_helpers import component_yaml, redis_host
from tandem.sidecar.components.placement import HostInfo, PlacementStore
from tandem.sidecar.conformance import open_component, unique
from tandem.sidecar.conformance.placement import PlacementStoreConformance

pytestmark = pytest.mark.anyio

PLACEMENT = component_yaml("statestore", "placement.redis", {"redisHost": redis_host(), "redisPassword": ""})


class TestRedisPlacementConformance(PlacementStoreConformance):
    @pytest.fixture
    async def placement_store(self, shared_redis: redis.Redis) -> AsyncIterator[PlacementStore]:
        async with open_component(PLACEMENT, PlacementStore) as store:
            yield store


async def test_layout_and_a_graceful_leave_frees_claims(shared_redis: redis.Redis) -> None:
    ns = unique("placement")
    async with open_component(PLACEMENT, PlacementStore) as store:
        host = HostInfo("h1", "app", "10.0.0.1:5000", ("Counter",), ns, 7)
        await store.heartbeat(host, 30)
        assert await store.claim(ns, "Counter||a", "h1") is None
        assert shared_redis.get(f"tandem||placement||{ns}||claim||Counter||a") == b"h1"
        assert shared_redis.hexists(f"tandem||placement||{ns}||hosts", "h1")
        await store.leave("h1")
        assert shared_redis.exists(f"tandem||placement||{ns}||claim||Counter||a") == 0
        assert shared_redis.exists(f"tandem||placement||{ns}||held||h1") == 0
        assert not shared_redis.hexists(f"tandem||placement||{ns}||hosts", "h1")
    for key in shared_redis.scan_iter(match=f"tandem||placement||{ns}*"):
        shared_redis.delete(key)
