"""The sidecar's tracer as the Configuration sets it up: sampling as Dapr does it, quiet failures."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from tandem.sidecar.components.model import Configuration
from tandem.sidecar.observability import Observability
from tandem.sidecar.observability.tracing import CLIENT
from tandem.sidecar.tracecontext import parse_traceparent

SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOT_SAMPLED = SAMPLED[:-2] + "00"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def rare() -> AsyncIterator[Observability]:
    """Tracing at a one-in-a-million rate, exporting to a port where nothing listens."""
    observability = Observability("a")
    observability.configure(Configuration("c", "c.yaml", {"tracing": {
        "samplingRate": "0.000001", "zipkin": {"endpointAddress": "http://127.0.0.1:9/api/v2/spans"}}}))
    yield observability
    await observability.close()


@pytest.mark.anyio
async def test_a_sampled_caller_is_followed_and_others_get_the_rate(rare: Observability) -> None:
    assert rare.tracing.recording
    followed = rare.tracing.start("x", CLIENT, parent=SAMPLED)
    assert followed.recording and followed.traceparent.endswith("-01")
    assert followed.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert parse_traceparent(followed.traceparent).span_id != "b7ad6b7169203331"  # type: ignore[union-attr]
    for parent in (None, NOT_SAMPLED):
        span = rare.tracing.start("x", CLIENT, parent=parent)
        assert not span.recording and span.traceparent.endswith("-00")
        span.end(200)
    followed.end(200)


@pytest.mark.anyio
async def test_tracing_off_only_passes_the_context_on() -> None:
    off = Observability("a")
    span = off.tracing.start("x", CLIENT, parent=SAMPLED, state="k=v")
    assert not off.tracing.recording and not span.recording
    assert span.trace_id == "0af7651916cd43dd8448eb211c80319c" and span.headers()["tracestate"] == "k=v"
    await off.close()


@pytest.mark.anyio
async def test_a_collector_that_is_down_is_one_warning_not_tracebacks(
        rare: Observability, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        rare.tracing.start("x", CLIENT, parent=SAMPLED).end(200)
    with caplog.at_level(logging.DEBUG):
        await rare.close()  # flushes: the export fails
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and "cannot export spans to zipkin http://127.0.0.1:9" in problems[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


def test_the_sdks_per_span_complaints_are_throttled() -> None:
    from tandem.sidecar.observability.logs import Throttle

    throttle = Throttle(every=60)

    def record(name: str, at: float) -> logging.LogRecord:
        made = logging.LogRecord(name, logging.WARNING, __file__, 1, "Queue full, dropping %s.", ("Span",), None)
        made.created = at
        return made

    sdk = "opentelemetry.sdk._shared_internal"
    assert [throttle.filter(record(sdk, t)) for t in (0, 1, 59, 61)] == [True, False, False, True]
    assert throttle.filter(record("tandem.sidecar", 1)) and throttle.filter(record("tandem.sidecar", 2))
