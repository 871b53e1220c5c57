"""One sidecar's observers: its tracer, its metrics and its API log, configured together at load.

The runtime owns one :class:`Observability` (``runtime.observability``) and
hands it to the blocks that record something. It starts as "metrics on,
tracing off, no API log" and :meth:`Observability.configure` applies the
Configuration and the flags. The start-up lines about tracing are written
here, once: what is exported where, or why nothing is.
"""
from __future__ import annotations

import logging

from ..components.model import Configuration
from .api_logging import ApiLog
from .calls import Classifier
from .metrics import Metrics
from .otel_sdk import MissingExtra, build_provider
from .settings import Settings, TracingSettings, read_settings
from .tracing import Tracing

__all__ = ["Observability"]

log = logging.getLogger("tandem.sidecar.tracing")


class Observability:
    """Tracing, metrics and API logging of one sidecar."""

    def __init__(self, app_id: str, namespace: str | None = None, version: str = "") -> None:
        self.app_id = app_id
        self.namespace = namespace
        self.version = version
        self.settings = Settings()
        self.metrics = Metrics(app_id, namespace)
        self.metrics_enabled = True
        self.tracing = Tracing()
        self.api_log: ApiLog | None = None
        self.classify = Classifier()

    @property
    def observes_api(self) -> bool:
        """Whether the API needs the observing middleware at all (nothing to do → not installed)."""
        return self.metrics_enabled or self.tracing.recording or self.api_log is not None

    def configure(self, configuration: Configuration, *, enable_metrics: bool = True,
                  enable_api_logging: bool | None = None) -> None:
        """Apply the Configuration's sections and the flags; raises ``ComponentError`` on a bad value.

        Metrics are on unless ``--enable-metrics=false`` or ``metrics.enabled: false``;
        ``--enable-api-logging`` given either way wins over ``logging.apiLogging.enabled``.
        """
        settings = read_settings(configuration)
        self.settings = settings
        self.metrics_enabled = enable_metrics and settings.metrics.enabled
        if settings.metrics.latency_buckets_ms != self.metrics.http_server_latency.bounds:
            self.metrics = Metrics(self.app_id, self.namespace, settings.metrics.latency_buckets_ms)
        api_logging = settings.api_logging.enabled if enable_api_logging is None else enable_api_logging
        self.api_log = ApiLog(settings.api_logging) if api_logging else None
        self._start_tracing(settings.tracing, configuration.source or "the Configuration")

    def _start_tracing(self, settings: TracingSettings, source: str) -> None:
        exporters = settings.exporters
        if settings.sampling_rate <= 0:
            if exporters:
                log.info("tracing: samplingRate is 0 in %s: no spans are recorded (%s configured); "
                         "trace context is still propagated", source, ", ".join(exporters))
            return
        if not exporters:
            log.info("tracing: samplingRate is %s but no exporter is configured (stdout, zipkin or otel): "
                     "no spans are recorded; trace context is still propagated", settings.sampling_rate)
            return
        try:
            provider, missing = build_provider(settings, service=self.app_id, namespace=self.namespace,
                                               version=self.version)
        except MissingExtra as exc:
            log.warning("tracing: %s asks for tracing (samplingRate %s, %s) but %s is not installed: no spans "
                        "are exported; trace context is still propagated. Install it with: "
                        "pip install 'tandem[otel]'", source, settings.sampling_rate, ", ".join(exporters), exc)
            return
        if missing:
            log.warning("tracing: %s is not installed, so some exporters are left out; install it with: "
                        "pip install 'tandem[otel]'", ", ".join(missing))
        self.tracing.install(provider, self.version)
        log.info("tracing: samplingRate %s, exporting to %s", settings.sampling_rate, _where(settings))

    async def close(self) -> None:
        await self.tracing.close()


def _where(settings: TracingSettings) -> str:
    places = []
    if settings.stdout:
        places.append("stdout")
    if settings.zipkin:
        places.append(f"zipkin {settings.zipkin}")
    if settings.otel is not None:
        target = settings.otel.url() if settings.otel.protocol == "http" else settings.otel.endpoint
        places.append(f"otel ({settings.otel.protocol}) {target}")
    return ", ".join(places)
