"""The one protocol every building block implements.

The runtime knows no block by name: it initialises each component, hands it to
every block whose contract it fulfils (:meth:`Block.add`), opens the blocks once
all components are in (:meth:`Block.open`, before the API serves), starts them
once the app is reachable (:meth:`Block.start`), and closes them at shutdown.
The metadata API is assembled from :meth:`Block.describe` and
:meth:`Block.capabilities`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..components.base import Component, ComponentMetadata
from ..components.model import ComponentSpec

if TYPE_CHECKING:
    from ..app_config import AppConnector

__all__ = ["Block", "BlockError", "LoadedComponent"]


class BlockError(Exception):
    """A block cannot take a component (a second actor state store …); the sidecar does not start."""


@dataclass
class LoadedComponent:
    """One initialised driver and the metadata it was initialised with (secrets resolved)."""

    metadata: ComponentMetadata
    driver: Component
    #: The document it came from; None for components built in code (tests, the in-process sidecar).
    spec: ComponentSpec | None = None
    #: What the metadata API lists for it, set by the runtime from the blocks that took it.
    capabilities: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.metadata.name


class Block(ABC):
    """A building block: the components of its contracts, the API's calls into them, its part of the app."""

    #: The component contracts this block takes; a driver fulfilling several goes to each block.
    contracts: ClassVar[tuple[type[Component], ...]] = ()

    def takes(self, component: LoadedComponent) -> bool:
        return isinstance(component.driver, self.contracts)

    @abstractmethod
    def add(self, component: LoadedComponent) -> None:
        """Take an initialised component; :class:`BlockError` when it cannot be used."""

    def capabilities(self, component: LoadedComponent) -> frozenset[str]:
        """What the metadata API lists for one of this block's components (its driver's features)."""
        return frozenset(component.driver.features())

    async def open(self, app: AppConnector) -> None:  # noqa: B027 - optional step
        """Every component is in and the API is about to serve; the app may not listen yet."""

    async def start(self, app: AppConnector) -> None:  # noqa: B027 - optional step
        """The app is reachable: read what the block needs from it (subscriptions …) and start."""

    async def close(self) -> None:  # noqa: B027 - optional step
        """Stop what :meth:`open` and :meth:`start` started; the runtime closes the drivers themselves."""

    def describe(self) -> dict[str, Any]:
        """This block's keys of the metadata API's document (none by default)."""
        return {}
