"""``{{ cookiecutter.component_type }}`` against Tandem's pub/sub conformance suite."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tandem.sidecar.components.pubsub import Message, PubSub, SubscribeRequest
from tandem.sidecar.components.subscription_loop import SubscriptionLoop
from tandem.testing import PubSubConformance

from {{ cookiecutter.package_name }} import COMPONENT_TYPE

# A component file as users will write it (the type is found through the installed entry point).
COMPONENT = f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: {COMPONENT_TYPE}
  version: v1
"""


class TestPubSub(PubSubConformance):
    delivery_timeout = 2.0
    quiet_period = 0.3

    @pytest.fixture
    async def pubsub(self, tandem_component: Callable[..., Any]) -> AsyncIterator[PubSub]:
        async with tandem_component(COMPONENT, PubSub) as broker:
            yield broker

    async def test_deliveries_run_on_the_toolkits_loop(self, pubsub: PubSub) -> None:
        """The broker supplies fetch/ack/nack; slots, batching and back-off are the toolkit's loop."""
        subscription = await pubsub.subscribe(SubscribeRequest("toolkit-check", "group"), _ignore)
        assert isinstance(subscription, SubscriptionLoop)
        await subscription.close()


async def _ignore(message: Message) -> None:
    return None
