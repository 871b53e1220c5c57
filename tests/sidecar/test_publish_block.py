"""The publish block with a recording driver: what the broker is handed, and Dapr's errors."""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from tandem.sidecar.blocks.base import LoadedComponent
from tandem.sidecar.blocks.pubsub import BulkEntry, Publisher, PubSubBlock, broker_topic
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.pubsub import (
    BulkPublishEntry,
    BulkPublishFailure,
    MessageHandler,
    PublishRequest,
    PubSub,
    PubSubError,
    PubSubFeature,
    SubscribeRequest,
    Subscription,
)
from tandem.sidecar.errors import DaprError

pytestmark = pytest.mark.anyio

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RecordingPubSub(PubSub):
    """Keeps every publish request; fails the ones whose data contains ``fail``."""

    def __init__(self, features: frozenset[str] = frozenset()) -> None:
        self.published: list[PublishRequest] = []
        self.bulk_calls = 0
        self._features = features

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    def features(self) -> frozenset[str]:
        return self._features

    async def publish(self, request: PublishRequest) -> None:
        if b"fail" in request.data:
            raise PubSubError("broker said no")
        self.published.append(request)

    async def bulk_publish(self, entries: Sequence[BulkPublishEntry]) -> list[BulkPublishFailure]:
        self.bulk_calls += 1
        return await super().bulk_publish(entries)

    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        raise NotImplementedError


def block_with(driver: PubSub | None = None, *, app_id: str = "publisher", namespace: str | None = None,
               **props: str) -> tuple[Publisher, RecordingPubSub]:
    recording = driver if isinstance(driver, RecordingPubSub) else RecordingPubSub()
    block = PubSubBlock(app_id, namespace)
    block.add(LoadedComponent(ComponentMetadata(name="pubsub", type="pubsub.test", properties=props, app_id=app_id,
                                                namespace=namespace), recording))
    return block.publisher, recording


def event_of(request: PublishRequest) -> dict[str, Any]:
    assert request.content_type == "application/cloudevents+json"
    event = json.loads(request.data)
    assert isinstance(event, dict)
    return event


async def test_publish_hands_the_driver_an_envelope_and_the_metadata() -> None:
    block, driver = block_with()
    await block.publish("pubsub", "orders/eu", b'{"n": 1}', "application/json", {"k": "v"}, TRACE, "a=b")
    [request] = driver.published
    assert request.topic == "orders/eu"
    assert request.metadata == {"k": "v"}
    event = event_of(request)
    assert event["data"] == {"n": 1}
    assert (event["source"], event["topic"], event["pubsubname"]) == ("publisher", "orders/eu", "pubsub")
    assert event["traceparent"] == event["traceid"] == TRACE
    assert event["tracestate"] == "a=b"
    assert "expiration" not in event


async def test_without_a_traceparent_a_new_trace_is_started() -> None:
    block, driver = block_with()
    await block.publish("pubsub", "t", b"x", None, {})
    event = event_of(driver.published[0])
    assert TRACE_RE.match(event["traceparent"])
    assert event["traceid"] == event["traceparent"]
    assert event["tracestate"] == ""
    assert event["datacontenttype"] == "text/plain"


async def test_binary_and_cloudevent_bodies() -> None:
    block, driver = block_with()
    await block.publish("pubsub", "t", b"\x00\x01", "application/octet-stream", {}, TRACE)
    await block.publish("pubsub", "t", b'{"id": "own", "data": 1}', "application/cloudevents+json", {}, TRACE)
    binary, own = (event_of(r) for r in driver.published)
    assert base64.b64decode(binary["data_base64"]) == b"\x00\x01"
    assert own["id"] == "own"
    assert own["source"] == "Dapr"


async def test_raw_payload_is_sent_as_is_with_the_request_content_type() -> None:
    block, driver = block_with()
    await block.publish("pubsub", "t", b"raw bytes", "text/csv", {"rawPayload": "true", "ttlInSeconds": "5"}, TRACE)
    [request] = driver.published
    assert request.data == b"raw bytes"
    assert request.content_type == "text/csv"
    assert request.metadata == {"rawPayload": "true", "ttlInSeconds": "5"}


