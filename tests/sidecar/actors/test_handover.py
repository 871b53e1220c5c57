"""Hand-over on placement refresh: an actor activated while the rings changed is not kept for good."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tandem.sidecar.actors.config import parse_app_config
from tandem.sidecar.actors.ring import HashRing
from tandem.sidecar.actors.runtime import Activation, ActorRuntime
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.placement import HostInfo
from tandem.sidecar.drivers.memory_placement import MemoryPlacementStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_an_actor_activated_during_a_ring_change_is_handed_over_at_the_next_refresh() -> None:
    store = MemoryPlacementStore()
    await store.init(ComponentMetadata(name="placement", type="placement.in-memory"))
    session: Any = None  # no forwarding happens here
    runtime = ActorRuntime("app", "", None, store, session)
    runtime.config = parse_app_config({"entities": ["T"]})
    runtime.placement.set_address("127.0.0.1:1")
    await runtime.placement.host_types(("T",))
    await store.heartbeat(HostInfo("other", "app", "127.0.0.1:2", ("T",), "", 2), 60)
    await runtime.placement.refresh()  # B joined: nothing was active here yet
    ring = HashRing(["127.0.0.1:1", "127.0.0.1:2"])
    theirs = next(f"id-{i}" for i in range(100) if ring.owner(f"id-{i}") == "127.0.0.1:2")
    ours = next(f"id-{i}" for i in range(100) if ring.owner(f"id-{i}") == "127.0.0.1:1")
    # Both finished activating just after that change was handled (their claims were in flight).
    for actor_id in (theirs, ours):
        runtime.active[("T", actor_id)] = Activation("T", actor_id)
    await runtime.placement.refresh()  # no change in hosts this time
    await asyncio.sleep(0.05)
    assert list(runtime.active) == [("T", ours)]
    await store.close()
