"""The bindings block with in-process drivers and a scripted app channel: Dapr's errors, probe, delivery."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import pytest

from tandem.sidecar.blocks.base import LoadedComponent
from tandem.sidecar.blocks.bindings import BindingsBlock, EventRejected, OutputBindingError, directions
from tandem.sidecar.channel import AppChannel, AppResponse
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.bindings import (
    BindingError,
    BindingEvent,
    EventHandler,
    InputBinding,
    InvokeRequest,
    InvokeResponse,
    OutputBinding,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def meta(name: str, **properties: str) -> ComponentMetadata:
    return ComponentMetadata(name=name, type="bindings.fake", properties=properties, app_id="app")


class Store(OutputBinding):
    """Answers ``get`` with the request echoed back, ``delete`` with nothing, ``fail`` with an error."""

    def __init__(self) -> None:
        self.requests: list[InvokeRequest] = []

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    def operations(self) -> Sequence[str]:
        return ["get", "delete", "fail", "crash"]

    async def invoke(self, request: InvokeRequest) -> InvokeResponse | None:
        self.requests.append(request)
        if request.operation == "fail":
            raise BindingError("the far side said no", {"statusCode": "503"})
        if request.operation == "crash":
            raise OSError("disk on fire")
        if request.operation == "delete":
            return None
        return InvokeResponse(request.data, {"echo": "yes"})


class Source(InputBinding):
    """Keeps the handler so that a test can push events through it."""

    def __init__(self) -> None:
        self.handler: EventHandler | None = None
        self.stopped = 0

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    async def read(self, handler: EventHandler) -> None:
        self.handler = handler

    async def stop(self) -> None:
        self.stopped += 1

    async def push(self, data: bytes = b"", **metadata: str) -> bytes:
        assert self.handler is not None
        return await self.handler(BindingEvent(data, metadata))


class Both(Source, Store):
    """One driver with both sides, as a component type may have."""

    def __init__(self) -> None:
        Source.__init__(self)
        Store.__init__(self)


class App(AppChannel):
    """A scripted app: answers by path (``OPTIONS`` probes and ``POST`` events), records every call."""

    def __init__(self, probe: Mapping[str, int | Exception] | None = None, event_status: int = 200) -> None:
        super().__init__("127.0.0.1", 1)
        self.probe = dict(probe or {})
        self.event_status = event_status
        self.calls: list[tuple[str, str, dict[str, str], bytes | None]] = []

    async def call(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                   body: bytes | None = None, timeout: float | None = None) -> AppResponse:
        self.calls.append((method, path, dict(headers or {}), body))
        if method == "OPTIONS":
            answer = self.probe.get(path, 200)
            if isinstance(answer, Exception):
                raise answer
            return AppResponse(answer, {}, b"")
        if isinstance(self.event_status, Exception):
            raise self.event_status
        return AppResponse(self.event_status, {}, b'{"ok":true}' if self.event_status < 300 else b"nope")


# -- output -------------------------------------------------------------------------------


async def test_output_call_reaches_the_driver_and_returns_its_answer() -> None:
    block, store = BindingsBlock("app"), Store()
    block.add(LoadedComponent(meta("store"), store))
    data, metadata = await block.invoke_output("store", "get", b'"hi"', {"k": "v"})
    assert (data, metadata) == (b'"hi"', {"echo": "yes"})
    assert store.requests == [InvokeRequest("get", b'"hi"', {"k": "v"})]
    assert await block.invoke_output("store", "delete", b"null", {}) == (None, {})


@pytest.mark.parametrize(("name", "operation", "message"), [
    ("store", "", "error invoking output binding store: operation field is missing from request"),
    ("nope", "get", "error invoking output binding nope: couldn't find output binding nope"),
    ("nope", "", "error invoking output binding nope: operation field is missing from request"),
    ("store", "create", "error invoking output binding store: binding store does not support operation create. "
                        "supported operations:get delete fail crash"),
])
async def test_output_errors_are_daprs(name: str, operation: str, message: str) -> None:
    block, store = BindingsBlock("app"), Store()
    block.add(LoadedComponent(meta("store"), store))
    with pytest.raises(OutputBindingError) as caught:
        await block.invoke_output(name, operation, b"null", {})
    assert (caught.value.status, caught.value.code, caught.value.message) == (500, "ERR_INVOKE_OUTPUT_BINDING", message)
    assert store.requests == []


async def test_driver_failures_keep_their_response_metadata() -> None:
    block = BindingsBlock("app")
    block.add(LoadedComponent(meta("store"), Store()))
    with pytest.raises(OutputBindingError) as failed:
        await block.invoke_output("store", "fail", b"null", {})
    assert failed.value.message == "error invoking output binding store: the far side said no"
    assert failed.value.response_metadata == {"statusCode": "503"}
    with pytest.raises(OutputBindingError) as crashed:
        await block.invoke_output("store", "crash", b"null", {})
    assert (crashed.value.message, crashed.value.response_metadata) == (
        "error invoking output binding store: disk on fire", {})


# -- direction, capabilities --------------------------------------------------------------


def test_directions_are_a_case_insensitive_comma_list() -> None:
    assert directions(meta("b")) is None
    assert directions(meta("b", direction=" Input , OUTPUT")) == {"input", "output"}
    assert directions(meta("b", Direction="output")) == {"output"}


def test_direction_decides_which_sides_are_used() -> None:
    block = BindingsBlock("app")
    both = LoadedComponent(meta("both"), Both())
    out_only = LoadedComponent(meta("out-only", direction="output"), Both())
    in_only = LoadedComponent(meta("in-only", direction="input"), Both())
    source = LoadedComponent(meta("source"), Source())
    for component in (both, out_only, in_only, source):
        block.add(component)
    assert block.capabilities(both) == {"INPUT_BINDING", "OUTPUT_BINDING"}
    assert block.capabilities(out_only) == {"OUTPUT_BINDING"}
    assert block.capabilities(in_only) == {"INPUT_BINDING"}
    assert block.capabilities(source) == {"INPUT_BINDING"}
    assert block.names() == ["both", "in-only", "out-only", "source"]
    assert Both().features() == {"INPUT_BINDING", "OUTPUT_BINDING"}


async def test_an_input_only_binding_is_not_an_output() -> None:
    block = BindingsBlock("app")
    block.add(LoadedComponent(meta("in-only", direction="input"), Both()))
    with pytest.raises(OutputBindingError, match="couldn't find output binding in-only"):
        await block.invoke_output("in-only", "get", b"null", {})


# -- input --------------------------------------------------------------------------------


async def test_probe_then_events_to_the_route_with_metadata_as_headers() -> None:
    block, source, app = BindingsBlock("app"), Source(), App()
    block.add(LoadedComponent(meta("tick", route="/jobs/tick"), source))
    await block.start_inputs(app)
    assert app.calls == [("OPTIONS", "/jobs/tick", {"content-type": "application/json"}, None)]
    assert block.reading() == ["tick"]

    answer = await source.push(b"", timeZone="Local", readTimeUTC="2026-01-01 00:00:00 +0000 UTC")
    assert answer == b'{"ok":true}'
    method, path, headers, body = app.calls[1]
    assert (method, path, body) == ("POST", "/jobs/tick", b"")
    assert headers["content-type"] == "application/json"
    assert (headers["timeZone"], headers["readTimeUTC"]) == ("Local", "2026-01-01 00:00:00 +0000 UTC")
    assert headers["traceparent"].startswith("00-")


async def test_route_defaults_to_the_component_name() -> None:
    block, app = BindingsBlock("app"), App()
    block.add(LoadedComponent(meta("tick"), Source()))
    await block.start_inputs(app)
    assert app.calls[0][:2] == ("OPTIONS", "/tick")


@pytest.mark.parametrize(("answer", "taken"), [(200, True), (204, True), (405, True), (404, False), (500, False)])
async def test_probe_answer_decides(answer: int, taken: bool) -> None:
    block, source = BindingsBlock("app"), Source()
    block.add(LoadedComponent(meta("tick"), source))
    await block.start_inputs(App({"/tick": answer}))
    assert (source.handler is not None, block.reading()) == (taken, ["tick"] if taken else [])


async def test_explicit_input_direction_skips_the_probe() -> None:
    block, source, app = BindingsBlock("app"), Source(), App({"/tick": 404})
    block.add(LoadedComponent(meta("tick", direction="input"), source))
    await block.start_inputs(app)
    assert app.calls == [] and source.handler is not None


async def test_an_output_only_direction_never_reads() -> None:
    block, both, app = BindingsBlock("app"), Both(), App()
    block.add(LoadedComponent(meta("both", direction="output"), both))
    await block.start_inputs(app)
    assert app.calls == [] and both.handler is None


async def test_refused_and_unreachable_probes_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tandem.sidecar.bindings")
    block = BindingsBlock("app")
    refused, unreachable, fine = Source(), Source(), Source()
    block.add(LoadedComponent(meta("refused"), refused))
    block.add(LoadedComponent(meta("unreachable"), unreachable))
    block.add(LoadedComponent(meta("fine"), fine))
    await block.start_inputs(App({"/refused": 404, "/unreachable": aiohttp.ClientConnectionError("refused")}))
    assert (refused.handler, unreachable.handler) == (None, None)
    assert fine.handler is not None  # one bad binding does not stop the others
    messages = [r.getMessage() for r in caplog.records]
    assert sum("refused: the app answered 404 to OPTIONS /refused" in m for m in messages) == 1
    assert sum("unreachable: could not ask the app" in m for m in messages) == 1
    count = len(caplog.records)
    await block.start_inputs(App())  # a second start does nothing
    assert len(caplog.records) == count


async def test_a_failed_event_raises_into_the_driver_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tandem.sidecar.bindings")
    block, source, app = BindingsBlock("app"), Source(), App(event_status=500)
    block.add(LoadedComponent(meta("tick", direction="input"), source))
    await block.start_inputs(app)
    for _ in range(3):
        with pytest.raises(EventRejected, match="the app answered 500"):
            await source.push()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    app.event_status = 200
    assert await source.push() == b'{"ok":true}'
    app.event_status = aiohttp.ClientConnectionError("gone")  # type: ignore[assignment]
    with pytest.raises(EventRejected, match="did not answer"):
        await source.push()
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2  # warned again after recovering


async def test_event_metadata_cannot_override_reserved_headers() -> None:
    block, source, app = BindingsBlock("app"), Source(), App()
    block.add(LoadedComponent(meta("tick", direction="input"), source))
    await block.start_inputs(app)
    extra: dict[str, Any] = {"Content-Type": "text/evil", "dapr-api-token": "x", "bad header": "v", "ok": "a\nb"}
    await source.push(b"{}", **extra)
    headers = app.calls[-1][2]
    assert headers["content-type"] == "application/json"
    assert not {"Content-Type", "dapr-api-token", "bad header", "ok"} & set(headers)


async def test_close_stops_the_readers_and_refuses_late_events() -> None:
    block, source = BindingsBlock("app"), Source()
    block.add(LoadedComponent(meta("tick"), source))
    await block.start_inputs(App())
    await block.close()
    assert source.stopped == 1 and block.reading() == []
    with pytest.raises(EventRejected):
        await source.push()
    await block.close()
    assert source.stopped == 1
