"""The Configuration's tracing, metrics and logging sections, read into typed settings."""
from __future__ import annotations

from typing import Any

import pytest

from tandem.sidecar.components.model import ComponentError, Configuration
from tandem.sidecar.observability.settings import DEFAULT_LATENCY_BUCKETS_MS, read_settings


def settings(spec: dict[str, Any]) -> Any:
    return read_settings(Configuration(name="c", source="config.yaml", spec=spec))


def test_nothing_configured_is_metrics_on_tracing_off() -> None:
    found = settings({})
    assert found.tracing.sampling_rate == 0 and found.tracing.exporters == []
    assert found.metrics.enabled and found.metrics.latency_buckets_ms == DEFAULT_LATENCY_BUCKETS_MS
    assert not found.api_logging.enabled


def test_daprs_tracing_section() -> None:
    found = settings({"tracing": {"samplingRate": "0.5", "stdout": True,
                                  "zipkin": {"endpointAddress": "http://localhost:9411/api/v2/spans"},
                                  "otel": {"endpointAddress": "localhost:4318", "isSecure": False,
                                           "protocol": "http", "headers": "a=1, b=2", "timeout": 2500}}})
    tracing = found.tracing
    assert tracing.sampling_rate == 0.5 and tracing.exporters == ["stdout", "zipkin", "otel"]
    assert tracing.otel.url() == "http://localhost:4318/v1/traces"
    assert dict(tracing.otel.headers) == {"a": "1", "b": "2"} and tracing.otel.timeout == 2.5


@pytest.mark.parametrize(("endpoint", "secure", "url"), [
    ("collector:4318", None, "https://collector:4318/v1/traces"),  # isSecure defaults to true, as in Dapr
    ("http://collector:4318", None, "http://collector:4318/v1/traces"),
    ("http://collector:4318/custom/path", False, "http://collector:4318/custom/path"),
])
def test_the_otlp_http_url(endpoint: str, secure: bool | None, url: str) -> None:
    otel: dict[str, Any] = {"endpointAddress": endpoint}
    if secure is not None:
        otel["isSecure"] = secure
    assert settings({"tracing": {"otel": otel}}).tracing.otel.url() == url


@pytest.mark.parametrize(("spec", "problem"), [
    ({"tracing": {"samplingRate": "often"}}, "spec.tracing.samplingRate: 'often' is not a number"),
    ({"tracing": {"samplingRate": "2"}}, "spec.tracing.samplingRate: '2' is outside 0..1"),
    ({"tracing": {"otel": {"protocol": "grpc"}}}, "spec.tracing.otel.endpointAddress: is missing"),
    ({"tracing": {"otel": {"endpointAddress": "x:1", "protocol": "udp"}}}, "'udp' is not http or grpc"),
    ({"tracing": {"stdout": "maybe"}}, "spec.tracing.stdout: 'maybe' is not a boolean"),
    ({"tracing": "on"}, "spec.tracing: must be a mapping"),
    ({"metrics": {"latencyDistributionBuckets": [1, "x"]}}, "must be a list of positive numbers"),
    ({"logging": {"apiLogging": {"enabled": "perhaps"}}}, "spec.logging.apiLogging.enabled"),
])
def test_bad_values_name_the_file_and_field(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ComponentError) as caught:
        settings(spec)
    assert str(caught.value).startswith("config.yaml: ") and problem in str(caught.value)


def test_metrics_and_api_logging_sections() -> None:
    found = settings({"metric": {"enabled": False, "latencyDistributionBuckets": [50, 5, 500]},
                      "logging": {"apiLogging": {"enabled": True, "obfuscateURLs": True, "omitHealthChecks": True}}})
    assert not found.metrics.enabled and found.metrics.latency_buckets_ms == (5, 50, 500)
    assert found.api_logging.enabled and found.api_logging.obfuscate_urls and found.api_logging.omit_health_checks
