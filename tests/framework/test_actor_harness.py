"""An actor app under ``tandem_app`` beside a real sidecar: proxy calls reach the actor, turns
of one id never interleave, and each id is activated once."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tandem import Actor, App, actor_method
from tandem.testing import RunningService

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.anyio,
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_counter_actor_beside_a_real_sidecar(tandem_app: Callable[..., RunningService]) -> None:
    app = App()
    activations: list[str] = []

    @app.actor
    class Counter(Actor):
        async def on_activate(self) -> None:
            activations.append(self.id)

        @actor_method
        async def increment(self, by: int) -> int:
            value = await self.state.get("value", 0)
            await asyncio.sleep(0)  # a turn that interleaved with another would lose an update here
            await self.state.set("value", value + by)
            return int(value + by)

    service = tandem_app(app, app_id="counters")
    async with service.client() as client:
        counter = client.actor("Counter", "c1")
        results = await asyncio.gather(*(counter.increment(1) for _ in range(20)))
        assert sorted(results) == list(range(1, 21))
        assert await client.actor("Counter", "c2").call("increment", 5) == 5
    assert sorted(activations) == ["c1", "c2"]
    assert set(app.actors.active()) == {("Counter", "c1"), ("Counter", "c2")}
