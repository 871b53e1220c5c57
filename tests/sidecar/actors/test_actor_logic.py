"""The actor runtime's pure parts: the app's config, the hash ring, the turn lock."""
from __future__ import annotations

import asyncio

import pytest

from tandem.sidecar.actors.config import DEFAULT_IDLE_TIMEOUT, parse_app_config
from tandem.sidecar.actors.ring import HashRing, ring_hash
from tandem.sidecar.actors.turns import TurnLock
from tandem.sidecar.errors import DaprError


def test_app_config_with_overrides_per_type() -> None:
    config = parse_app_config({
        "entities": ["A", "B", "C"], "actorIdleTimeout": "0h5m0s0ms0μs", "drainOngoingCallTimeout": "30s",
        "reentrancy": {"enabled": True, "maxStackDepth": 8},
        "entitiesConfig": [{"entities": ["B"], "actorIdleTimeout": "10s", "reentrancy": {"enabled": False}}],
    })
    assert config.entities == ("A", "B", "C")
    a, b = config.for_type("A"), config.for_type("B")
    assert (a.idle_timeout, a.drain_timeout, a.reentrancy, a.max_stack_depth) == (300, 30, True, 8)
    assert (b.idle_timeout, b.drain_timeout, b.reentrancy) == (10, 30, False)
    assert config.for_type("C") == a


def test_app_config_defaults_and_bad_values() -> None:
    config = parse_app_config({"entities": ["A"], "actorIdleTimeout": "soon"})
    assert config.for_type("A").idle_timeout == DEFAULT_IDLE_TIMEOUT
    assert parse_app_config({}).entities == ()


def test_ring_hash_is_daprs_blake2b_prefix() -> None:
    import hashlib

    digest = hashlib.blake2b(b"actor-1").digest()
    assert ring_hash("actor-1") == int.from_bytes(digest[:8], "little")


def test_ring_spreads_ids_and_moves_few_when_a_host_joins() -> None:
    two = HashRing(["h1:1", "h2:2"])
    ids = [f"id-{i}" for i in range(2000)]
    owners = {i: two.owner(i) for i in ids}
    share = sum(1 for o in owners.values() if o == "h1:1") / len(ids)
    assert 0.3 < share < 0.7
    three = HashRing(["h1:1", "h2:2", "h3:3"])
    moved = [i for i in ids if three.owner(i) != owners[i]]
    assert all(three.owner(i) == "h3:3" for i in moved)  # only ids the new host takes move
    assert 0.15 < len(moved) / len(ids) < 0.5
    assert HashRing([]).owner("x") is None


@pytest.mark.anyio
async def test_turns_are_fifo_and_exclusive() -> None:
    lock = TurnLock()
    order: list[int] = []
    inside = 0

    async def turn(n: int) -> None:
        nonlocal inside
        async with lock.turn():
            inside += 1
            assert inside == 1
            order.append(n)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(turn(n) for n in range(50)))
    assert order == list(range(50))


@pytest.mark.anyio
async def test_reentrant_turns_enter_and_are_depth_limited() -> None:
    lock = TurnLock()
    async with lock.turn("chain-1", max_depth=2):
        async with lock.turn("chain-1", max_depth=2):
            with pytest.raises(DaprError) as raised:
                async with lock.turn("chain-1", max_depth=2):
                    pass
            assert raised.value.code == "ERR_ACTOR_STACK_DEPTH"
        other = asyncio.ensure_future(_enter(lock, "chain-2"))
        await asyncio.sleep(0.01)
        assert not other.done()  # another chain waits for the turn
    await asyncio.wait_for(other, 1)


async def _enter(lock: TurnLock, chain: str) -> None:
    async with lock.turn(chain):
        pass


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
