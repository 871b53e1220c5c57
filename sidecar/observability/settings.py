"""The Configuration's ``tracing``, ``metrics`` and ``logging`` sections as typed settings (spec §7.2).

Read once at load; a value Dapr would not accept is a :class:`ComponentError`
naming the file and the field, so ``tandemd`` refuses to start with a clear
message instead of tracing or counting something else than asked.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..components.model import ComponentError, Configuration
from ..components.values import parse_bool

__all__ = ["ApiLoggingSettings", "DEFAULT_LATENCY_BUCKETS_MS", "MetricsSettings", "OtelSettings", "Settings",
           "TracingSettings", "read_settings"]

#: Dapr's latency distribution, in milliseconds.
DEFAULT_LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200, 250, 300, 400, 500,
    650, 800, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
)


@dataclass(frozen=True)
class OtelSettings:
    """``tracing.otel``: where an OTLP collector listens."""

    endpoint: str
    protocol: str = "http"
    secure: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0

    def url(self) -> str:
        """The OTLP/HTTP traces URL (``endpointAddress`` is ``host:port``, as in Dapr, or a full URL)."""
        if "://" in self.endpoint:
            base = self.endpoint
        else:
            base = f"{'https' if self.secure else 'http'}://{self.endpoint}"
        path = base.partition("://")[2]
        if "/" in path.rstrip("/"):
            return base
        return base.rstrip("/") + "/v1/traces"


@dataclass(frozen=True)
class TracingSettings:
    """``tracing``: how much to record and where the spans go."""

    sampling_rate: float = 0.0
    stdout: bool = False
    zipkin: str | None = None
    otel: OtelSettings | None = None

    @property
    def exporters(self) -> list[str]:
        """The exporters asked for, by name (for log lines)."""
        return [name for name, on in (("stdout", self.stdout), ("zipkin", self.zipkin is not None),
                                      ("otel", self.otel is not None)) if on]


@dataclass(frozen=True)
class MetricsSettings:
    """``metrics`` (or the legacy ``metric``): on or off, and the latency buckets."""

    enabled: bool = True
    latency_buckets_ms: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_MS


@dataclass(frozen=True)
class ApiLoggingSettings:
    """``logging.apiLogging``: one log line per API call."""

    enabled: bool = False
    obfuscate_urls: bool = False
    omit_health_checks: bool = False


@dataclass(frozen=True)
class Settings:
    """All three sections, read from one Configuration."""

    tracing: TracingSettings = TracingSettings()
    metrics: MetricsSettings = MetricsSettings()
    api_logging: ApiLoggingSettings = ApiLoggingSettings()


class _Reader:
    def __init__(self, configuration: Configuration) -> None:
        self.source = configuration.source or "--config"

    def fail(self, where: str, problem: str) -> ComponentError:
        return ComponentError(self.source, f"spec.{where}: {problem}")

    def section(self, value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, "must be a mapping")
        return value

    def boolean(self, section: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        try:
            return parse_bool(section.get(key), default)
        except (ValueError, AttributeError):
            raise self.fail(f"{where}.{key}", f"{section.get(key)!r} is not a boolean") from None

    def text(self, section: Mapping[str, Any], key: str, where: str) -> str | None:
        value = section.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", f"{value!r} must be a string")
        return value.strip() or None


def _sampling_rate(reader: _Reader, tracing: Mapping[str, Any]) -> float:
    raw = tracing.get("samplingRate")
    if raw is None or raw == "":
        return 0.0
    try:
        rate = float(str(raw).strip())
    except ValueError:
        raise reader.fail("tracing.samplingRate", f"{raw!r} is not a number between 0 and 1 "
                          "(write it as a string, e.g. \"1\" or \"0.1\")") from None
    if not 0.0 <= rate <= 1.0:
        raise reader.fail("tracing.samplingRate", f"{raw!r} is outside 0..1")
    return rate


def _headers(reader: _Reader, value: Any) -> dict[str, str]:
    """``headers``: ``"k=v,k2=v2"`` as Dapr takes it, or a mapping, or a list of ``{name, value}``."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        found = {}
        for item in value:
            if not isinstance(item, Mapping) or "name" not in item:
                raise reader.fail("tracing.otel.headers", "list items need a name and a value")
            found[str(item["name"])] = str(item.get("value", ""))
        return found
    found = {}
    for pair in str(value).split(","):
        name, sep, val = pair.partition("=")
        if not sep or not name.strip():
            raise reader.fail("tracing.otel.headers", f"{pair!r} is not name=value")
        found[name.strip()] = val.strip()
    return found


def _otel(reader: _Reader, section: Mapping[str, Any]) -> OtelSettings | None:
    where = "tracing.otel"
    endpoint = reader.text(section, "endpointAddress", where)
    if endpoint is None:
        if section:
            raise reader.fail(f"{where}.endpointAddress", "is missing (e.g. localhost:4318)")
        return None
    protocol = (reader.text(section, "protocol", where) or "http").lower()
    if protocol not in ("http", "grpc"):
        raise reader.fail(f"{where}.protocol", f"{protocol!r} is not http or grpc")
    timeout = section.get("timeout")
    try:
        seconds = 10.0 if timeout in (None, "") else float(timeout) / 1000  # Dapr: milliseconds
    except (TypeError, ValueError):
        raise reader.fail(f"{where}.timeout", f"{timeout!r} is not a number of milliseconds") from None
    return OtelSettings(endpoint, protocol, reader.boolean(section, "isSecure", where, True),
                        _headers(reader, section.get("headers")), seconds)


def _tracing(reader: _Reader, spec: Mapping[str, Any]) -> TracingSettings:
    section = reader.section(spec.get("tracing"), "tracing")
    zipkin = reader.section(section.get("zipkin"), "tracing.zipkin")
    return TracingSettings(
        sampling_rate=_sampling_rate(reader, section),
        stdout=reader.boolean(section, "stdout", "tracing", False),
        zipkin=reader.text(zipkin, "endpointAddress", "tracing.zipkin"),
        otel=_otel(reader, reader.section(section.get("otel"), "tracing.otel")),
    )


def _metrics(reader: _Reader, spec: Mapping[str, Any]) -> MetricsSettings:
    key = "metrics" if "metrics" in spec else "metric"
    section = reader.section(spec.get(key), key)
    buckets = section.get("latencyDistributionBuckets")
    if buckets in (None, []):
        return MetricsSettings(reader.boolean(section, "enabled", key, True))
    if not isinstance(buckets, list) or not all(isinstance(b, (int, float)) and b > 0 for b in buckets):
        raise reader.fail(f"{key}.latencyDistributionBuckets", "must be a list of positive numbers (milliseconds)")
    return MetricsSettings(reader.boolean(section, "enabled", key, True), tuple(sorted(set(map(float, buckets)))))


def _api_logging(reader: _Reader, spec: Mapping[str, Any]) -> ApiLoggingSettings:
    logging = reader.section(spec.get("logging"), "logging")
    section = reader.section(logging.get("apiLogging"), "logging.apiLogging")
    where = "logging.apiLogging"
    return ApiLoggingSettings(reader.boolean(section, "enabled", where, False),
                              reader.boolean(section, "obfuscateURLs", where, False),
                              reader.boolean(section, "omitHealthChecks", where, False))


def read_settings(configuration: Configuration) -> Settings:
    """The three sections of ``configuration``; defaults when a section is absent."""
    reader = _Reader(configuration)
    spec = configuration.spec
    return Settings(_tracing(reader, spec), _metrics(reader, spec), _api_logging(reader, spec))
