"""The runtime: loads resources, builds and initialises components, owns the blocks.

Start-up order (spec §6.7, minus Dapr's deadlock): load and validate every
resource file, create drivers, initialise them, serve the API (outbound ready),
then wait for the app's port in the background and discover its configuration.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import aiohttp

from .actors.runtime import ActorRuntime
from .actors.service import Actors
from .actors.state import ActorState
from .blocks.bindings import BindingsBlock
from .blocks.delivery import PubSubComponent, SubscriptionManager
from .blocks.invoke import Invoker
from .blocks.lock import LockBlock
from .blocks.publish import PublishBlock
from .blocks.secrets import SecretsBlock
from .blocks.state import StateBlock
from .blocks.subscriptions import SubscriptionError, SubscriptionSpec, from_app, from_documents
from .channel import AppChannel
from .components.base import Component, ComponentMetadata, MetadataError
from .components.bindings import InputBinding, OutputBinding
from .components.loader import load_configuration, load_resources
from .components.lock import LockStore
from .components.model import ComponentError, ComponentSpec, Configuration
from .components.nameresolution import Address, NameResolver, SelfRegistration
from .components.placement import PlacementStore
from .components.pubsub import PubSub
from .components.secret_refs import init_order, resolve_secret_refs, with_secret_values
from .components.secretstores import SecretStore
from .components.state import StateFeature, StateStore
from .config import RuntimeConfig
from .observability import Observability
from .plugins import (
    ComponentRegistry,
    PluginError,
    UnknownComponentType,
    component_registry,
    plugin_manager,
)
from .proxy import internal_headers, new_session

__all__ = ["Runtime", "StartupError", "LoadedComponent"]

log = logging.getLogger("tandem.sidecar")


class StartupError(Exception):
    """The sidecar cannot start; the message names the file, component and problem."""


@dataclass
class LoadedComponent:
    spec: ComponentSpec
    metadata: ComponentMetadata
    driver: Component
    capabilities: frozenset[str] = field(default_factory=frozenset)


def _runtime_version() -> str:
    try:
        return version("tandem")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"


class Runtime:
    """One sidecar's components and building blocks."""

    def __init__(self, config: RuntimeConfig, registry: ComponentRegistry | None = None) -> None:
        self.config = config
        self._registry = registry
        self.version = _runtime_version()
        self.configuration = Configuration(name="default", source="")
        self.components: list[LoadedComponent] = []
        self.state = StateBlock(config.app_id)
        self.observability = Observability(config.app_id, config.namespace, self.version)
        self.publish = PublishBlock(config.app_id, config.namespace, self.observability)
        self.locks = LockBlock()
        self.bindings = BindingsBlock(config.app_id, self.observability)
        self.secrets = SecretsBlock(config.app_id)
        self.pubsubs: dict[str, PubSubComponent] = {}
        self.subscriptions: SubscriptionManager | None = None
        self._declarative: list[SubscriptionSpec] = []
        self.extended: dict[str, str] = {}
        self.outbound_ready = False
        self.app_ready = False
        self.app_entities: tuple[str, ...] = ()
        self.channel: AppChannel | None = None
        self.resolver: NameResolver | None = None
        self._resolver_metadata: ComponentMetadata | None = None
        self._invoker: Invoker | None = None
        self._session: aiohttp.ClientSession | None = None
        self.actors: Actors | None = None
        self._actor_store: LoadedComponent | None = None
        self._placement: PlacementStore | None = None
        self._shutdown: Callable[[], None] = lambda: None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def registry(self) -> ComponentRegistry:
        if self._registry is None:
            try:
                self._registry = component_registry(plugin_manager())
            except PluginError as exc:
                raise StartupError(str(exc)) from None
        return self._registry

    @property
    def invoker(self) -> Invoker:
        if self._invoker is None:
            raise RuntimeError("the runtime has not started")
        return self._invoker

    @property
    def plugins(self) -> dict[str, str]:
        return self.registry.plugins

    def load(self) -> None:
        """Read configuration and resource files and create (not yet initialise) drivers."""
        try:
            if self.config.config_path is not None:
                self.configuration = load_configuration(self.config.config_path)
            self.observability.configure(self.configuration, enable_metrics=self.config.enable_metrics,
                                         enable_api_logging=self.config.enable_api_logging)
            resources = load_resources(self.config.resources_paths, self.config.app_id, self.config.namespace)
            self._declarative = from_documents(resources.documents.get("Subscription", []))
            self.secrets = SecretsBlock(self.config.app_id, self.configuration.spec,
                                        source=self.configuration.source)
        except (ComponentError, SubscriptionError) as exc:
            raise StartupError(str(exc)) from None
        actor_store: str | None = None
        for spec in resources.components:
            try:
                factory = self.registry.lookup(spec.type, spec.version)
            except UnknownComponentType as exc:
                raise StartupError(f"{spec.source}: component {spec.name!r}: {exc}") from None
            metadata = ComponentMetadata(
                name=spec.name, type=spec.type, version=spec.version, properties=spec.metadata,
                app_id=self.config.app_id, namespace=self.config.namespace,
            )
            if metadata.get_bool("actorStateStore"):
                if actor_store is not None:
                    raise StartupError(
                        f"{spec.source}: component {spec.name!r}: actorStateStore is already set on "
                        f"{actor_store!r}; only one state store may hold actor state"
                    )
                actor_store = spec.name
            loaded = LoadedComponent(spec, metadata, factory.create())
            self.components.append(loaded)
            if actor_store == spec.name:
                self._actor_store = loaded
        self._resolver_metadata = self._name_resolution()

    def _name_resolution(self) -> ComponentMetadata:
        """The resolver the Configuration's ``nameResolution`` selects (default: ``local``)."""
        section = self.configuration.spec.get("nameResolution") or {}
        source = self.configuration.source or "--config"
        if not isinstance(section, dict):
            raise StartupError(f"{source}: spec.nameResolution must be a mapping")
        component = str(section.get("component") or "local")
        version = str(section.get("version") or "v1")
        settings = section.get("configuration") or {}
        if not isinstance(settings, dict):
            raise StartupError(f"{source}: spec.nameResolution.configuration must be a mapping")
        ctype = f"nameresolution.{component}"
        try:
            factory = self.registry.lookup(ctype, version)
        except UnknownComponentType as exc:
            raise StartupError(f"{source}: spec.nameResolution: {exc}") from None
        driver = factory.create()
        if not isinstance(driver, NameResolver):
            raise StartupError(f"{source}: spec.nameResolution: {ctype} is not a name resolver")
        self.resolver = driver
        props = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()}
        return ComponentMetadata(name=component, type=ctype, version=version, properties=props,
                                 app_id=self.config.app_id, namespace=self.config.namespace)

    async def start(self) -> None:
        """Initialise every driver (secret stores first); a failure stops start-up unless ``ignoreErrors``."""
        for loaded in init_order(list(self.components)):
            spec = loaded.spec
            if spec.secret_refs:
                try:
                    resolved = await resolve_secret_refs(spec, self.secrets.stores)
                except ComponentError as exc:
                    raise StartupError(str(exc)) from None
                loaded.metadata = with_secret_values(loaded.metadata, resolved)
            try:
                await asyncio.wait_for(loaded.driver.init(loaded.metadata), spec.init_timeout or 30.0)
            except (MetadataError, ValueError) as exc:
                problem = f"{spec.source}: component {spec.name!r} ({spec.type}): {exc}"
                if spec.ignore_errors:
                    log.warning("ignoring component that failed to start: %s", problem)
                    self.observability.metrics.component_init_fail.inc(spec.name, "metadata")
                    self.components.remove(loaded)
                    continue
                raise StartupError(problem) from None
            except Exception as exc:  # a driver's own failure (server down, timeout …)
                problem = f"{spec.source}: component {spec.name!r} ({spec.type}) failed to initialise: {exc!r}"
                if spec.ignore_errors:
                    log.warning("ignoring component that failed to start: %s", problem)
                    self.observability.metrics.component_init_fail.inc(spec.name, "init")
                    self.components.remove(loaded)
                    continue
                raise StartupError(problem) from None
            if isinstance(loaded.driver, SecretStore):
                self.secrets.add(spec.name, loaded.driver)
            if isinstance(loaded.driver, (InputBinding, OutputBinding)):
                self.bindings.add(loaded.metadata, loaded.driver)
            loaded.capabilities = self._capabilities(loaded)
            if isinstance(loaded.driver, LockStore):
                self.locks.add(spec.name, loaded.driver)
            if isinstance(loaded.driver, PubSub):
                self.publish.add(loaded.metadata, loaded.driver)
                self.pubsubs[spec.name] = PubSubComponent(loaded.metadata, loaded.driver)
            if isinstance(loaded.driver, StateStore):
                try:
                    self.state.add(loaded.metadata, loaded.driver)
                except MetadataError as exc:
                    raise StartupError(f"{spec.source}: component {spec.name!r}: {exc}") from None
            log.info("component loaded: %s (%s/%s)", spec.name, spec.type, spec.version)
            self.observability.metrics.component_init.inc(spec.name)
            self.observability.metrics.component_loaded.inc()
        assert self.resolver is not None and self._resolver_metadata is not None
        try:
            await self.resolver.init(self._resolver_metadata)
        except (MetadataError, ValueError) as exc:
            raise StartupError(f"name resolution ({self._resolver_metadata.type}): {exc}") from None
        if self.config.app_port:
            self.channel = AppChannel(self.config.app_channel_address, self.config.app_port,
                                      self.config.app_api_token)
        # The session of the internal hop only: every request on it carries the internal secret.
        self._session = new_session(headers=internal_headers(self.config.internal_secret))
        self._invoker = Invoker(self.config.app_id, self.config.namespace, self.resolver, self.channel,
                                self._session, startup_wait=self.config.app_startup_wait)
        await self._start_actors()
        self.outbound_ready = True
        if self.channel is not None:
            self._spawn(self._connect_app())

    def _declared_placement(self) -> PlacementStore | None:
        """A ``placement.*`` component in the resources overrides the automatic choice."""
        found = [c for c in self.components if isinstance(c.driver, PlacementStore)]
        if len(found) > 1:
            raise StartupError(f"{found[1].spec.source}: component {found[1].spec.name!r}: only one placement "
                               f"component may be declared (already {found[0].spec.name!r})")
        return found[0].driver if found else None  # type: ignore[return-value]

    def _placement_metadata(self) -> ComponentMetadata:
        """``placement.X`` beside the actor store ``state.X``; else an SQLite file under TANDEM_HOME."""
        loaded = self._actor_store
        if loaded is not None and loaded in self.components:
            family = loaded.spec.type.split(".", 1)[1]
            try:
                self.registry.lookup(f"placement.{family}", "v1")
            except UnknownComponentType:
                pass
            else:
                return ComponentMetadata(name=loaded.spec.name, type=f"placement.{family}",
                                         properties=loaded.metadata.properties, app_id=self.config.app_id,
                                         namespace=self.config.namespace, secret_fields=loaded.metadata.secret_fields)
            log.info("no placement.%s driver: actor placement uses an SQLite file under %s", family,
                     self.config.home)
        self.config.home.mkdir(parents=True, exist_ok=True)
        return ComponentMetadata(name="placement", type="placement.sqlite",
                                 properties={"connectionString": str(self.config.home / "actors.db")},
                                 app_id=self.config.app_id, namespace=self.config.namespace)

    async def _start_actors(self) -> None:
        """The actor runtime: placement store opened now, hosting starts once the app's config is read."""
        driver = self._declared_placement()
        if driver is None:
            metadata = self._placement_metadata()
            created = self.registry.lookup(metadata.type, "v1").create()
            assert isinstance(created, PlacementStore)
            try:
                await created.init(metadata)
            except Exception as exc:
                raise StartupError(f"actor placement ({metadata.type} for {metadata.name!r}) failed to start: "
                                   f"{exc}") from None
            self._placement = driver = created
        state = None
        loaded = self._actor_store
        if loaded is not None and loaded in self.components and isinstance(loaded.driver, StateStore):
            features = set(loaded.driver.features())
            if {StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value} <= features:
                state = ActorState(self.config.app_id, loaded.spec.name, loaded.driver,
                                   ttl_allowed=self._feature("ActorStateTTL"))
            else:
                log.warning("state store %r cannot hold actor state: it needs ETags and transactions",
                            loaded.spec.name)
        assert self._session is not None
        self.actors = Actors(ActorRuntime(self.config.app_id, self.config.namespace or "", self.channel, driver,
                                          self._session, observability=self.observability), state)

    def _feature(self, name: str) -> bool:
        return bool(self.configuration.features.get(name, False))

    async def announce(self, address: Address, http_port: int) -> None:
        """Register with name resolution once the internal port serves."""
        if self.actors is not None:
            self.actors.runtime.start(f"{address.host}:{address.port}")
        assert self.resolver is not None
        await self.resolver.register(SelfRegistration(
            self.config.app_id, self.config.namespace, address, http_port, os.getpid()))

    def _capabilities(self, loaded: LoadedComponent) -> frozenset[str]:
        if isinstance(loaded.driver, (InputBinding, OutputBinding)):
            return self.bindings.capabilities(loaded.spec.name)  # only the sides `direction` keeps
        caps = set(loaded.driver.features())
        if {StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value} <= caps:
            caps.add(StateFeature.ACTOR.value)
        return frozenset(caps)

    async def _connect_app(self) -> None:
        assert self.channel is not None
        await self.channel.wait_until_reachable()
        self.app_ready = True
        log.info("app is reachable on port %s", self.config.app_port)
        await self._read_app_config()
        await self._subscribe()
        await self.bindings.start_inputs(self.channel)

    async def _read_app_config(self) -> None:
        assert self.channel is not None
        try:
            reply = await self.channel.call("GET", "/dapr/config", timeout=10,
                                            headers={"content-type": "application/json",
                                                     "dapr-app-id": self.config.app_id})
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not read the app's /dapr/config: %s", exc)
            return
        if reply.status == 200:
            try:
                doc = json.loads(reply.body)
                entities = doc.get("entities") or []
                self.app_entities = tuple(str(e) for e in entities)
            except (ValueError, AttributeError):
                log.warning("the app's /dapr/config is not a JSON object; no actor types")
                return
            if self.app_entities and self.actors is not None:
                await self.actors.host(doc)

    async def _subscribe(self) -> None:
        """Ask the app for its subscriptions, add the declarative ones, start delivering."""
        assert self.channel is not None
        specs: list[SubscriptionSpec] = []
        if self.pubsubs:
            try:
                reply = await self.channel.call("GET", "/dapr/subscribe", timeout=10,
                                                headers={"content-type": "application/json"})
                if reply.status == 200:
                    specs = from_app(reply.body)
                elif reply.status != 404:
                    log.warning("the app's /dapr/subscribe answered %s; no programmatic subscriptions",
                                reply.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("could not read the app's /dapr/subscribe: %s", exc)
            except SubscriptionError as exc:
                log.error("%s", exc)
        specs += self._declarative
        if specs:
            self.subscriptions = SubscriptionManager(self.config.app_id, self.channel, self.pubsubs,
                                                     self.observability)
            await self.subscriptions.start(specs)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def on_shutdown_request(self, callback: Callable[[], None]) -> None:
        self._shutdown = callback

    def request_shutdown(self) -> None:
        """Ask the server to stop gracefully (``POST /v1.0/shutdown``)."""
        self._shutdown()

    async def close(self) -> None:
        if self.actors is not None:
            await self.actors.close()
        if self._placement is not None:
            await self._placement.close()
        await self.bindings.close()
        if self.subscriptions is not None:
            await self.subscriptions.close()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.resolver is not None:
            try:
                await self.resolver.unregister()
                await self.resolver.close()
            except Exception as exc:  # shutdown goes on
                log.warning("name resolution failed to unregister: %r", exc)
        if self.channel is not None:
            await self.channel.close()
        if self._session is not None:
            await self._session.close()
        for loaded in reversed(self.components):
            try:
                await loaded.driver.close()
            except Exception as exc:  # closing must go on for the others
                log.warning("component %s failed to close: %r", loaded.spec.name, exc)
        await self.observability.close()
