"""Typed views of Dapr's resource documents (Component, Configuration).

The YAML is parsed once at start-up into these frozen dataclasses; nothing
inside the runtime passes raw YAML dictionaries around.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ComponentError", "ComponentSpec", "Configuration", "SecretKeyRef", "KINDS"]

#: Component categories (the part of ``spec.type`` before the first dot).
KINDS = (
    "state", "pubsub", "bindings", "secretstores", "configuration", "lock",
    "middleware", "nameresolution", "crypto", "workflow", "conversation",
    "placement",  # Tandem: where actor membership, claims and reminders live (default: beside the actor store)
)


class ComponentError(Exception):
    """A resource that cannot be loaded; the message names the file and the problem."""

    def __init__(self, source: str | Path, problem: str, component: str | None = None) -> None:
        self.source = str(source)
        self.component = component
        self.problem = problem
        where = f"{self.source}: component {component!r}" if component else self.source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class SecretKeyRef:
    """A metadata value to be read from a secret store."""

    name: str
    key: str


@dataclass(frozen=True)
class ComponentSpec:
    """One ``kind: Component`` document, validated."""

    name: str
    type: str
    version: str
    metadata: dict[str, str]
    source: str
    scopes: tuple[str, ...] = ()
    namespace: str | None = None
    secret_refs: dict[str, SecretKeyRef] = field(default_factory=dict)
    secret_store: str | None = None
    init_timeout: float | None = None
    ignore_errors: bool = False

    def __repr__(self) -> str:
        # Should resolved secretKeyRef values ever be merged into ``metadata``, keep them out of logs.
        shown = {k: "***" if k in self.secret_refs else v for k, v in self.metadata.items()}
        return (f"ComponentSpec(name={self.name!r}, type={self.type!r}, version={self.version!r}, "
                f"metadata={shown!r}, source={self.source!r}, secret_refs={self.secret_refs!r}, "
                f"secret_store={self.secret_store!r})")

    @property
    def kind(self) -> str:
        """The category: ``state`` for ``state.sqlite``."""
        return self.type.split(".", 1)[0]


@dataclass(frozen=True)
class Configuration:
    """A ``kind: Configuration`` document: features now, the rest kept for later blocks."""

    name: str
    source: str
    spec: dict[str, Any] = field(default_factory=dict)
    features: dict[str, bool] = field(default_factory=dict)

    def feature(self, name: str, default: bool = False) -> bool:
        return self.features.get(name, default)
