"""The bindings building block: output calls with Dapr's errors, input events to the app (spec §4).

Output: the operation is checked against the driver's list before the driver
sees it, and every failure leaves as Dapr's 500 ``ERR_INVOKE_OUTPUT_BINDING``
carrying whatever response metadata the driver knew (sent back as headers).

Input: once the app is reachable the runtime calls :meth:`BindingsBlock.start_inputs`.
Each input binding is offered to the app with ``OPTIONS /<route>`` (unless its
``direction`` names ``input`` explicitly); an app that answers 2xx or 405 gets
its events as ``POST /<route>``, one that answers anything else gets none — and
that is logged once, not once per event.

Both sides count in Dapr's ``dapr_component_{output,input}_binding_*`` metrics;
each input event is a ``bindings/<name>`` span (under the event's own
``traceparent`` when its metadata carries one).
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from ..channel import AppChannel
from ..components.base import ComponentMetadata
from ..components.bindings import (
    BindingError,
    BindingEvent,
    BindingFeature,
    EventHandler,
    InputBinding,
    InvokeRequest,
    OutputBinding,
)
from ..errors import DaprError
from ..observability import Observability
from ..observability.tracing import CONSUMER
from .base import Block, LoadedComponent

if TYPE_CHECKING:
    from ..app_config import AppConnector

__all__ = ["BindingsBlock", "EventRejected", "OutputBindingError", "directions"]

log = logging.getLogger("tandem.sidecar.bindings")

_PROBE_TIMEOUT = 10.0
#: Set by the channel or by us; an event's metadata must not override them.
_RESERVED_HEADERS = frozenset({"content-length", "content-type", "host", "transfer-encoding", "connection",
                               "dapr-api-token"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass
class OutputBindingError(DaprError):
    """Dapr's error for a failed output call, plus the response metadata to send as ``metadata.*`` headers."""

    response_metadata: dict[str, str] = field(default_factory=dict)


class EventRejected(Exception):
    """Raised into an input driver: the app did not take the event (no answer, or not 2xx)."""


def directions(metadata: ComponentMetadata) -> frozenset[str] | None:
    """The sides named by ``direction`` (``input``/``output``, comma list, any case); None when absent."""
    value = metadata.get("direction")
    if value is None:
        return None
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


@dataclass
class _Input:
    name: str
    route: str
    driver: InputBinding
    #: ``direction`` names ``input``: the app is known to want events, no probe.
    explicit: bool
    failing: bool = False


