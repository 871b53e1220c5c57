"""What Tandem loads but does not apply, and what is wrong with a set of resource files.

One place answers both the sidecar's start-up warnings (:func:`warn_not_applied`,
logged once when ``tandemd`` loads its resources) and ``tandem doctor``
(:func:`diagnose`), so the two can never disagree. Everything here reads the files
through the sidecar's own loader (``components.loader``), settings readers and
plugin registry: there is no second parser.

A :class:`Finding` is an ``error`` (the sidecar would not start), a ``warning``
(something written in a file that changes nothing, or a field no driver reads) or
``info`` (a component whose fields its driver does not declare, so they were not checked).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .blocks.pubsub.subscriptions import SubscriptionError, from_documents
from .blocks.secrets import parse_scopes
from .components.fields import check_fields
from .components.loader import Resources, load_configuration, load_resources
from .components.model import ComponentError, ComponentSpec, Configuration
from .observability.settings import read_settings
from .plugins import ComponentRegistry, UnknownComponentType

__all__ = ["Finding", "HONOURED_CONFIGURATION", "HONOURED_FEATURES", "component_findings",
           "configuration_not_applied", "diagnose", "not_applied", "review", "warn_not_applied"]

log = logging.getLogger("tandem.sidecar")

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    level: Level
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


#: The Configuration's ``spec`` keys Tandem applies; a mapping lists the honoured keys below one, None: all of it.
HONOURED_CONFIGURATION: Mapping[str, Any] = {
    "tracing": {"samplingRate": None, "stdout": None, "zipkin": {"endpointAddress": None},
                "otel": {"endpointAddress": None, "protocol": None, "isSecure": None, "headers": None,
                         "timeout": None}},
    "metric": {"enabled": None, "latencyDistributionBuckets": None},
    "metrics": {"enabled": None, "latencyDistributionBuckets": None},
    "logging": {"apiLogging": {"enabled": None, "obfuscateURLs": None, "omitHealthChecks": None}},
    "secrets": {"scopes": None},
    "nameResolution": {"component": None, "version": None, "configuration": None},
    "features": None,
}

#: The preview features (``spec.features``) Tandem acts on.
HONOURED_FEATURES = frozenset({"ActorStateTTL"})

#: Resource kinds read from the resources folders and applied; Components are checked one by one.
_APPLIED_KINDS = frozenset({"Component", "Subscription"})
_WHY_NOT: Mapping[str, str] = {
    "Resiliency": "retries, timeouts and circuit breakers are not applied yet; calls are made once, as without it",
    "HTTPEndpoint": "invoking an external HTTP endpoint by name is not supported yet",
    "Configuration": "a Configuration is read from --config (run file: configFilePath), not from a resources folder",
}


def _unhonoured(section: Any, honoured: Mapping[str, Any], path: str) -> Iterable[str]:
    if not isinstance(section, Mapping):
        return
    for key, value in section.items():
        if key not in honoured:
            yield f"{path}.{key}"
        elif isinstance(honoured[key], Mapping):
            yield from _unhonoured(value, honoured[key], f"{path}.{key}")


def configuration_not_applied(configuration: Configuration) -> list[Finding]:
    """Sections of the Configuration and features Tandem does not act on."""
    source = configuration.source or "--config"
    found = [Finding("warning", source, f"{path}: not applied (Tandem does not implement this setting)")
             for path in _unhonoured(configuration.spec, HONOURED_CONFIGURATION, "spec")]
    found += [Finding("warning", source, f"spec.features: {name!r} is not a feature Tandem knows; not applied")
              for name, enabled in configuration.features.items() if enabled and name not in HONOURED_FEATURES]
    return found


def component_findings(spec: ComponentSpec, registry: ComponentRegistry) -> list[Finding]:
    """An unknown type (error), then the metadata fields checked against the driver's declared ones."""
    where = spec.source
    try:
        factory = registry.lookup(spec.type, spec.version)
    except UnknownComponentType as exc:
        return [Finding("error", where, f"component {spec.name!r}: {exc}")]
    if factory.fields is None:
        return [Finding("info", where, f"component {spec.name!r} ({spec.type}): fields not checked "
                                       "(its driver declares no metadata fields)")]
    given = [*spec.metadata, *spec.secret_refs]
    return [Finding(p.level, where, f"component {spec.name!r} ({spec.type}): {p.message}")
            for p in check_fields(spec.kind, factory.fields, given)]


def not_applied(resources: Resources, configuration: Configuration) -> list[Finding]:
    """Resource documents and Configuration settings that are loaded but change nothing."""
    found: list[Finding] = []
    for kind, documents in sorted(resources.documents.items()):
        if kind in _APPLIED_KINDS:
            continue
        why = _WHY_NOT.get(kind, "Tandem does not apply this kind of resource")
        for source, doc in documents:
            meta = doc.get("metadata")
            name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
            found.append(Finding("warning", source, f"{kind} {name!r} is not applied: {why}"))
    return found + configuration_not_applied(configuration)


def review(resources: Resources, configuration: Configuration, registry: ComponentRegistry) -> list[Finding]:
    """Everything not applied, then each component's type and fields."""
    found = not_applied(resources, configuration)
    for spec in resources.components:
        found += component_findings(spec, registry)
    return found


def warn_not_applied(resources: Resources, configuration: Configuration, registry: ComponentRegistry) -> None:
    """The sidecar's start-up warnings: one line per thing loaded but not applied (errors stop it elsewhere)."""
    for finding in review(resources, configuration, registry):
        if finding.level == "warning":
            log.warning("%s", finding)


def diagnose(resources_paths: Sequence[str | Path], config_path: str | Path | None, app_id: str,
             registry: ComponentRegistry, namespace: str | None = None) -> list[Finding]:
    """``tandem doctor`` for one app: what would stop its sidecar, and everything :func:`review` reports."""
    found: list[Finding] = []
    configuration = Configuration(name="default", source="")
    if config_path is not None:
        try:
            configuration = load_configuration(config_path)
            read_settings(configuration)
            parse_scopes(configuration.spec, configuration.source)
        except ComponentError as exc:
            found.append(_error(exc))
        found += _name_resolution(configuration, registry)
    try:
        resources = load_resources(resources_paths, app_id, namespace)
    except ComponentError as exc:
        return [*found, _error(exc)]
    try:
        from_documents(resources.documents.get("Subscription", []))
    except SubscriptionError as exc:
        found.append(Finding("error", "", str(exc)))
    found += review(resources, configuration, registry)
    found += [Finding("info", "", f"component {name!r} is scoped to other apps than {app_id!r}: not checked")
              for name in resources.skipped]
    return found


def _error(exc: ComponentError) -> Finding:
    return Finding("error", exc.source, f"component {exc.component!r}: {exc.problem}" if exc.component
                   else exc.problem)


def _name_resolution(configuration: Configuration, registry: ComponentRegistry) -> list[Finding]:
    section = configuration.spec.get("nameResolution")
    if not isinstance(section, Mapping) or not section.get("component"):
        return []
    ctype = f"nameresolution.{section['component']}"
    try:
        registry.lookup(ctype, str(section.get("version") or "v1"))
    except UnknownComponentType as exc:
        return [Finding("error", configuration.source, f"spec.nameResolution: {exc}")]
    return []
