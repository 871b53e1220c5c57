"""Which topics an app may publish or subscribe to on one pub/sub component (spec §3.4).

Read from the component's metadata the way Dapr's ``scopes`` package does:
field names case-insensitive, spaces removed from values, ``;`` between apps,
``=`` after an app id, ``,`` between topics::

    publishingScopes:   app1=t1,t2;app2=t3;app3=
    subscriptionScopes: app1=t1
    allowedTopics:      t1,t2,t3
    protectedTopics:    t3

App ids and topics are compared exactly.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...components.base import ComponentMetadata
from ...components.wire import field as wire_field

__all__ = ["TopicScopes"]


def _field(metadata: ComponentMetadata | Mapping[str, str], name: str) -> str:
    if isinstance(metadata, ComponentMetadata):
        return metadata.get(name) or ""
    return wire_field(metadata, name) or ""


def _topics(value: str) -> frozenset[str]:
    return frozenset(t for t in value.replace(" ", "").split(",") if t)


def _scopes(value: str) -> dict[str, frozenset[str]]:
    """``app=t1,t2;…`` → topics by app; an app listed twice gets both lists."""
    found: dict[str, frozenset[str]] = {}
    for entry in value.replace(" ", "").split(";"):
        parts = entry.split("=")
        if len(parts) < 2:
            continue  # no "=": not a scope entry, as in Dapr
        found[parts[0]] = found.get(parts[0], frozenset()) | _topics(parts[1])
    return found


@dataclass(frozen=True)
class TopicScopes:
    """The scoping rules of one component; an empty instance allows everything."""

    publishing: Mapping[str, frozenset[str]] = field(default_factory=dict)
    subscription: Mapping[str, frozenset[str]] = field(default_factory=dict)
    allowed: frozenset[str] = frozenset()
    protected: frozenset[str] = frozenset()

    @classmethod
    def from_metadata(cls, metadata: ComponentMetadata | Mapping[str, str]) -> TopicScopes:
        return cls(
            publishing=_scopes(_field(metadata, "publishingScopes")),
            subscription=_scopes(_field(metadata, "subscriptionScopes")),
            allowed=_topics(_field(metadata, "allowedTopics")),
            protected=_topics(_field(metadata, "protectedTopics")),
        )

    def can_publish(self, app_id: str, topic: str) -> bool:
        return self._allows(self.publishing, app_id, topic)

    def can_subscribe(self, app_id: str, topic: str) -> bool:
        return self._allows(self.subscription, app_id, topic)

    def _allows(self, scopes: Mapping[str, frozenset[str]], app_id: str, topic: str) -> bool:
        """Dapr's ``isOperationAllowed``.

        Outside a non-empty ``allowedTopics``: denied. A protected topic needs
        the app's scope to name it; any other topic is free for an app that has
        no scope entry, and limited to its list for one that has (``app3=``
        lists nothing, so it may use no topic at all).
        """
        if self.allowed and topic not in self.allowed:
            return False
        listed = scopes.get(app_id)
        if listed is None:
            return topic not in self.protected
        return topic in listed