@pytest.mark.parametrize("value", ["false", "0", "F", ""])
async def test_raw_payload_false_still_builds_the_envelope(value: str) -> None:
    block, driver = block_with()
    await block.publish("pubsub", "t", b"x", "text/plain", {"rawPayload": value}, TRACE)
    assert event_of(driver.published[0])["data"] == "x"


async def test_ttl_adds_expiration_unless_the_driver_handles_ttl() -> None:
    block, driver = block_with()
    before = datetime.now(timezone.utc).replace(microsecond=0)
    await block.publish("pubsub", "t", b"x", "text/plain", {"ttlInSeconds": "30"}, TRACE)
    expiration = datetime.fromisoformat(event_of(driver.published[0])["expiration"])
    assert before + timedelta(seconds=30) <= expiration <= before + timedelta(seconds=32)

    native, native_driver = block_with(RecordingPubSub(frozenset({PubSubFeature.MESSAGE_TTL.value})))
    await native.publish("pubsub", "t", b"x", "text/plain", {"ttlInSeconds": "30"}, TRACE)
    assert "expiration" not in event_of(native_driver.published[0])
    assert native_driver.published[0].metadata == {"ttlInSeconds": "30"}


async def test_cloudevent_overrides_reach_the_envelope() -> None:
    block, driver = block_with()
    await block.publish("pubsub", "t", b"x", "text/plain", {"cloudevent.id": "fixed", "cloudevent.type": "T"}, TRACE)
    event = event_of(driver.published[0])
    assert (event["id"], event["type"]) == ("fixed", "T")


async def errors_of(block: Publisher, pubsub: str, topic: str, body: bytes = b"x",
                    content_type: str | None = "text/plain", **metadata: str) -> DaprError:
    with pytest.raises(DaprError) as caught:
        await block.publish(pubsub, topic, body, content_type, metadata, TRACE)
    return caught.value


@pytest.mark.parametrize(("pubsub", "topic", "status", "code", "reason"), [
    ("", "t", 404, "ERR_PUBSUB_EMPTY", "DAPR_PUBSUB_NAME_EMPTY"),
    ("nope", "t", 404, "ERR_PUBSUB_NOT_FOUND", "DAPR_PUBSUB_NOT_FOUND"),
    ("pubsub", "", 404, "ERR_TOPIC_NAME_EMPTY", "DAPR_PUBSUB_TOPIC_NAME_EMPTY"),
])
async def test_name_errors(pubsub: str, topic: str, status: int, code: str, reason: str) -> None:
    block, driver = block_with()
    error = await errors_of(block, pubsub, topic)
    assert (error.status, error.code, error.reason) == (status, code, reason)
    assert not driver.published


async def test_unknown_pubsub_is_404_even_with_no_component_at_all() -> None:
    error = await errors_of(PubSubBlock("app", None).publisher, "pubsub", "t")
    assert (error.status, error.code) == (404, "ERR_PUBSUB_NOT_FOUND")
    assert error.message == "pubsub pubsub is not found"


@pytest.mark.parametrize("value", ["yes", "TRUE ", "2", "on"])
async def test_raw_payload_must_be_a_go_boolean(value: str) -> None:
    block, _ = block_with()
    error = await errors_of(block, "pubsub", "t", rawPayload=value)
    assert (error.status, error.code, error.reason) == (400, "ERR_PUBSUB_REQUEST_METADATA",
                                                        "DAPR_PUBSUB_METADATA_DESERIALIZATION")
    assert f"actual is '{value}'" in error.message


async def test_a_cloudevent_body_that_is_not_json_is_500() -> None:
    block, _ = block_with()
    error = await errors_of(block, "pubsub", "t", b"nope", "application/cloudevents+json")
    assert (error.status, error.code, error.message) == (500, "ERR_PUBSUB_CLOUD_EVENTS_SER", "cannot create cloudevent")


async def test_scoped_out_topic_is_403_and_nothing_is_published() -> None:
    block, driver = block_with(publishingScopes="publisher=allowed")
    await block.publish("pubsub", "allowed", b"x", None, {}, TRACE)
    error = await errors_of(block, "pubsub", "other")
    assert (error.status, error.code, error.reason) == (403, "ERR_PUBSUB_FORBIDDEN", "DAPR_PUBSUB_FORBIDDEN")
    assert error.message == "topic other is not allowed for app id publisher"
    assert [r.topic for r in driver.published] == ["allowed"]
    assert not block.scopes("pubsub").can_publish("publisher", "other")


