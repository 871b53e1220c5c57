"""The actor block: the actor state store, the placement it picks beside it, the actor runtime.

Placement: a declared ``placement.*`` component wins; else ``placement.X`` beside
the actor state store ``state.X`` when a plugin offers it (same server, same
connection settings); else an SQLite file under ``TANDEM_HOME``, so the sidecars of
one machine agree on where each actor lives.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from ..actors.runtime import ActorRuntime
from ..actors.service import Actors
from ..actors.state import ActorState
from ..components.base import ComponentMetadata
from ..components.placement import PlacementStore
from ..components.state import StateFeature, StateStore
from ..config import RuntimeConfig
from ..observability import Observability
from ..plugins import ComponentRegistry, UnknownComponentType
from ..proxy import internal_headers, new_session
from .base import Block, BlockError, LoadedComponent

if TYPE_CHECKING:
    from ..app_config import AppConnector

__all__ = ["ActorsBlock"]

log = logging.getLogger("tandem.sidecar")

_FALLBACK_PLACEMENT = "placement.sqlite"


class ActorsBlock(Block):
    """Takes the state store marked ``actorStateStore`` and any declared placement component."""

    contracts = (StateStore, PlacementStore)

    def __init__(self, config: RuntimeConfig, registry: ComponentRegistry, features: Mapping[str, Any],
                 observability: Observability) -> None:
        self._config = config
        self._registry = registry
        self._features = features
        self._observability = observability
        self._store: LoadedComponent | None = None
        self._declared: LoadedComponent | None = None
        self._owned: PlacementStore | None = None
        self._session: aiohttp.ClientSession | None = None
        #: What the API calls; set by :meth:`open`.
        self.service: Actors | None = None

    def takes(self, component: LoadedComponent) -> bool:
        if isinstance(component.driver, PlacementStore):
            return True
        return isinstance(component.driver, StateStore) and component.metadata.get_bool("actorStateStore")

    def add(self, component: LoadedComponent) -> None:
        if isinstance(component.driver, PlacementStore):
            if self._declared is not None:
                raise BlockError(f"only one placement component may be declared (already {self._declared.name!r})")
            self._declared = component
            return
        if self._store is not None:
            raise BlockError(f"actorStateStore is already set on {self._store.name!r}; only one state store "
                             f"may hold actor state")
        self._store = component

    async def open(self, app: AppConnector) -> None:
        """Open placement now; hosting starts in :meth:`start`, once the app's ``/dapr/config`` is read."""
        placement = await self._placement()
        self._session = new_session(headers=internal_headers(self._config.internal_secret))  # the internal hop
        runtime = ActorRuntime(self._config.app_id, self._config.namespace or "", app.channel, placement,
                               self._session, observability=self._observability)
        self.service = Actors(runtime, self._state())

    async def start(self, app: AppConnector) -> None:
        doc = await app.config()
        if doc.get("entities") and self.service is not None:
            await self.service.host(doc)

    def serve_at(self, address: str) -> None:
        """The internal port serves at ``address``: other sidecars can now reach the actors hosted here."""
        if self.service is not None:
            self.service.runtime.start(address)

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()
        if self._owned is not None:
            await self._owned.close()
        if self._session is not None:
            await self._session.close()

    def describe(self) -> dict[str, Any]:
        if self.service is None:
            return {}
        active = self.service.metadata()
        runtime = self.service.runtime
        return {
            "actors": active,
            "actorRuntime": {
                "runtimeStatus": "RUNNING",
                "activeActors": active,
                "hostReady": bool(runtime.hosted) and runtime.placement.hosting,
                "placement": "placement: connected" if runtime.placement.connected else "placement: disconnected",
            },
        }

    # -- internals ---------------------------------------------------------------------

    def _state(self) -> ActorState | None:
        store = self._store
        if store is None:
            return None
        assert isinstance(store.driver, StateStore)
        if not {StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value} <= set(store.driver.features()):
            log.warning("state store %r cannot hold actor state: it needs ETags and transactions", store.name)
            return None
        return ActorState(self._config.app_id, store.name, store.driver,
                          ttl_allowed=bool(self._features.get("ActorStateTTL", False)))

    async def _placement(self) -> PlacementStore:
        if self._declared is not None:
            assert isinstance(self._declared.driver, PlacementStore)
            return self._declared.driver
        metadata = self._placement_metadata()
        created = self._registry.lookup(metadata.type, "v1").create()
        assert isinstance(created, PlacementStore)
        try:
            await created.init(metadata)
        except Exception as exc:
            raise BlockError(f"actor placement ({metadata.type} for {metadata.name!r}) failed to start: "
                             f"{exc}") from None
        self._owned = created
        return created

    def _placement_metadata(self) -> ComponentMetadata:
        """``placement.X`` beside the actor store ``state.X``; else an SQLite file under TANDEM_HOME."""
        config, store = self._config, self._store
        if store is not None:
            family = store.metadata.type.split(".", 1)[1]
            try:
                self._registry.lookup(f"placement.{family}", "v1")
            except UnknownComponentType:
                log.info("no placement.%s driver: actor placement uses an SQLite file under %s", family, config.home)
            else:
                return ComponentMetadata(name=store.name, type=f"placement.{family}",
                                         properties=store.metadata.properties, app_id=config.app_id,
                                         namespace=config.namespace, secret_fields=store.metadata.secret_fields)
        config.home.mkdir(parents=True, exist_ok=True)
        return ComponentMetadata(name="placement", type=_FALLBACK_PLACEMENT,
                                 properties={"connectionString": str(config.home / "actors.db")},
                                 app_id=config.app_id, namespace=config.namespace)
