"""The CloudEvents envelope, field by field against spec §3.1 and §3.3."""
from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from tandem.sidecar import cloudevents
from tandem.sidecar.cloudevents import (
    InvalidCloudEvent,
    build_envelope,
    is_expired,
    parse_delivered,
    raw_payload_event,
)

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
LOCAL_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
UTC_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def envelope(body: bytes, content_type: str | None, *, metadata: dict[str, str] | None = None,
             now: datetime | None = None) -> dict[str, Any]:
    event: dict[str, Any] = build_envelope(body, content_type, topic="orders", pubsub="pubsub", source="publisher",
                                           traceparent=TRACE, tracestate="", metadata=metadata, now=now)
    return event


def test_json_body_becomes_the_data_with_every_dapr_field() -> None:
    event = envelope(b'{"orderId": 7, "items": [1, 2]}', "application/json")
    assert set(event) == {"id", "specversion", "datacontenttype", "source", "type", "topic", "pubsubname",
                          "traceid", "traceparent", "tracestate", "time", "data"}
    assert uuid.UUID(str(event["id"])).version == 4
    assert event["specversion"] == "1.0"
    assert event["source"] == "publisher"
    assert event["type"] == "com.dapr.event.sent"
    assert event["datacontenttype"] == "application/json"
    assert (event["topic"], event["pubsubname"]) == ("orders", "pubsub")
    assert event["traceid"] == event["traceparent"] == TRACE
    assert event["tracestate"] == ""
    assert LOCAL_RFC3339.match(str(event["time"]))
    assert event["data"] == {"orderId": 7, "items": [1, 2]}


def test_time_is_local_with_second_precision_and_z_for_utc() -> None:
    assert cloudevents.rfc3339(datetime(2024, 5, 1, 12, 0, 3, 999, tzinfo=timezone.utc)) == "2024-05-01T12:00:03Z"
    plus_two = timezone(timedelta(hours=2))
    assert cloudevents.rfc3339(datetime(2024, 5, 1, 14, 0, 3, tzinfo=plus_two)) == "2024-05-01T14:00:03+02:00"
    now = datetime(2024, 5, 1, 12, 0, 3, tzinfo=timezone.utc)
    event = envelope(b"x", "text/plain", now=now)
    assert datetime.fromisoformat(str(event["time"])) == now


def test_json_content_type_with_parameters_is_still_json() -> None:
    event = envelope(b"[1, 2]", "application/json; charset=utf-8")
    assert event["data"] == [1, 2]
    assert event["datacontenttype"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("body", [b"{not json", b"", b"NaN"])
def test_json_content_type_with_a_body_that_does_not_parse_keeps_the_text(body: bytes) -> None:
    assert envelope(body, "application/json")["data"] == body.decode()


def test_text_body_is_a_string_and_a_missing_content_type_means_text_plain() -> None:
    event = envelope(b'{"looks": "like json"}', None)
    assert event["datacontenttype"] == "text/plain"
    assert event["data"] == '{"looks": "like json"}'
    assert envelope("héllo".encode(), "text/plain")["data"] == "héllo"


def test_other_json_flavours_are_not_parsed() -> None:
    assert envelope(b'{"a":1}', "application/vnd.api+json")["data"] == '{"a":1}'


def test_binary_body_goes_to_data_base64_instead_of_data() -> None:
    payload = bytes(range(256))
    event = envelope(payload, "application/octet-stream")
    assert "data" not in event
    assert base64.b64decode(str(event["data_base64"])) == payload
    assert event["datacontenttype"] == "application/octet-stream"


def test_cloudevent_metadata_overrides_the_dapr_fields() -> None:
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    event = envelope(b"x", "text/plain", metadata={
        "cloudevent.id": "my-id", "cloudevent.source": "my-source", "cloudevent.type": "my.type",
        "cloudevent.traceparent": other, "cloudevent.tracestate": "k=v", "unrelated": "1",
    })
    assert (event["id"], event["source"], event["type"]) == ("my-id", "my-source", "my.type")
    assert event["traceid"] == event["traceparent"] == other
    assert event["tracestate"] == "k=v"
    assert "unrelated" not in event


def test_traceid_override_sets_both_trace_fields_and_keys_are_case_insensitive() -> None:
    event = envelope(b"x", "text/plain", metadata={"CloudEvent.TraceId": "custom", "cloudevent.ID": "abc"})
    assert event["traceid"] == event["traceparent"] == "custom"
    assert event["id"] == "abc"


def test_traceparent_override_wins_over_traceid_override() -> None:
    event = envelope(b"x", "text/plain", metadata={"cloudevent.traceid": "a", "cloudevent.traceparent": "b"})
    assert event["traceid"] == event["traceparent"] == "b"


def test_an_empty_source_override_falls_back_to_dapr() -> None:
    assert envelope(b"x", "text/plain", metadata={"cloudevent.source": ""})["source"] == "Dapr"


def test_cloudevent_body_is_kept_and_completed() -> None:
    body = json.dumps({"id": "app-id", "source": "app", "type": "app.type", "specversion": "1.0",
                       "datacontenttype": "application/json", "data": {"a": 1}, "subject": "s",
                       "topic": "wrong", "pubsubname": "wrong", "myext": "kept"}).encode()
    event = envelope(body, "application/cloudevents+json")
    assert (event["topic"], event["pubsubname"]) == ("orders", "pubsub")
    assert (event["id"], event["source"], event["type"]) == ("app-id", "app", "app.type")
    assert event["data"] == {"a": 1}
    assert (event["subject"], event["myext"]) == ("s", "kept")
    assert event["traceid"] == event["traceparent"] == TRACE
    assert event["tracestate"] == ""
    assert LOCAL_RFC3339.match(str(event["time"]))


def test_cloudevent_body_gets_defaults_for_missing_or_null_attributes() -> None:
    event = envelope(b'{"id": "1", "source": null, "data": "x"}', "application/cloudevents+json; charset=utf-8")
    assert event["source"] == "Dapr"
    assert event["type"] == "com.dapr.event.sent"
    assert event["specversion"] == "1.0"


def test_cloudevent_body_keeps_its_own_time_and_trace_context() -> None:
    body = json.dumps({"id": "1", "time": "2020-01-01T00:00:00Z", "traceparent": "mine",
                       "tracestate": "a=b"}).encode()
    event = envelope(body, "application/cloudevents+json")
    assert event["time"] == "2020-01-01T00:00:00Z"
    assert event["traceid"] == event["traceparent"] == "mine"
    assert event["tracestate"] == "a=b"


def test_cloudevent_body_is_not_overridden_by_cloudevent_metadata() -> None:
    event = envelope(b'{"id": "1"}', "application/cloudevents+json", metadata={"cloudevent.id": "2"})
    assert event["id"] == "1"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"a string"', b""])
def test_cloudevent_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidCloudEvent):
        envelope(body, "application/cloudevents+json")


