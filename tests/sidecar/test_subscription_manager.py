"""`SubscriptionManager.start`: the metadata API's list of subscriptions appears whole, never in part."""
from __future__ import annotations

import asyncio
import json

import pytest

from tandem.sidecar.blocks.pubsub import PubSubComponent, SubscriptionManager
from tandem.sidecar.blocks.pubsub.subscriptions import from_app
from tandem.sidecar.channel import AppChannel
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.pubsub import MessageHandler, SubscribeRequest, Subscription
from tandem.sidecar.drivers.memory_pubsub import MemoryPubSub

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SlowToSubscribe(MemoryPubSub):
    """Each subscription takes a while to be set up, as on a remote broker."""

    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        await asyncio.sleep(0.05)
        return await super().subscribe(request, handler)


async def test_subscriptions_are_listed_only_once_all_of_them_receive() -> None:
    metadata = ComponentMetadata(name="pubsub", type="pubsub.in-memory", app_id="app")
    driver = SlowToSubscribe()
    await driver.init(metadata)
    manager = SubscriptionManager("app", AppChannel("127.0.0.1", 1), {"pubsub": PubSubComponent(metadata, driver)})
    specs = from_app(json.dumps([{"pubsubname": "pubsub", "topic": f"t{i}", "route": "/r"} for i in range(4)]).encode())
    starting = asyncio.ensure_future(manager.start(specs))
    seen: list[int] = []
    while not starting.done():
        seen.append(len(manager.active))
        await asyncio.sleep(0.01)
    await starting
    assert set(seen) == {0}  # nothing listed while some were still being set up
    assert [s.topic for s in manager.active] == ["t0", "t1", "t2", "t3"]
    await manager.close()
    await driver.close()
