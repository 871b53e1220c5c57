"""Spec §3.1 over HTTP against a real ``tandemd``: statuses, error bodies, scopes, bulk publish.

What the broker receives (the envelope) is checked in-process by
``tests/sidecar/test_publish_block.py`` and ``test_cloudevents.py``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support import Sidecar, SidecarLauncher, http, http_json

pytestmark = pytest.mark.e2e

APP_ID = "pubapp"
COMPONENTS = {
    "pubsub": {"type": "pubsub.in-memory"},
    "scoped": {"type": "pubsub.in-memory", "metadata": {
        "publishingScopes": f"{APP_ID}=allowed,orders/eu;someone-else=x",
    }},
    "limited": {"type": "pubsub.in-memory", "metadata": {"allowedTopics": "t1, t2", "protectedTopics": "t2"}},
}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    launcher = SidecarLauncher(tmp_path_factory.mktemp("publish"))
    yield launcher.start(COMPONENTS, app_id=APP_ID)
    launcher.stop_all()


def publish(sidecar: Sidecar, path: str, body: bytes = b"x", content_type: str | None = "text/plain",
            method: str = "POST", headers: dict[str, str] | None = None) -> tuple[int, Any]:
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["content-type"] = content_type
    status, _, data = http(method, f"{sidecar.url}/v1.0/publish/{path}", body, all_headers)
    return status, (json.loads(data) if data else None)


def reason(body: Any) -> str:
    return str(body["details"][0]["reason"])


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"orderId": 1}', "application/json"),
    (b"plain text", "text/plain"),
    (b"\x00\x01\xff", "application/octet-stream"),
    (b'{"id": "1", "source": "me", "type": "t", "specversion": "1.0", "data": {}}', "application/cloudevents+json"),
    (b"no content type", None),
])
def test_publish_answers_204_with_no_body(sidecar: Sidecar, body: bytes, content_type: str | None) -> None:
    assert publish(sidecar, "pubsub/orders", body, content_type) == (204, None)


def test_put_works_like_post_and_topics_may_contain_slashes(sidecar: Sidecar) -> None:
    assert publish(sidecar, "pubsub/orders/eu/west", method="PUT") == (204, None)
    assert publish(sidecar, "pubsub/orders%2Feu") == (204, None)


def test_publish_metadata_and_trace_headers_are_accepted(sidecar: Sidecar) -> None:
    query = "?metadata.rawPayload=true&metadata.ttlInSeconds=30&metadata.cloudevent.id=x"
    assert publish(sidecar, "pubsub/orders" + query) == (204, None)
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "a=b"}
    assert publish(sidecar, "pubsub/orders?metadata.rawPayload=false", headers=headers) == (204, None)


@pytest.mark.parametrize("value", ["maybe", "yes", "2"])
def test_raw_payload_must_be_a_boolean(sidecar: Sidecar, value: str) -> None:
    status, body = publish(sidecar, f"pubsub/orders?metadata.rawPayload={value}")
    assert status == 400
    assert body["errorCode"] == "ERR_PUBSUB_REQUEST_METADATA"
    assert reason(body) == "DAPR_PUBSUB_METADATA_DESERIALIZATION"
    assert value in body["message"]


def test_unknown_pubsub_is_404_with_a_rich_error(sidecar: Sidecar) -> None:
    status, body = publish(sidecar, "nope/orders")
    assert status == 404
    assert body["errorCode"] == "ERR_PUBSUB_NOT_FOUND"
    assert body["message"] == "pubsub nope is not found"
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert reason(body) == "DAPR_PUBSUB_NOT_FOUND"


def test_missing_topic_is_404_topic_name_empty(sidecar: Sidecar) -> None:
    status, body = publish(sidecar, "pubsub")
    assert status == 404
    assert body["errorCode"] == "ERR_TOPIC_NAME_EMPTY"
    assert reason(body) == "DAPR_PUBSUB_TOPIC_NAME_EMPTY"
    assert publish(sidecar, "pubsub/")[0] == 404


def test_missing_pubsub_name_is_404_pubsub_empty(sidecar: Sidecar) -> None:
    status, _, body = http("POST", f"{sidecar.url}/v1.0/publish", b"x", {"content-type": "text/plain"})
    assert status == 404
    assert json.loads(body)["errorCode"] == "ERR_PUBSUB_EMPTY"


def test_a_cloudevent_body_that_is_not_json_is_500(sidecar: Sidecar) -> None:
    status, body = publish(sidecar, "pubsub/orders", b"not json", "application/cloudevents+json")
    assert status == 500
    assert body["errorCode"] == "ERR_PUBSUB_CLOUD_EVENTS_SER"


def test_publishing_scopes(sidecar: Sidecar) -> None:
    assert publish(sidecar, "scoped/allowed")[0] == 204
    assert publish(sidecar, "scoped/orders/eu")[0] == 204
    status, body = publish(sidecar, "scoped/other")
    assert status == 403
    assert body["errorCode"] == "ERR_PUBSUB_FORBIDDEN"
    assert body["message"] == f"topic other is not allowed for app id {APP_ID}"
    assert reason(body) == "DAPR_PUBSUB_FORBIDDEN"


def test_allowed_and_protected_topics(sidecar: Sidecar) -> None:
    assert publish(sidecar, "limited/t1")[0] == 204
    assert publish(sidecar, "limited/t2")[0] == 403  # protected, and this app has no scope naming it
    assert publish(sidecar, "limited/t3")[0] == 403  # not in allowedTopics


def bulk(sidecar: Sidecar, path: str, entries: Any, version: str = "v1.0-alpha1",
         method: str = "POST") -> tuple[int, Any]:
    return http_json(method, f"{sidecar.url}/{version}/publish/bulk/{path}", entries)


ENTRIES = [
    {"entryId": "1", "event": {"orderId": 1}, "contentType": "application/json"},
    {"entryId": "2", "event": "hello", "contentType": "text/plain", "metadata": {"ttlInSeconds": "10"}},
    {"entryId": "3", "event": "AAH/", "contentType": "application/octet-stream"},
    {"entryId": "4", "event": {"id": "ce", "source": "s", "type": "t", "specversion": "1.0"},
     "contentType": "application/cloudevents+json"},
    {"entryId": "5", "event": "<a/>", "contentType": "application/xml"},
]


@pytest.mark.parametrize("version", ["v1.0-alpha1", "v1.0"])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_bulk_publish_answers_204_on_full_success(sidecar: Sidecar, version: str, method: str) -> None:
    assert bulk(sidecar, "pubsub/orders/eu", ENTRIES, version, method) == (204, None)


def test_bulk_publish_with_raw_payload_and_no_entries(sidecar: Sidecar) -> None:
    assert bulk(sidecar, "pubsub/orders?metadata.rawPayload=true", ENTRIES) == (204, None)
    assert bulk(sidecar, "pubsub/orders", []) == (204, None)


@pytest.mark.parametrize("entries", [
    [{"entryId": "1", "event": "a", "contentType": "text/plain"},
     {"entryId": "1", "event": "b", "contentType": "text/plain"}],
    [{"event": "a", "contentType": "text/plain"}],
])
def test_bulk_entry_ids_must_be_present_and_unique(sidecar: Sidecar, entries: Any) -> None:
    status, body = bulk(sidecar, "pubsub/orders", entries)
    assert status == 400
    assert body["errorCode"] == "ERR_PUBSUB_EVENTS_SER"
    assert reason(body) == "DAPR_PUBSUB_MARSHAL_EVENTS"


@pytest.mark.parametrize("entry", [
    {"entryId": "1", "event": {"not": "a string"}, "contentType": "text/plain"},
    {"entryId": "1", "event": "not base64!", "contentType": "application/octet-stream"},
    {"entryId": "1", "event": "no content type"},
])
def test_bulk_events_must_suit_their_content_type(sidecar: Sidecar, entry: Any) -> None:
    status, body = bulk(sidecar, "pubsub/orders", [entry])
    assert status == 400
    assert body["errorCode"] == "ERR_PUBSUB_EVENTS_SER"
    assert reason(body) == "DAPR_PUBSUB_MARSHAL_ENVELOPE"


@pytest.mark.parametrize("payload", [{"entryId": "1"}, "text", [1]])
def test_bulk_body_must_be_an_array_of_entries(sidecar: Sidecar, payload: Any) -> None:
    status, body = bulk(sidecar, "pubsub/orders", payload)
    assert status == 400
    assert reason(body) == "DAPR_PUBSUB_UNMARSHAL_EVENTS"
    status, _, raw = http("POST", f"{sidecar.url}/v1.0-alpha1/publish/bulk/pubsub/orders", b"[{",
                          {"content-type": "application/json"})
    assert (status, json.loads(raw)["errorCode"]) == (400, "ERR_PUBSUB_EVENTS_SER")


def test_bulk_publish_names_scopes_and_metadata_are_checked_first(sidecar: Sidecar) -> None:
    assert bulk(sidecar, "nope/orders", "not even entries")[1]["errorCode"] == "ERR_PUBSUB_NOT_FOUND"
    assert bulk(sidecar, "pubsub", ENTRIES)[1]["errorCode"] == "ERR_TOPIC_NAME_EMPTY"
    status, body = bulk(sidecar, "pubsub/orders?metadata.rawPayload=nah", ENTRIES)
    assert (status, body["errorCode"]) == (400, "ERR_PUBSUB_REQUEST_METADATA")
    status, body = bulk(sidecar, "scoped/other", ENTRIES)
    assert (status, body["errorCode"]) == (403, "ERR_PUBSUB_FORBIDDEN")
