"""tandem.App continues the sidecar's trace in handlers; tandem.Client carries it on."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tandem import App, Client
from tandem.tracing import current_traceparent

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sidecar() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A real HTTP server standing in for the sidecar: it records the headers of each request."""
    seen: list[dict[str, str]] = []

    async def record(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return aiohttp.web.json_response({})

    web = aiohttp.web.Application()
    web.router.add_route("*", "/{tail:.*}", record)
    runner = aiohttp.web.AppRunner(web)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


@pytest.mark.anyio
async def test_an_apps_own_spans_nest_under_the_sidecars() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = App()

    @app.method("work")
    async def work() -> dict[str, Any]:
        with provider.get_tracer("test").start_as_current_span("inner"):
            return {"inside": current_traceparent()}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        reply = await http.post("/work", headers={"traceparent": PARENT})
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert reply.json()["inside"] == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
    provider.shutdown()


@pytest.mark.anyio
async def test_client_calls_from_a_handler_carry_the_trace_on(sidecar: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = sidecar
    app = App()
    client = Client(url, api_token="")

    @app.method("relay")
    async def relay() -> None:
        await client.invoke("next", "hop", {})
        await client.invoke("next", "hop", {}, headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        assert (await http.post("/relay", headers={"traceparent": PARENT, "tracestate": "k=v"})).status_code == 204
        assert (await http.post("/relay")).status_code == 204
    await client.aclose()
    carried, explicit, untraced, _ = seen
    assert carried["traceparent"] == PARENT and carried["tracestate"] == "k=v"  # the sidecar's span, as given
    assert explicit["traceparent"] == "00-" + "1" * 32 + "-" + "2" * 16 + "-01"  # the app's own choice wins
    assert "traceparent" not in untraced  # no trace in, none made up
    assert current_traceparent() is None  # and nothing leaks out of the handler
