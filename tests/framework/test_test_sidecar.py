"""`tandem.testing.TestSidecar`: a `tandem.App` and its sidecar in the test's own process and event loop."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tandem import Actor, App, Client, CloudEvent, actor_method
from tandem.testing import TestSidecar, await_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def shop() -> tuple[App, list[Any]]:
    """An app whose method publishes and whose topic handler stores what it gets, through its own sidecar."""
    app, seen = App(), []

    @app.method("order")
    async def order(body: dict[str, Any]) -> dict[str, Any]:
        async with Client() as client:  # the app's own client: found through DAPR_HTTP_ENDPOINT
            await client.publish("pubsub", "orders", body)
        return {"accepted": body["id"]}

    @app.topic("pubsub", "orders")
    async def orders(event: CloudEvent) -> None:
        async with Client() as client:
            await client.save_state("statestore", f"order-{event.data['id']}", event.data)
        seen.append(event.data)

    return app, seen


async def test_invoke_publish_deliver_and_store_all_in_one_process() -> None:
    app, seen = shop()
    async with TestSidecar(app, app_id="shop") as sidecar, sidecar.client() as client:
        reply = await client.invoke("shop", "order", {"id": 7})
        assert reply.status == 200 and reply.json() == {"accepted": 7}
        await await_for(lambda: seen, what="the order event at the app's own @topic handler")
        assert (await client.get_state("statestore", "order-7")).json() == {"id": 7}


async def test_the_environment_points_at_the_sidecar_only_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPR_HTTP_ENDPOINT", "http://elsewhere:1")
    app, _ = shop()
    async with TestSidecar(app) as sidecar:
        assert os.environ["DAPR_HTTP_ENDPOINT"] == sidecar.url
    assert os.environ["DAPR_HTTP_ENDPOINT"] == "http://elsewhere:1"


async def test_the_apps_actors_are_hosted_and_keep_their_state_between_calls() -> None:
    app = App()

    @app.actor
    class Counter(Actor):
        @actor_method
        async def add(self, n: int) -> int:
            total = int(await self.state.get("total", 0)) + n
            await self.state.set("total", total)
            return total

    async with TestSidecar(app) as sidecar, sidecar.client() as client:
        assert await client.actor("Counter", "c1").add(2) == 2
        assert await client.actor("Counter", "c1").add(3) == 5
        assert await client.actor("Counter", "c2").add(1) == 1


def test_importing_tandem_testing_does_not_import_the_sidecar() -> None:
    """`TestSidecar` is imported on first use: an app's tests that never use it load no sidecar code."""
    code = ("import sys, tandem.testing; assert not [m for m in sys.modules if m.startswith('tandem.sidecar')]; "
            "tandem.testing.TestSidecar; assert 'tandem.sidecar.testing' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
