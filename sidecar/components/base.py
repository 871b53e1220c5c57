"""What every component kind shares: a lifecycle, its metadata, its features."""
from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from .values import parse_bool, parse_duration, parse_size

__all__ = ["Component", "ComponentMetadata", "DriverError", "MetadataError"]


class DriverError(Exception):
    """Root of every driver failure at run time (``PubSubError``, ``StateError``, ``LockError`` …).

    Code that drives any kind of component (the subscription loop, the
    conformance kit) catches this one class; the API layer still maps each
    contract's own subclass to its Dapr error code.
    """


class MetadataError(ValueError):
    """A metadata field is missing or malformed; the message names the field."""


@dataclass(frozen=True)
class ComponentMetadata:
    """The resolved metadata a driver is initialised with.

    Field names are matched case-insensitively, as Dapr's decoder does, so a
    Dapr user's ``connectionString`` and ``ConnectionString`` both work.
    """

    name: str
    type: str
    version: str = "v1"
    properties: Mapping[str, str] = field(default_factory=dict)
    app_id: str = ""
    namespace: str | None = None
    #: Fields whose value came from a secret store (``secretKeyRef``): hidden from
    #: the repr and from error messages, so they never reach a log.
    secret_fields: frozenset[str] = field(default=frozenset(), compare=False)

    def __repr__(self) -> str:
        shown = {k: "***" if self._is_secret(k) else v for k, v in self.properties.items()}
        return (f"ComponentMetadata(name={self.name!r}, type={self.type!r}, version={self.version!r}, "
                f"properties={shown!r}, app_id={self.app_id!r}, namespace={self.namespace!r})")

    def _is_secret(self, key: str) -> bool:
        lowered = key.lower()
        return any(name.lower() == lowered for name in self.secret_fields)

    def _invalid(self, key: str, problem: str) -> MetadataError:
        """The error for a malformed field; a secret's value is never quoted in it."""
        if self._is_secret(key):
            problem = "malformed value (not shown: it comes from a secret store)"
        return MetadataError(f"metadata field {key!r}: {problem}")

    def get(self, key: str, default: str | None = None) -> str | None:
        if key in self.properties:
            return self.properties[key]
        lowered = key.lower()
        for name, value in self.properties.items():
            if name.lower() == lowered:
                return value
        return default

    def require(self, key: str) -> str:
        value = self.get(key)
        if value is None or value == "":
            raise MetadataError(f"metadata field {key!r} is required")
        return value

    def get_bool(self, key: str, default: bool = False) -> bool:
        try:
            return parse_bool(self.get(key), default)
        except ValueError as exc:
            raise self._invalid(key, str(exc)) from None

    def get_int(self, key: str, default: int) -> int:
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise self._invalid(key, f"not an integer: {value!r}") from None

    def get_duration(self, key: str, default: float, *, bare_unit: float = 1e-3) -> float:
        """Seconds; Go syntax (``5s``) or a bare number in ``bare_unit`` seconds."""
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            return parse_duration(value, bare_unit=bare_unit)
        except ValueError as exc:
            raise self._invalid(key, str(exc)) from None

    def get_size(self, key: str, default: int) -> int:
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            return parse_size(value)
        except ValueError as exc:
            raise self._invalid(key, str(exc)) from None


class Component(abc.ABC):
    """Base of every component contract.

    A driver is created by its factory with no arguments, then ``init`` is
    awaited once with its metadata before any other call, and ``close`` once
    at shutdown. ``features`` tells the API layer what the driver can do, so
    it answers "not supported" honestly instead of half-working.
    """

    #: The component category this contract belongs to (``state``, ``pubsub`` …).
    kind: ClassVar[str] = ""

    @abc.abstractmethod
    async def init(self, metadata: ComponentMetadata) -> None:
        """Connect and validate metadata; raise :class:`MetadataError` for bad fields."""

    async def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release connections; the default does nothing."""

    def features(self) -> frozenset[str]:
        """Capability names as Dapr's metadata API reports them (``ETAG``, ``TTL`` …)."""
        return frozenset()