async def test_broker_failure_is_500_publish_message() -> None:
    block, _ = block_with()
    error = await errors_of(block, "pubsub", "t", b"fail")
    assert (error.status, error.code) == (500, "ERR_PUBSUB_PUBLISH_MESSAGE")
    assert error.reason == "DAPR_PUBSUB_PUBLISH_MESSAGE"
    assert error.message == "error when publishing to topic t in pubsub pubsub: broker said no"
    assert error.to_json()["details"][0]["metadata"] == {"topic": "t", "error": "broker said no"}


async def test_namespace_scoped_components_prefix_the_broker_topic_only() -> None:
    block, driver = block_with(namespace="ns1", consumerID="{namespace}-group")
    await block.publish("pubsub", "orders", b"x", None, {}, TRACE)
    [request] = driver.published
    assert request.topic == "ns1orders"
    assert event_of(request)["topic"] == "orders"
    plain = ComponentMetadata(name="p", type="pubsub.test", properties={"consumerID": "g"})
    assert broker_topic(plain, "ns1", "orders") == "orders"


async def test_names_and_driver_lookup() -> None:
    block, driver = block_with()
    assert block.names() == ["pubsub"]
    assert block.driver("pubsub") is driver
    with pytest.raises(DaprError) as caught:
        block.driver("missing")
    assert caught.value.status == 404


async def test_bulk_publish_gives_each_entry_its_own_envelope_and_merged_metadata() -> None:
    block, driver = block_with()
    entries = [
        BulkEntry("1", b'{"a": 1}', "application/json", {"k": "entry"}),
        BulkEntry("2", b"text", "text/plain"),
    ]
    failed = await block.bulk_publish("pubsub", "t", entries, {"k": "request", "r": "1"}, traceparent=TRACE)
    assert failed == []
    assert driver.bulk_calls == 1
    first, second = driver.published
    assert first.metadata == {"k": "entry", "r": "1"}
    assert second.metadata == {"k": "request", "r": "1"}
    one, two = event_of(first), event_of(second)
    assert (one["data"], two["data"]) == ({"a": 1}, "text")
    assert one["id"] != two["id"]
    # Same trace as the request, each entry in its own span.
    assert one["traceparent"].split("-")[1] == two["traceparent"].split("-")[1] == TRACE.split("-")[1]
    assert one["traceparent"] != two["traceparent"]


async def test_bulk_publish_raw_payload_keeps_each_entry_content_type() -> None:
    block, driver = block_with()
    await block.bulk_publish("pubsub", "t", [BulkEntry("1", b"\x00", "application/octet-stream")],
                             {"rawPayload": "true"})
    assert driver.published[0].data == b"\x00"
    assert driver.published[0].content_type == "application/octet-stream"


async def test_bulk_publish_reports_the_failed_entries() -> None:
    block, driver = block_with()
    failed = await block.bulk_publish("pubsub", "t", [BulkEntry("ok", b"fine", "text/plain"),
                                                      BulkEntry("bad", b"fail", "text/plain")], {})
    assert failed == [BulkPublishFailure("bad", "broker said no")]
    assert len(driver.published) == 1


@pytest.mark.parametrize("ids", [["a", "a"], ["a", ""]])
async def test_bulk_publish_entry_ids_must_be_present_and_unique(ids: list[str]) -> None:
    block, driver = block_with()
    with pytest.raises(DaprError) as caught:
        await block.bulk_publish("pubsub", "t", [BulkEntry(i, b"x", "text/plain") for i in ids], {})
    assert (caught.value.status, caught.value.code) == (400, "ERR_PUBSUB_EVENTS_SER")
    assert not driver.published


async def test_bulk_publish_is_scoped_and_validated_like_publish() -> None:
    block, driver = block_with(allowedTopics="only")
    with pytest.raises(DaprError) as caught:
        await block.bulk_publish("pubsub", "t", [BulkEntry("1", b"x", "text/plain")], {})
    assert caught.value.status == 403
    with pytest.raises(DaprError) as caught:
        await block.bulk_publish("missing", "only", [], {})
    assert caught.value.status == 404
    assert await block.bulk_publish("pubsub", "only", [], {}) == []
    assert not driver.published
