"""Subscriptions, from the app (``GET /dapr/subscribe``) and from ``Subscription`` files.

Both forms become one typed :class:`SubscriptionSpec`: its rules in order, then
the default route as a match-all rule (spec §3.2). JSON keys are matched
case-insensitively, as Go's decoder does.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...components.wire import field as _get
from ...components.wire import string_map
from .routing import RoutingError, Rule, compile_rule

__all__ = ["BulkSubscribe", "SubscriptionError", "SubscriptionSpec", "from_app", "from_documents"]


class SubscriptionError(ValueError):
    """A subscription that cannot be used; the message says which one and why."""


@dataclass(frozen=True)
class BulkSubscribe:
    max_messages: int = 100
    max_await_ms: int = 1000


@dataclass(frozen=True)
class SubscriptionSpec:
    pubsub: str
    topic: str
    rules: tuple[Rule, ...]
    dead_letter_topic: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    bulk: BulkSubscribe | None = None
    kind: str = "PROGRAMMATIC"

    @property
    def raw_payload(self) -> bool:
        return str(self.metadata.get("rawPayload", "")).lower() == "true"

    def describe(self) -> dict[str, Any]:
        """The metadata API's view (spec §6.2)."""
        doc: dict[str, Any] = {
            "pubsubname": self.pubsub, "topic": self.topic, "metadata": dict(self.metadata),
            "rules": [{"match": r.match, "path": r.path} for r in self.rules], "type": self.kind,
        }
        if self.dead_letter_topic:
            doc["deadLetterTopic"] = self.dead_letter_topic
        return doc




def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SubscriptionError(f"{what} must be an object of strings")
    return string_map(value) or {}


def parse_one(entry: Any, kind: str, where: str) -> SubscriptionSpec | None:
    """One subscription; ``None`` when it has no route at all (Dapr drops those)."""
    if not isinstance(entry, Mapping):
        raise SubscriptionError(f"{where}: a subscription must be an object")
    pubsub, topic = _get(entry, "pubsubname"), _get(entry, "topic")
    if not isinstance(pubsub, str) or not pubsub or not isinstance(topic, str) or not topic:
        raise SubscriptionError(f"{where}: pubsubname and topic are required")
    rules: list[Rule] = []
    routes = _get(entry, "routes")
    default = _get(entry, "route")
    try:
        if routes is not None:
            if not isinstance(routes, Mapping):
                raise SubscriptionError(f"{where}: routes must be an object with rules and default")
            for i, rule in enumerate(_get(routes, "rules") or []):
                if not isinstance(rule, Mapping) or not _get(rule, "path"):
                    raise SubscriptionError(f"{where}: routes.rules[{i}] needs a path")
                rules.append(compile_rule(str(_get(rule, "path")), str(_get(rule, "match") or "")))
            default = _get(routes, "default") or default
        if default:
            rules.append(compile_rule(str(default)))
    except RoutingError as exc:
        raise SubscriptionError(f"{where} ({pubsub}/{topic}): {exc}") from None
    if not rules:
        return None
    bulk = _get(entry, "bulkSubscribe")
    bulk_spec = None
    if isinstance(bulk, Mapping) and str(_get(bulk, "enabled")).lower() == "true":
        bulk_spec = BulkSubscribe(int(_get(bulk, "maxMessagesCount") or 100),
                                  int(_get(bulk, "maxAwaitDurationMs") or 1000))
    dlq = _get(entry, "deadLetterTopic")
    return SubscriptionSpec(pubsub, topic, tuple(rules), str(dlq) if dlq else None,
                            _strings(_get(entry, "metadata"), f"{where}: metadata"), bulk_spec, kind)


def from_app(body: bytes) -> list[SubscriptionSpec]:
    """Parse the app's ``GET /dapr/subscribe`` answer."""
    try:
        entries = json.loads(body or b"[]")
    except ValueError as exc:
        raise SubscriptionError(f"/dapr/subscribe did not answer JSON: {exc}") from None
    if not isinstance(entries, list):
        raise SubscriptionError("/dapr/subscribe must answer a JSON array")
    found = (parse_one(e, "PROGRAMMATIC", f"/dapr/subscribe[{i}]") for i, e in enumerate(entries))
    return [s for s in found if s is not None]


def from_documents(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> list[SubscriptionSpec]:
    """Parse ``kind: Subscription`` documents (v1alpha1 ``route`` or v2alpha1 ``routes``)."""
    specs = []
    for source, doc in documents:
        name = (doc.get("metadata") or {}).get("name", "?")
        spec = doc.get("spec")
        found = parse_one(spec, "DECLARATIVE", f"{source}: subscription {name!r}")
        if found is not None:
            specs.append(found)
    return specs
