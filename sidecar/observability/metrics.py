"""The sidecar's metrics, named as Dapr names them, in the Prometheus text format.

One :class:`Metrics` object per runtime (``runtime.observability.metrics``)
holds every family. Each family is bound to the sidecar's ``app_id`` (and
writes it as the first label); callers pass the other label values
positionally, in the order the family lists them::

    metrics.actor_activated.inc("Counter")              # dapr_runtime_actor_activated_total
    metrics.actor_pending_calls.add(1, "Counter")       # a gauge: +1 on entry, -1 on exit
    metrics.actor_timers_fired.inc("Counter", "true")   # (actor_type, success)

Why not ``prometheus_client``: it appends ``_total`` to every counter, so it
cannot write ``dapr_http_server_request_count`` — the name Dapr's Grafana
dashboards query — and its label lookup takes a lock per call on the request
path. Recording here is one dict update; everything runs on the event loop.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from .settings import DEFAULT_LATENCY_BUCKETS_MS

__all__ = ["CONTENT_TYPE", "CountOf", "Counter", "Gauge", "Histogram", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Family:
    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Iterable[str], app_id: str) -> None:
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self._prefix = f'app_id="{_label_value(app_id)}"'

    def _label_text(self, values: tuple[str, ...], extra: str = "") -> str:
        parts = [self._prefix]
        parts += [f'{name}="{_label_value(str(value))}"' for name, value in zip(self.labels, values, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}"

    def _header(self) -> list[str]:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError

    def _check(self, values: tuple[str, ...]) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {values!r}")


class Counter(_Family):
    """A monotonic count per label set; ``inc(*labels)``."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Iterable[str], app_id: str) -> None:
        super().__init__(name, help, labels, app_id)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        try:
            self._values[labels] += amount
        except KeyError:
            self._check(labels)
            self._values[labels] = amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        lines = self._header()
        lines += [f"{self.name}{self._label_text(k)} {_number(v)}" for k, v in list(self._values.items())]
        return lines


class Gauge(Counter):
    """A value that goes up and down; ``add(delta, *labels)`` or ``set(value, *labels)``."""

    kind = "gauge"

    def add(self, delta: float, *labels: str) -> None:
        self.inc(*labels, amount=delta)

    def set(self, value: float, *labels: str) -> None:
        self._check(labels)
        self._values[labels] = float(value)


class Histogram(_Family):
    """A distribution per label set; ``observe(value, *labels)``. Buckets are upper bounds."""

    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Iterable[str], app_id: str,
                 buckets: Iterable[float] = DEFAULT_LATENCY_BUCKETS_MS) -> None:
        super().__init__(name, help, labels, app_id)
        self.bounds = tuple(sorted(float(b) for b in buckets))
        # Per label set: one count per bucket, one for +Inf, then the sum.
        self._cells: dict[tuple[str, ...], list[float]] = {}

    def observe(self, value: float, *labels: str) -> None:
        cell = self._cells.get(labels)
        if cell is None:
            self._check(labels)
            cell = self._cells[labels] = [0.0] * (len(self.bounds) + 2)
        cell[bisect_left(self.bounds, value)] += 1
        cell[-1] += value

    def count(self, *labels: str) -> int:
        cell = self._cells.get(labels)
        return int(sum(cell[:-1])) if cell else 0

    def render(self) -> list[str]:
        lines = self._header()
        for key, cell in list(self._cells.items()):
            running = 0.0
            for bound, count in zip((*self.bounds, float("inf")), cell[:-1], strict=True):
                running += count
                le = 'le="' + _number(bound) + '"'
                lines.append(f"{self.name}_bucket{self._label_text(key, le)} {_number(running)}")
            lines.append(f"{self.name}_sum{self._label_text(key)} {_number(cell[-1])}")
            lines.append(f"{self.name}_count{self._label_text(key)} {_number(running)}")
        return lines


class CountOf(_Family):
    """A counter read off another family (the same events), summed over the labels it keeps.

    Recording a request once, in the histogram (or counter) with the most labels,
    instead of in several families: the request path pays one update, the scrape
    does the sums.
    """

    kind = "counter"

    def __init__(self, name: str, help: str, source: Histogram | Counter, labels: Iterable[str]) -> None:
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self._prefix = source._prefix
        self._source = source
        self._keep = [source.labels.index(label) for label in self.labels]

    def _counts(self) -> list[tuple[tuple[str, ...], float]]:
        source = self._source
        if isinstance(source, Histogram):
            return [(key, sum(cell[:-1])) for key, cell in list(source._cells.items())]
        return list(source._values.items())

    def render(self) -> list[str]:
        totals: dict[tuple[str, ...], float] = {}
        for key, count in self._counts():
            kept = tuple(key[i] for i in self._keep)
            totals[kept] = totals.get(kept, 0.0) + count
        lines = self._header()
        lines += [f"{self.name}{self._label_text(k)} {_number(v)}" for k, v in totals.items()]
        return lines