class BindingsBlock(Block):
    """Every binding component of one sidecar, by name."""

    contracts = (InputBinding, OutputBinding)

    def __init__(self, app_id: str, observability: Observability | None = None) -> None:
        self.app_id = app_id
        self.observability = observability or Observability(app_id)
        self._outputs: dict[str, OutputBinding] = {}
        self._inputs: dict[str, _Input] = {}
        self._reading: list[_Input] = []
        self._channel: AppChannel | None = None
        self._started = False
        self._closed = False

    def add(self, component: LoadedComponent) -> None:
        """Register an initialised driver under its sides allowed by ``direction`` (both when absent)."""
        metadata, driver = component.metadata, component.driver
        sides = directions(metadata)
        wants_input = sides is None or "input" in sides
        wants_output = sides is None or "output" in sides
        name = metadata.name
        if isinstance(driver, OutputBinding) and wants_output:
            self._outputs[name] = driver
        if isinstance(driver, InputBinding) and wants_input:
            route = (metadata.get("route") or "").strip() or name
            self._inputs[name] = _Input(name, "/" + route.lstrip("/"), driver, sides is not None)
        for side, has in (("input", isinstance(driver, InputBinding)), ("output", isinstance(driver, OutputBinding))):
            if sides is not None and side in sides and not has:
                log.warning("binding %s: direction names %s, but %s has no %s side", name, side, metadata.type,
                            side)
        unknown = (sides or frozenset()) - {"input", "output"}
        if unknown:
            log.warning("binding %s: unknown direction %s ignored (use input, output or both)", name,
                        ", ".join(sorted(unknown)))

    def names(self) -> list[str]:
        return sorted(set(self._outputs) | set(self._inputs))

    def capabilities(self, component: LoadedComponent) -> frozenset[str]:
        """What the metadata API lists for a binding: only the sides actually in use."""
        name = component.name
        found = set()
        if name in self._inputs:
            found.add(BindingFeature.INPUT_BINDING.value)
        if name in self._outputs:
            found.add(BindingFeature.OUTPUT_BINDING.value)
        return frozenset(found)

    def reading(self) -> list[str]:
        """The input bindings sending events to the app now."""
        return [i.name for i in self._reading]

    # -- output ---------------------------------------------------------------------------

    async def invoke_output(self, name: str, operation: str, data: bytes,
                            metadata: Mapping[str, str]) -> tuple[bytes | None, dict[str, str]]:
        """Run ``operation`` on output binding ``name``: (data or None for "no answer", response metadata)."""
        if not operation:
            raise _invoke_error(name, "operation field is missing from request")
        driver = self._outputs.get(name)
        if driver is None:
            raise _invoke_error(name, f"couldn't find output binding {name}")
        supported = [str(op) for op in driver.operations()]
        if operation not in supported:
            raise _invoke_error(name, f"binding {name} does not support operation {operation}. "
                                      f"supported operations:{' '.join(supported)}")
        start = time.perf_counter()
        try:
            response = await driver.invoke(InvokeRequest(operation, data, dict(metadata)))
        except BindingError as exc:
            log.debug("output binding %s, operation %s failed: %s", name, operation, exc)
            self._count_output(name, operation, False, start)
            raise _invoke_error(name, str(exc), exc.metadata) from exc
        except Exception as exc:  # a driver's own failure is the app's 500, as in Dapr
            log.debug("output binding %s, operation %s failed: %r", name, operation, exc)
            self._count_output(name, operation, False, start)
            raise _invoke_error(name, str(exc) or type(exc).__name__) from exc
        self._count_output(name, operation, True, start)
        if response is None:
            return None, {}
        return bytes(response.data), {str(k): str(v) for k, v in response.metadata.items()}

    def _count_output(self, name: str, operation: str, success: bool, start: float) -> None:
        metrics = self.observability.metrics
        labels = (name, metrics.namespace, operation, "true" if success else "false")
        metrics.output_binding_count.inc(*labels)
        metrics.output_binding_latencies.observe((time.perf_counter() - start) * 1000.0, *labels)

    def _count_input(self, name: str, success: bool, start: float) -> None:
        metrics = self.observability.metrics
        labels = (name, metrics.namespace, "true" if success else "false")
        metrics.input_binding_count.inc(*labels)
        metrics.input_binding_latencies.observe((time.perf_counter() - start) * 1000.0, *labels)

    # -- input ----------------------------------------------------------------------------

    async def start(self, app: AppConnector) -> None:
        if app.channel is not None:
            await self.start_inputs(app.channel)

    async def start_inputs(self, channel: AppChannel) -> None:
        """Offer each input binding to the app and start the ones it takes (call once, app reachable)."""
        if self._started or self._closed:
            return
        self._started = True
        self._channel = channel
        for binding in self._inputs.values():
            if not binding.explicit and not await self._probe(channel, binding):
                continue
            try:
                await binding.driver.read(self._handler(binding))
            except Exception as exc:  # one broken binding must not keep the others from starting
                log.error("input binding %s failed to start reading: %r", binding.name, exc)
                continue
            self._reading.append(binding)
            log.info("input binding %s: sending events to the app on POST %s", binding.name, binding.route)

    async def _probe(self, channel: AppChannel, binding: _Input) -> bool:
        try:
            reply = await channel.call("OPTIONS", binding.route, headers={"content-type": "application/json"},
                                       timeout=_PROBE_TIMEOUT)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            log.error("input binding %s: could not ask the app about OPTIONS %s: %r; not started", binding.name,
                      binding.route, exc)
            return False
        if 200 <= reply.status < 300 or reply.status == 405:
            return True
        log.info("input binding %s: the app answered %s to OPTIONS %s, so it does not take this binding's "
                 "events; none will be sent (set direction: input to skip the check)", binding.name,
                 reply.status, binding.route)
        return False

    def _handler(self, binding: _Input) -> EventHandler:
        async def deliver(event: BindingEvent) -> bytes:
            channel = self._channel
            if channel is None or self._closed:
                raise EventRejected("the sidecar is shutting down")
            start = time.perf_counter()
            headers = _event_headers(event.metadata)
            headers["content-type"] = "application/json"
            span = self.observability.tracing.start(
                f"bindings/{binding.name}", CONSUMER, parent=_header(headers, "traceparent"),
                state=_header(headers, "tracestate"),
                attributes={"db.system": "bindings", "db.name": binding.name, "dapr.protocol": "http"})
            headers = {k: v for k, v in headers.items() if k.lower() not in ("traceparent", "tracestate")}
            headers.update(span.headers())
            try:
                reply = await channel.call("POST", binding.route, headers=headers, body=event.data)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                span.end(error=f"the app did not answer: {exc!r}")
                self._count_input(binding.name, False, start)
                self._failed(binding, f"the app did not answer: {exc!r}")
                raise EventRejected(f"the app did not answer POST {binding.route}: {exc!r}") from None
            span.end(reply.status)
            self._count_input(binding.name, 200 <= reply.status < 300, start)
            if not 200 <= reply.status < 300:
                self._failed(binding, f"the app answered {reply.status}")
                raise EventRejected(f"the app answered {reply.status} to POST {binding.route}")
            if binding.failing:
                binding.failing = False
                log.info("input binding %s: the app takes events again", binding.name)
            return reply.body

        return deliver

    @staticmethod
    def _failed(binding: _Input, why: str) -> None:
        """A warning when events start failing, then quiet (debug) until one succeeds again."""
        if binding.failing:
            log.debug("input binding %s: event not taken: %s", binding.name, why)
            return
        binding.failing = True
        log.warning("input binding %s: event not taken on POST %s: %s (further failures are logged at debug "
                    "level until an event succeeds)", binding.name, binding.route, why)

    async def close(self) -> None:
        """Stop every input binding reading; the drivers themselves are closed by the runtime."""
        self._closed = True
        reading, self._reading = self._reading, []
        results = await asyncio.gather(*(b.driver.stop() for b in reading), return_exceptions=True)
        for binding, result in zip(reading, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("input binding %s failed to stop: %r", binding.name, result)


def _invoke_error(name: str, problem: str, metadata: Mapping[str, str] | None = None) -> OutputBindingError:
    return OutputBindingError(500, "ERR_INVOKE_OUTPUT_BINDING", f"error invoking output binding {name}: {problem}",
                              response_metadata={str(k): str(v) for k, v in (metadata or {}).items()})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _event_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    """Event metadata as headers; entries that cannot be HTTP headers are left out (logged)."""
    headers: dict[str, str] = {}
    for key, value in metadata.items():
        text = str(value)
        if key.lower() in _RESERVED_HEADERS:
            continue
        if not _TOKEN.match(key) or any(c in text for c in "\r\n\0"):
            log.debug("event metadata %r cannot be sent as an HTTP header; left out", key)
            continue
        headers[key] = text
    return headers
