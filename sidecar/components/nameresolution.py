"""The name-resolution contract: what ``nameresolution.*`` drivers implement.

A resolver turns an app id into the internal addresses of the sidecars that
serve it. The runtime calls ``register`` once its internal port serves and
``unregister`` when it stops; ``resolve`` is called per invocation, behind a
short cache in the runtime, so a driver may do I/O there. A resolver for many
machines (Redis, Kubernetes DNS) implements the same three methods.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

from .base import Component

__all__ = ["Address", "NameResolver", "ResolveRequest", "SelfRegistration"]


@dataclass(frozen=True)
class Address:
    """Where another sidecar accepts internal (sidecar-to-sidecar) calls."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ResolveRequest:
    app_id: str
    namespace: str | None = None


@dataclass(frozen=True)
class SelfRegistration:
    """What this sidecar announces about itself."""

    app_id: str
    namespace: str | None
    address: Address
    http_port: int
    pid: int


class NameResolver(Component):
    """Finds the sidecars of an app id; registers this one."""

    kind = "nameresolution"

    async def register(self, registration: SelfRegistration) -> None:  # noqa: B027 - optional hook
        """Announce this sidecar; the default does nothing (for resolvers fed from elsewhere)."""

    async def unregister(self) -> None:  # noqa: B027 - optional hook
        """Withdraw the announcement; called once at shutdown."""

    @abc.abstractmethod
    async def resolve(self, request: ResolveRequest) -> list[Address]:
        """Every live address serving ``request.app_id``; an empty list when none is known."""
