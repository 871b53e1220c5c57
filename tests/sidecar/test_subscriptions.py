"""Subscriptions from /dapr/subscribe and Subscription files; CEL routing rules."""
from __future__ import annotations

import json

import pytest

from tandem.sidecar.blocks.pubsub.routing import compile_rule, select_path
from tandem.sidecar.blocks.pubsub.subscriptions import SubscriptionError, from_app, from_documents


def test_the_route_form() -> None:
    [spec] = from_app(json.dumps([{"pubsubname": "p", "topic": "t", "route": "orders",
                                   "deadLetterTopic": "dlq", "metadata": {"rawPayload": "true"}}]).encode())
    assert (spec.pubsub, spec.topic, spec.dead_letter_topic, spec.kind) == ("p", "t", "dlq", "PROGRAMMATIC")
    assert [r.path for r in spec.rules] == ["/orders"] and spec.raw_payload


def test_the_rules_form_keeps_order_and_ends_with_the_default() -> None:
    [spec] = from_app(json.dumps([{"PubsubName": "p", "Topic": "t", "routes": {
        "rules": [{"match": 'event.type == "a"', "path": "/a"}, {"match": "event.data.n > 2", "path": "/b"}],
        "default": "/c"}}]).encode())
    assert [r.path for r in spec.rules] == ["/a", "/b", "/c"]
    assert select_path(spec.rules, {"type": "a", "data": {"n": 5}}) == "/a"
    assert select_path(spec.rules, {"type": "x", "data": {"n": 5}}) == "/b"
    assert select_path(spec.rules, {"type": "x", "data": {}}) == "/c"  # a missing field does not match


def test_no_default_means_unmatched_events_are_dropped() -> None:
    rules = [compile_rule("/a", 'event.type == "a"')]
    assert select_path(rules, {"type": "b"}) is None


def test_a_subscription_without_any_route_is_ignored() -> None:
    assert from_app(b'[{"pubsubname": "p", "topic": "t"}]') == []


def test_bulk_subscribe() -> None:
    [spec] = from_app(json.dumps([{"pubsubname": "p", "topic": "t", "route": "/x",
                                   "bulkSubscribe": {"enabled": True, "maxMessagesCount": 5}}]).encode())
    assert spec.bulk is not None and spec.bulk.max_messages == 5 and spec.bulk.max_await_ms == 1000


@pytest.mark.parametrize("body,problem", [
    (b"not json", "JSON"), (b"{}", "array"), (b'[{"topic": "t", "route": "/x"}]', "pubsubname"),
    (b'[{"pubsubname": "p", "topic": "t", "routes": {"rules": [{"match": "event.type ==", "path": "/x"}]}}]',
     "invalid match expression"),
])
def test_bad_subscriptions_are_named(body: bytes, problem: str) -> None:
    with pytest.raises(SubscriptionError, match=problem):
        from_app(body)


def test_declarative_documents_in_both_versions() -> None:
    v1 = {"apiVersion": "dapr.io/v1alpha1", "kind": "Subscription", "metadata": {"name": "one"},
          "spec": {"pubsubname": "p", "topic": "t1", "route": "/one"}}
    v2 = {"apiVersion": "dapr.io/v2alpha1", "kind": "Subscription", "metadata": {"name": "two"},
          "spec": {"pubsubname": "p", "topic": "t2", "routes": {"rules": [{"match": "true", "path": "/r"}],
                                                                  "default": "/two"}}}
    specs = from_documents([("a.yaml", v1), ("b.yaml", v2)])
    assert [(s.topic, [r.path for r in s.rules], s.kind) for s in specs] == [
        ("t1", ["/one"], "DECLARATIVE"), ("t2", ["/r", "/two"], "DECLARATIVE")]
    with pytest.raises(SubscriptionError, match="b.yaml"):
        from_documents([("b.yaml", {**v2, "spec": {"topic": "t"}})])


def test_describe_is_the_metadata_apis_shape() -> None:
    [spec] = from_app(b'[{"pubsubname": "p", "topic": "t", "route": "/x", "deadLetterTopic": "d"}]')
    assert spec.describe() == {"pubsubname": "p", "topic": "t", "metadata": {},
                               "rules": [{"match": "", "path": "/x"}], "type": "PROGRAMMATIC",
                               "deadLetterTopic": "d"}