class Metrics:
    """Every metric of one sidecar. Latencies are in milliseconds, as Dapr records them."""

    def __init__(self, app_id: str, namespace: str | None = None,
                 latency_buckets_ms: Iterable[float] = DEFAULT_LATENCY_BUCKETS_MS) -> None:
        self.app_id = app_id
        self.namespace = namespace or ""
        buckets = tuple(latency_buckets_ms)

        def counter(name: str, help: str, *labels: str) -> Counter:
            return Counter(name, help, labels, app_id)

        def histogram(name: str, help: str, *labels: str) -> Histogram:
            return Histogram(name, help, labels, app_id, buckets)

        # The HTTP API, per API route (path with ids left out), method and status. Only the
        # histograms are recorded; the counts of the same calls are read off them.
        self.http_server_latency = histogram(
            "dapr_http_server_latency", "HTTP request end to end latency in the API, in ms.",
            "method", "path", "status")
        self.http_server_request_count = CountOf(
            "dapr_http_server_request_count", "Number of HTTP requests served by the API.",
            self.http_server_latency, ("method", "path", "status"))
        # Service invocation, caller side and callee side.
        self.invocation_res_recv_latency = histogram(
            "dapr_service_invocation_res_recv_latency_ms", "Invocation round trip as the caller sees it, in ms.",
            "destination_app_id", "invoke_method", "status")
        self.invocation_req_sent = CountOf(
            "dapr_service_invocation_req_sent_total", "Invocation requests sent to another app.",
            self.invocation_res_recv_latency, ("destination_app_id", "invoke_method"))
        self.invocation_res_recv = CountOf(
            "dapr_service_invocation_res_recv_total", "Invocation responses received from another app.",
            self.invocation_res_recv_latency, ("destination_app_id", "invoke_method", "status"))
        self.invocation_res_sent = counter(
            "dapr_service_invocation_res_sent_total", "Invocation responses sent back to another app.",
            "source_app_id", "invoke_method", "status")
        self.invocation_req_recv = CountOf(
            "dapr_service_invocation_req_recv_total", "Invocation requests received from another app.",
            self.invocation_res_sent, ("source_app_id", "invoke_method"))
        # Pub/sub.
        self.pubsub_egress_count = counter(
            "dapr_component_pubsub_egress_count", "Messages published to a pub/sub component.",
            "component", "namespace", "success", "topic")
        self.pubsub_egress_latencies = histogram(
            "dapr_component_pubsub_egress_latencies", "Time the pub/sub component took to take a message, in ms.",
            "component", "namespace", "success", "topic")
        self.pubsub_ingress_count = counter(
            "dapr_component_pubsub_ingress_count",
            "Messages delivered to the app, by outcome (process_status: success, retry, drop).",
            "component", "namespace", "process_status", "topic")
        self.pubsub_ingress_latencies = histogram(
            "dapr_component_pubsub_ingress_latencies", "Time the app took to process a message, in ms.",
            "component", "namespace", "process_status", "topic")
        # Bindings.
        self.output_binding_count = counter(
            "dapr_component_output_binding_count", "Operations invoked on output bindings.",
            "component", "namespace", "operation", "success")
        self.output_binding_latencies = histogram(
            "dapr_component_output_binding_latencies", "Time an output binding took to answer, in ms.",
            "component", "namespace", "operation", "success")
        self.input_binding_count = counter(
            "dapr_component_input_binding_count", "Input binding events sent to the app.",
            "component", "namespace", "success")
        self.input_binding_latencies = histogram(
            "dapr_component_input_binding_latencies", "Time the app took to take an input binding event, in ms.",
            "component", "namespace", "success")
        # Components.
        self.component_loaded = counter("dapr_runtime_component_loaded", "Components loaded successfully.")
        self.component_init = counter("dapr_runtime_component_init_total", "Components initialised.", "component")
        self.component_init_fail = counter(
            "dapr_runtime_component_init_fail_total", "Components that failed to initialise.", "component", "reason")
        # Actors (recorded by the actor runtime).
        self.actor_activated = counter(
            "dapr_runtime_actor_activated_total", "Actors activated.", "actor_type")
        self.actor_deactivated = counter(
            "dapr_runtime_actor_deactivated_total", "Actors deactivated.", "actor_type")
        self.actor_pending_calls = Gauge(
            "dapr_runtime_actor_pending_actor_calls", "Actor calls waiting for the per-actor lock.",
            ("actor_type",), app_id)
        self.actor_timers_fired = counter(
            "dapr_runtime_actor_timers_fired_total", "Actor timers fired.", "actor_type", "success")
        self.actor_reminders_fired = counter(
            "dapr_runtime_actor_reminders_fired_total", "Actor reminders fired.", "actor_type", "success")

    def families(self) -> list[_Family]:
        return [value for value in vars(self).values() if isinstance(value, _Family)]

    def render(self) -> bytes:
        """Every family in the Prometheus text format (version 0.0.4)."""
        lines: list[str] = []
        for family in self.families():
            lines += family.render()
        return ("\n".join(lines) + "\n").encode()
