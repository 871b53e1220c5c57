"""Go's wire rules and Go durations, each written once (components/wire.py, components/values.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tandem.sidecar.actors.timefmt import TimeFormatError, parse_go_duration
from tandem.sidecar.components.values import go_duration_seconds, parse_duration
from tandem.sidecar.components.wire import compact_json, field, string_map


def test_field_prefers_the_exact_key_then_ignores_case() -> None:
    assert field({"PubsubName": "a", "pubsubName": "b"}, "pubsubName") == "b"
    assert field({"PUBSUBNAME": "a"}, "pubsubName") == "a"
    assert field({}, "x") is None and field({}, "x", "d") == "d"


def test_string_map_keeps_strings_and_writes_other_values_as_json() -> None:
    assert string_map({"a": "1", "b": 2, "c": {"d": True}}) == {"a": "1", "b": "2", "c": '{"d": true}'}
    assert string_map(["not", "a", "map"]) is None


def test_compact_json_is_gos_marshal() -> None:
    assert compact_json({"b": "é", "a": [1, 2]}) == '{"b":"é","a":[1,2]}'.encode()
    assert compact_json({"b": 1, "a": 2}, sort_keys=True) == b'{"a":2,"b":1}'


@pytest.mark.parametrize(("text", "seconds"), [
    ("1m30s", 90.0), ("-250ms", -0.25), ("0", 0.0), ("1h0m0s", 3600.0), ("0h5m0s0ms0μs", 300.0), ("1.5s", 1.5),
])
def test_one_go_duration_parser(text: str, seconds: float) -> None:
    assert go_duration_seconds(text) == pytest.approx(seconds)
    assert parse_go_duration(text) == timedelta(seconds=go_duration_seconds(text))  # the actor API's reader
    assert parse_duration(text) == pytest.approx(seconds)  # the metadata reader


@pytest.mark.parametrize("text", ["", "5", "1x", "s", "1m 30s", "--1s"])
def test_malformed_go_durations_are_refused_by_both_readers(text: str) -> None:
    with pytest.raises(ValueError):
        go_duration_seconds(text)
    with pytest.raises(TimeFormatError):
        parse_go_duration(text)
