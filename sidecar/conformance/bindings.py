"""Conformance suites for ``bindings.*`` drivers (the contracts in :mod:`tandem.sidecar.components.bindings`).

Output bindings: subclass :class:`OutputBindingConformance` under a ``Test…`` name and define

``output_binding`` (fixture, required)
    Yields an *initialised* :class:`~tandem.sidecar.components.bindings.OutputBinding`
    and closes it afterwards.

``requests(self)`` (method, optional)
    Returns a list of ``(InvokeRequest, check)`` pairs; the suite invokes them
    in order and calls ``check(response)`` on each answer (``None`` included),
    so a ``check`` asserts what it expects. A round trip (create → get →
    delete …) on names with :func:`~tandem.sidecar.conformance.unique` in them.
    No pairs (the default): that test is skipped.

``unknown_operation_metadata`` (class attribute, ``{}``)
    Metadata sent with an operation the driver does not list (e.g. a ``key``
    the driver checks before the operation).

Input bindings: subclass :class:`InputBindingConformance` and define

``input_binding`` (fixture, required)
    Yields an *initialised*, not yet reading
    :class:`~tandem.sidecar.components.bindings.InputBinding` and closes it
    afterwards. It must produce an event within ``event_timeout`` seconds of
    ``read`` by itself (a cron firing every second, say) or when ``trigger``
    is awaited.

``async def trigger(self, binding)`` (method, optional)
    Causes one event outside (publishes a message …); by default does nothing.

``event_timeout`` (class attribute, ``5.0``)
    Seconds within which an event must reach the handler.

``quiet_period`` (class attribute, ``event_timeout``)
    Seconds after ``stop()`` during which no handler call may start.

``read_timeout`` (class attribute, ``1.0``)
    Seconds within which ``read`` must return.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import ClassVar

import anyio
import pytest

from ..components.bindings import (
    BindingError,
    BindingEvent,
    BindingFeature,
    InputBinding,
    InvokeRequest,
    InvokeResponse,
    OutputBinding,
)
from . import ConformanceSuite, unique

__all__ = ["InputBindingConformance", "OutputBindingConformance"]

#: An output-binding request and the check of its answer.
RequestCheck = tuple[InvokeRequest, Callable[[InvokeResponse | None], None]]


class OutputBindingConformance(ConformanceSuite):
    """The output-binding contract as tests; see the module docstring for the fixture and hooks."""

    unknown_operation_metadata: ClassVar[Mapping[str, str]] = {}

    @pytest.fixture
    def output_binding(self) -> OutputBinding:
        pytest.fail(f"{type(self).__name__} must define an 'output_binding' fixture "
                    "yielding an initialised OutputBinding")

    def requests(self) -> list[RequestCheck]:
        """The round trip to run, in order; none by default."""
        return []

    async def test_declares_output_binding(self, output_binding: OutputBinding) -> None:
        assert BindingFeature.OUTPUT_BINDING.value in output_binding.features()

    async def test_operations_are_distinct_non_empty_names(self, output_binding: OutputBinding) -> None:
        operations = list(output_binding.operations())
        assert operations, "operations() is empty"
        assert all(isinstance(op, str) and op for op in operations), operations
        assert len(set(operations)) == len(operations), f"duplicate operations: {operations}"

    async def test_an_unlisted_operation_is_a_binding_error(self, output_binding: OutputBinding) -> None:
        operation = unique("op")
        assert operation not in output_binding.operations()
        with pytest.raises(BindingError):
            await output_binding.invoke(InvokeRequest(operation, b"{}", dict(self.unknown_operation_metadata)))

    async def test_round_trip(self, output_binding: OutputBinding) -> None:
        pairs = self.requests()
        if not pairs:
            pytest.skip(f"{type(self).__name__} gives no requests()")
        listed = set(output_binding.operations())
        for request, check in pairs:
            assert request.operation in listed, f"{request.operation!r} is not in operations()"
            response = await output_binding.invoke(request)
            assert response is None or isinstance(response, InvokeResponse), response
            check(response)


class InputBindingConformance(ConformanceSuite):
    """The input-binding contract as tests; see the module docstring for the fixture and hooks."""

    event_timeout: ClassVar[float] = 5.0
    quiet_period: ClassVar[float | None] = None
    read_timeout: ClassVar[float] = 1.0

    @pytest.fixture
    def input_binding(self) -> InputBinding:
        pytest.fail(f"{type(self).__name__} must define an 'input_binding' fixture "
                    "yielding an initialised InputBinding")

    @pytest.fixture(autouse=True)
    async def _conformance_binding_stop(self, input_binding: InputBinding) -> AsyncIterator[None]:
        yield
        await input_binding.stop()

    async def trigger(self, binding: InputBinding) -> None:
        """Cause one event outside; the default expects the binding to produce events by itself."""

    async def start(self, binding: InputBinding, handler: Callable[[BindingEvent], None],
                    fail: bool = False) -> None:
        """``read`` with a handler recording events (and raising after each when ``fail``), within ``read_timeout``."""

        async def on_event(event: BindingEvent) -> bytes:
            handler(event)
            if fail:
                raise RuntimeError("conformance: the app failed this event")
            return b""

        with anyio.fail_after(self.read_timeout):
            await binding.read(on_event)

    async def wait_for(self, binding: InputBinding, events: list[BindingEvent], count: int) -> None:
        """Trigger and wait, ``event_timeout`` each, until ``count`` events have reached the handler."""
        while len(events) < count:
            seen = len(events)
            await self.trigger(binding)
            with anyio.fail_after(self.event_timeout):
                while len(events) == seen:
                    await anyio.sleep(0.02)

    async def test_declares_input_binding(self, input_binding: InputBinding) -> None:
        assert BindingFeature.INPUT_BINDING.value in input_binding.features()

    async def test_read_returns_and_events_reach_the_handler(self, input_binding: InputBinding) -> None:
        events: list[BindingEvent] = []
        await self.start(input_binding, events.append)
        await self.wait_for(input_binding, events, 1)
        assert all(isinstance(e, BindingEvent) and isinstance(e.data, bytes) for e in events), events

    async def test_a_failing_handler_does_not_stop_later_events(self, input_binding: InputBinding) -> None:
        events: list[BindingEvent] = []
        await self.start(input_binding, events.append, fail=True)
        await self.wait_for(input_binding, events, 2)

    async def test_no_events_after_stop(self, input_binding: InputBinding) -> None:
        events: list[BindingEvent] = []
        await self.start(input_binding, events.append)
        await self.wait_for(input_binding, events, 1)
        await input_binding.stop()
        seen = len(events)
        await self.trigger(input_binding)
        await anyio.sleep(self.event_timeout if self.quiet_period is None else self.quiet_period)
        assert len(events) == seen, f"{len(events) - seen} event(s) after stop()"
        await input_binding.stop()  # safe twice
