"""One pub/sub component as the block holds it: driver, metadata and what is derived from them once."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...components.base import ComponentMetadata
from ...components.pubsub import PubSub
from .topic_scopes import TopicScopes

__all__ = ["PubSubComponent"]


@dataclass(frozen=True)
class PubSubComponent:
    """Shared by the publishing and the delivering side of the block, so each component is held once."""

    metadata: ComponentMetadata
    driver: PubSub
    scopes: TopicScopes = field(init=False)
    features: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", TopicScopes.from_metadata(self.metadata))
        object.__setattr__(self, "features", frozenset(self.driver.features()))

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def consumer_group(self) -> str:
        return (self.metadata.get("consumerID") or "").strip() or self.metadata.app_id
