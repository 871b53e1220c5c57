"""Build the OpenTelemetry SDK's tracer provider the ``tracing`` section asks for.

The SDK and the exporters are the optional extra ``tandem[otel]``: the core
only needs ``opentelemetry-api``. Everything is imported here, on demand; what
is missing is reported as :class:`MissingExtra` with the package to install.

Sampling is Dapr's: a caller that sampled its span is always followed; otherwise
a trace is kept with probability ``samplingRate``.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any

from .settings import TracingSettings

__all__ = ["MissingExtra", "build_provider"]

log = logging.getLogger("tandem.sidecar.tracing")

#: Exporter name → (module, class, the distribution that provides it).
_EXPORTERS = {
    "stdout": ("opentelemetry.sdk.trace.export", "ConsoleSpanExporter", "opentelemetry-sdk"),
    "zipkin": ("opentelemetry.exporter.zipkin.json", "ZipkinExporter", "opentelemetry-exporter-zipkin-json"),
    "otel-http": ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter",
                  "opentelemetry-exporter-otlp-proto-http"),
    "otel-grpc": ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter",
                  "opentelemetry-exporter-otlp-proto-grpc"),
}


class MissingExtra(Exception):
    """A package the Configuration needs is not installed; the message says which."""

    def __init__(self, packages: list[str]) -> None:
        self.packages = packages
        super().__init__(", ".join(packages))


def _exporter_class(key: str) -> Any:
    module, name, package = _EXPORTERS[key]
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        raise MissingExtra([package]) from None


def _guarded(exporter: Any, where: str) -> Any:
    """``exporter`` that never raises: a collector that cannot be reached is one warning line, not a
    traceback per batch; it is logged again (at info) once spans get through."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Guarded(SpanExporter):
        failing = False

        def export(self, spans: Any) -> Any:
            try:
                result = exporter.export(spans)
                error = None if result is SpanExportResult.SUCCESS else "the export failed"
            except Exception as exc:
                result, error = SpanExportResult.FAILURE, f"{type(exc).__name__}: {exc}"[:300]
            if error is None:
                if self.failing:
                    self.failing = False
                    log.info("tracing: spans reach %s again", where)
            elif not self.failing:
                self.failing = True
                log.warning("tracing: cannot export spans to %s (%s); spans are dropped until it answers "
                            "(further failures are logged at debug level)", where, error)
            else:
                log.debug("tracing: export to %s failed again: %s", where, error)
            return result

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(exporter.force_flush(timeout_millis))

    return Guarded()


def _exporters(settings: TracingSettings) -> tuple[list[Any], list[str]]:
    """The exporters that could be built, and the packages missing for the others."""
    made: list[Any] = []
    missing: list[str] = []

    def add(key: str, where: str, **options: Any) -> None:
        try:
            made.append(_guarded(_exporter_class(key)(**options), where))
        except MissingExtra as exc:
            missing.extend(exc.packages)

    if settings.stdout:
        add("stdout", "stdout")
    if settings.zipkin:
        add("zipkin", f"zipkin {settings.zipkin}", endpoint=settings.zipkin)
    otel = settings.otel
    if otel is not None:
        if otel.protocol == "grpc":
            add("otel-grpc", f"otel {otel.endpoint}", endpoint=otel.endpoint, insecure=not otel.secure,
                headers=dict(otel.headers) or None, timeout=otel.timeout)
        else:
            add("otel-http", f"otel {otel.url()}", endpoint=otel.url(), headers=dict(otel.headers) or None,
                timeout=otel.timeout)
    return made, missing


def build_provider(settings: TracingSettings, *, service: str, namespace: str | None, version: str) -> tuple[
        Any, list[str]]:
    """A provider exporting to every exporter that could be built, and the packages missing for others.

    Raises :class:`MissingExtra` when the SDK itself is not installed, or when no
    exporter at all could be built.
    """
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ImportError:
        raise MissingExtra(["opentelemetry-sdk"]) from None
    exporters, missing = _exporters(settings)
    if not exporters:
        raise MissingExtra(missing)
    ratio = TraceIdRatioBased(settings.sampling_rate)
    sampler = ParentBased(root=ratio, remote_parent_not_sampled=ratio, local_parent_not_sampled=ratio)
    attributes = {"service.name": service or "tandemd", "service.version": version}
    if namespace:
        attributes["service.namespace"] = namespace
    provider = TracerProvider(sampler=sampler, resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, missing
