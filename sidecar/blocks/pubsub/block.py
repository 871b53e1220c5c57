"""The pub/sub block: owns every pub/sub component once; publishing and delivery are its two sides."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...components.pubsub import PubSub
from ...observability import Observability
from ..base import Block, LoadedComponent
from .component import PubSubComponent
from .delivery import SubscriptionManager
from .publish import Publisher
from .subscriptions import SubscriptionSpec

if TYPE_CHECKING:
    from ...app_config import AppConnector

__all__ = ["PubSubBlock"]


class PubSubBlock(Block):
    """Publishing (for the API) and delivery (once the app is reachable) over the same components."""

    contracts = (PubSub,)

    def __init__(self, app_id: str, namespace: str | None, observability: Observability | None = None,
                 declarative: Sequence[SubscriptionSpec] = ()) -> None:
        self.app_id = app_id
        self.observability = observability or Observability(app_id, namespace)
        self._components: dict[str, PubSubComponent] = {}
        self._declarative = list(declarative)
        self.publisher = Publisher(app_id, namespace, self._components, self.observability)
        self.subscriptions: SubscriptionManager | None = None

    def add(self, component: LoadedComponent) -> None:
        assert isinstance(component.driver, PubSub)
        self._components[component.name] = PubSubComponent(component.metadata, component.driver)

    def names(self) -> list[str]:
        return list(self._components)

    async def start(self, app: AppConnector) -> None:
        """The app's subscriptions (asked only when there is a pub/sub component) and the declarative ones."""
        specs = await app.subscriptions() if self._components else []
        specs += self._declarative
        if specs and app.channel is not None:
            self.subscriptions = SubscriptionManager(self.app_id, app.channel, self._components, self.observability)
            await self.subscriptions.start(specs)

    async def close(self) -> None:
        if self.subscriptions is not None:
            await self.subscriptions.close()

    def describe(self) -> dict[str, Any]:
        active = self.subscriptions.active if self.subscriptions is not None else []
        return {"subscriptions": [s.describe() for s in active]}
