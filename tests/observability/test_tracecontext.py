"""W3C trace context parsing and the next hop's headers."""
from __future__ import annotations

import pytest

from tandem.sidecar.tracecontext import (
    SCOPE_KEY,
    child_traceparent,
    for_next_hop,
    parse_traceparent,
    valid_tracestate,
)

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def scope(**headers: str) -> dict[str, object]:
    return {"headers": [(k.encode(), v.encode()) for k, v in headers.items()]}


def test_a_valid_header_is_read() -> None:
    parsed = parse_traceparent(PARENT)
    assert parsed is not None
    assert (parsed.trace_id, parsed.span_id, parsed.sampled) == (
        "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True)
    assert parse_traceparent(PARENT[:-2] + "00").sampled is False  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [
    None, "", "garbage", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # version 00 has no more fields
])
def test_invalid_headers_are_refused(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_a_later_version_may_carry_more_fields() -> None:
    assert parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-more") is not None


def test_a_child_keeps_the_trace_and_flags_with_a_new_span() -> None:
    child = child_traceparent(PARENT[:-2] + "00").split("-")
    assert child[1] == "0af7651916cd43dd8448eb211c80319c" and child[2] != "b7ad6b7169203331" and child[3] == "00"
    fresh = child_traceparent("nonsense")
    assert parse_traceparent(fresh) is not None and fresh.endswith("-01")


def test_the_next_hop_is_the_recorded_span_when_there_is_one() -> None:
    recorded = {**scope(traceparent=PARENT), SCOPE_KEY: ("00-" + "1" * 32 + "-" + "2" * 16 + "-01", "k=v")}
    assert for_next_hop(recorded) == ("00-" + "1" * 32 + "-" + "2" * 16 + "-01", "k=v")
    traceparent, tracestate = for_next_hop(scope(traceparent=PARENT, tracestate="a=b"))
    assert traceparent.split("-")[1] == PARENT.split("-")[1] and tracestate == "a=b"


def test_an_oversized_tracestate_is_dropped() -> None:
    assert valid_tracestate("a=b") == "a=b"
    assert valid_tracestate("x" * 513) is None and valid_tracestate("") is None
