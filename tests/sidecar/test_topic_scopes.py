"""Component topic scopes, per spec §3.4 and Dapr's ``isOperationAllowed``."""
from __future__ import annotations

import pytest
from tandem.sidecar.blocks.pubsub.topic_scopes import TopicScopes
from tandem.sidecar.components.base import ComponentMetadata


def scopes(**props: str) -> TopicScopes:
    return TopicScopes.from_metadata(ComponentMetadata(name="pubsub", type="pubsub.in-memory", properties=props))


def test_no_scoping_metadata_allows_everything() -> None:
    rules = scopes()
    assert rules.can_publish("any", "topic")
    assert rules.can_subscribe("any", "topic")


@pytest.mark.parametrize(("app", "topic", "allowed"), [
    ("app1", "t1", True), ("app1", "t2", True), ("app1", "t3", False),
    ("app2", "t3", True), ("app2", "t1", False),
    ("app3", "t1", False), ("app3", "anything", False),  # listed with nothing: no topic at all
    ("app4", "t1", True), ("app4", "t9", True),          # not listed: unrestricted
])
def test_publishing_scopes(app: str, topic: str, allowed: bool) -> None:
    rules = scopes(publishingScopes="app1=t1,t2;app2=t3;app3=")
    assert rules.can_publish(app, topic) is allowed
    assert rules.can_subscribe(app, topic)  # publishing scopes do not touch subscriptions


def test_subscription_scopes_are_separate_from_publishing_scopes() -> None:
    rules = scopes(subscriptionScopes="app1=t1")
    assert rules.can_subscribe("app1", "t1")
    assert not rules.can_subscribe("app1", "t2")
    assert rules.can_publish("app1", "t2")


def test_field_names_are_case_insensitive_and_spaces_are_ignored() -> None:
    rules = scopes(PUBLISHINGSCOPES=" app1 = t1 , t2 ; app2 = ", allowedtopics="t1, t2, t3")
    assert rules.can_publish("app1", "t2")
    assert not rules.can_publish("app2", "t1")
    assert not rules.can_publish("other", "t4")


def test_allowed_topics_limit_every_app() -> None:
    rules = scopes(allowedTopics="t1,t2", publishingScopes="app1=t1,t9")
    assert rules.can_publish("other", "t1")
    assert not rules.can_publish("other", "t3")
    assert not rules.can_publish("app1", "t9")  # a scope cannot reach outside allowedTopics
    assert not rules.can_subscribe("other", "t3")


def test_protected_topics_need_an_explicit_scope() -> None:
    rules = scopes(protectedTopics="secret", publishingScopes="app1=secret", subscriptionScopes="app2=open")
    assert rules.can_publish("app1", "secret")
    assert not rules.can_publish("app2", "secret")
    assert rules.can_publish("app2", "open")
    assert not rules.can_subscribe("app1", "secret")
    assert not rules.can_subscribe("app2", "secret")
    assert rules.can_subscribe("other", "open")


def test_an_app_listed_twice_gets_both_lists_and_entries_without_equals_are_skipped() -> None:
    rules = scopes(publishingScopes="app1=t1;junk;app1=t2")
    assert rules.can_publish("app1", "t1")
    assert rules.can_publish("app1", "t2")
    assert not rules.can_publish("app1", "t3")
    assert rules.can_publish("junk", "t3")


def test_app_ids_and_topics_are_compared_exactly() -> None:
    rules = scopes(publishingScopes="app1=Orders")
    assert not rules.can_publish("app1", "orders")
    assert rules.can_publish("APP1", "orders")  # a different app id, so unrestricted


def test_a_plain_mapping_works_too() -> None:
    assert not TopicScopes.from_metadata({"allowedTopics": "a"}).can_publish("x", "b")