@pytest.mark.parametrize(("raw", "expected"), [
    ("10", 10), ("+5", 5), ("0", None), ("-3", None), ("abc", None), ("1.5", None), ("", None), (" 7", None),
])
def test_ttl_in_seconds_is_read_like_go(raw: str, expected: int | None) -> None:
    assert cloudevents.ttl_seconds({"ttlInSeconds": raw}) == expected
    assert cloudevents.ttl_seconds({}) is None


def test_expiration_is_utc_rfc3339_ttl_seconds_ahead() -> None:
    now = datetime(2024, 1, 1, 23, 59, 30, tzinfo=timezone(timedelta(hours=-5)))
    event: dict[str, object] = {}
    cloudevents.set_expiration(event, 45, now)
    assert event["expiration"] == "2024-01-02T05:00:15Z"
    assert UTC_RFC3339.match(str(event["expiration"]))


def test_is_expired_compares_with_now_in_seconds_or_datetime() -> None:
    event = {"expiration": "2024-01-01T00:00:10Z"}
    at = datetime(2024, 1, 1, 0, 0, 10, tzinfo=timezone.utc)
    assert not is_expired(event, at)
    assert is_expired(event, at + timedelta(seconds=1))
    assert not is_expired(event, at.timestamp() - 5)
    assert is_expired(event, at.timestamp() + 5)
    assert is_expired({"expiration": "2024-01-01T01:00:09+01:00"}, at)
    assert is_expired({"expiration": "2024-01-01T00:00:09.5Z"}, at)


@pytest.mark.parametrize("value", [None, "", "tomorrow", 12345, "2024-01-01 00:00:00Z"])
def test_missing_or_unreadable_expiration_never_expires(value: object) -> None:
    event = {} if value is None else {"expiration": value}
    assert not is_expired(event, datetime(2999, 1, 1, tzinfo=timezone.utc))


def test_an_envelope_round_trips_through_the_broker_bytes() -> None:
    event = envelope(b'{"a": "\xc3\xa9"}', "application/json")
    assert parse_delivered(cloudevents.encode(event), {}, "application/cloudevents+json") == event


def test_parse_delivered_takes_missing_trace_context_from_metadata() -> None:
    data = json.dumps({"id": "1", "tracestate": "kept"}).encode()
    event = parse_delivered(data, {"traceparent": "tp", "tracestate": "other", "x": "y"}, None)
    assert event["traceparent"] == event["traceid"] == "tp"
    assert event["tracestate"] == "kept"
    assert "x" not in event


def test_parse_delivered_keeps_the_event_trace_context_when_present() -> None:
    event = parse_delivered(b'{"id": "1", "traceparent": "mine", "traceid": "mine"}', {"traceparent": "tp"})
    assert event["traceparent"] == event["traceid"] == "mine"


@pytest.mark.parametrize("data", [b"raw text", b"[1]", b"\xff\xfe", b""])
def test_parse_delivered_refuses_messages_that_are_not_json_objects(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_delivered(data, {}, "text/plain")


def test_raw_payload_event_wraps_the_bytes_as_dapr_does() -> None:
    event = raw_payload_event(b"\x00raw", {"traceparent": "tp", "tracestate": "ts"}, "pubsub", "orders")
    assert uuid.UUID(str(event["id"])).version == 4
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/octet-stream"
    assert (event["source"], event["type"]) == ("Dapr", "com.dapr.event.sent")
    assert (event["topic"], event["pubsubname"]) == ("orders", "pubsub")
    assert base64.b64decode(str(event["data_base64"])) == b"\x00raw"
    assert "data" not in event
    assert event["traceparent"] == event["traceid"] == "tp"
    assert event["tracestate"] == "ts"


def test_raw_payload_event_has_a_new_id_each_time_and_no_trace_without_metadata() -> None:
    first = raw_payload_event(b"x", {}, "p", "t")
    second = raw_payload_event(b"x", {}, "p", "t")
    assert first["id"] != second["id"]
    assert not {"traceid", "traceparent", "tracestate"} & set(first)
