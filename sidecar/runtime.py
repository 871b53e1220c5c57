"""The runtime: loads resources, builds and initialises components, hands them to the blocks.

Start-up order (spec §6.7, minus Dapr's deadlock): load and validate every
resource file, create drivers, initialise them (secret stores first) and hand
each to the blocks that take its contract, open the blocks and serve the API
(outbound ready), then wait for the app's port in the background and start the
blocks on it. The runtime knows the blocks only through :class:`Block`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import aiohttp

from .actors.service import Actors
from .app_config import AppConnector
from .blocks.actors import ActorsBlock
from .blocks.base import Block, BlockError, LoadedComponent
from .blocks.bindings import BindingsBlock
from .blocks.invoke import Invoker
from .blocks.lock import LockBlock
from .blocks.pubsub import PubSubBlock
from .blocks.pubsub.subscriptions import SubscriptionError, from_documents
from .blocks.secrets import SecretsBlock
from .blocks.state import StateBlock
from .channel import AppChannel
from .checks import warn_not_applied
from .components.base import ComponentMetadata, MetadataError
from .components.loader import load_configuration, load_resources
from .components.model import ComponentError, Configuration
from .components.nameresolution import Address, NameResolver, SelfRegistration
from .components.secret_refs import init_order, resolve_secret_refs, with_secret_values
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

__all__ = ["Blocks", "LoadedComponent", "Runtime", "StartupError"]

log = logging.getLogger("tandem.sidecar")


class StartupError(Exception):
    """The sidecar cannot start; the message names the file, component and problem."""


@dataclass(frozen=True)
class Blocks:
    """The building blocks of one sidecar, in the order they start (actors host before subscriptions)."""

    state: StateBlock
    secrets: SecretsBlock
    locks: LockBlock
    actors: ActorsBlock
    pubsub: PubSubBlock
    bindings: BindingsBlock

    def __iter__(self) -> Iterator[Block]:
        return (getattr(self, f.name) for f in fields(self))


def _runtime_version() -> str:
    try:
        return version("tandem")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"


class Runtime:
    """One sidecar's components and building blocks."""

    #: Built by :meth:`load`, once the Configuration (secret scopes, features) is read.
    blocks: Blocks

    def __init__(self, config: RuntimeConfig, registry: ComponentRegistry | None = None, *,
                 channel: AppChannel | None = None) -> None:
        """``channel``: the app channel to use instead of one to ``--app-port`` (the in-process test sidecar)."""
        self.config = config
        self._registry = registry
        self.version = _runtime_version()
        self.configuration = Configuration(name="default", source="")
        self.observability = Observability(config.app_id, config.namespace, self.version)
        self.components: list[LoadedComponent] = []
        self.extended: dict[str, str] = {}
        self.outbound_ready = False
        self.app_ready = False
        #: Connecting to the app and starting the blocks on it; done once every block started.
        self.app_connection: asyncio.Task[None] | None = None
        if channel is None and config.app_port:
            channel = AppChannel(config.app_channel_address, config.app_port, config.app_api_token)
        self.app = AppConnector(config.app_id, channel)
        self.resolver: NameResolver | None = None
        self._resolver_metadata: ComponentMetadata | None = None
        self._invoker: Invoker | None = None
        self._session: aiohttp.ClientSession | None = None
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
    def channel(self) -> AppChannel | None:
        return self.app.channel

    @property
    def actors(self) -> Actors | None:
        return self.blocks.actors.service

    @property
    def plugins(self) -> dict[str, str]:
        return self.registry.plugins

    def load(self) -> None:
        """Read configuration and resource files, build the blocks, create (not yet initialise) drivers."""
        try:
            if self.config.config_path is not None:
                self.configuration = load_configuration(self.config.config_path)
            self.observability.configure(self.configuration, enable_metrics=self.config.enable_metrics,
                                         enable_api_logging=self.config.enable_api_logging)
            resources = load_resources(self.config.resources_paths, self.config.app_id, self.config.namespace)
            declarative = from_documents(resources.documents.get("Subscription", []))
            secrets = SecretsBlock(self.config.app_id, self.configuration.spec, source=self.configuration.source)
        except (ComponentError, SubscriptionError) as exc:
            raise StartupError(str(exc)) from None
        warn_not_applied(resources, self.configuration, self.registry)
        config, observability = self.config, self.observability
        self.blocks = Blocks(
            state=StateBlock(config.app_id), secrets=secrets, locks=LockBlock(),
            actors=ActorsBlock(config, self.registry, self.configuration.features, observability),
            pubsub=PubSubBlock(config.app_id, config.namespace, observability, declarative),
            bindings=BindingsBlock(config.app_id, observability),
        )
        for spec in resources.components:
            try:
                factory = self.registry.lookup(spec.type, spec.version)
            except UnknownComponentType as exc:
                raise StartupError(f"{spec.source}: component {spec.name!r}: {exc}") from None
            metadata = ComponentMetadata(
                name=spec.name, type=spec.type, version=spec.version, properties=spec.metadata,
                app_id=config.app_id, namespace=config.namespace,
            )
            self.components.append(LoadedComponent(metadata, factory.create(), spec))
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
        """Initialise every component and hand it to its blocks, open the blocks, then reach for the app."""
        for component in init_order(list(self.components)):
            if await self._init(component):
                self._hand_to_blocks(component)
        resolver = await self._init_resolver()
        # The session of the internal hop only: every request on it carries the internal secret.
        self._session = new_session(headers=internal_headers(self.config.internal_secret))
        self._invoker = Invoker(self.config.app_id, self.config.namespace, resolver, self.app.channel, self._session,
                                startup_wait=self.config.app_startup_wait)
        for block in self.blocks:
            try:
                await block.open(self.app)
            except BlockError as exc:
                raise StartupError(str(exc)) from None
        self.outbound_ready = True
        if self.app.channel is not None:
            self.app_connection = self._spawn(self._connect_app())

    async def _connect_app(self) -> None:
        await self.app.wait_until_reachable()
        self.app_ready = True
        log.info("app is reachable on port %s", self.config.app_port)
        for block in self.blocks:
            await block.start(self.app)

    def _hand_to_blocks(self, component: LoadedComponent) -> None:
        """Every block taking the component's contract gets it; the metadata API lists what they use of it."""
        takers = [block for block in self.blocks if block.takes(component)]
        for block in takers:
            try:
                block.add(component)
            except (BlockError, MetadataError) as exc:
                raise StartupError(f"{_source(component)}: component {component.name!r}: {exc}") from None
        caps = [block.capabilities(component) for block in takers] or [component.driver.features()]
        component.capabilities = frozenset().union(*caps)
        log.info("component loaded: %s (%s/%s)", component.name, component.metadata.type, component.metadata.version)
        self.observability.metrics.component_init.inc(component.name)
        self.observability.metrics.component_loaded.inc()

    async def _init(self, component: LoadedComponent) -> bool:
        """Resolve the component's secrets and initialise it; False when it failed and ``ignoreErrors`` is set."""
        spec = component.spec
        assert spec is not None
        if spec.secret_refs:
            try:  # secret stores are initialised first, so the ones to read from are in their block
                resolved = await resolve_secret_refs(spec, self.blocks.secrets.stores)
            except ComponentError as exc:
                raise StartupError(str(exc)) from None
            component.metadata = with_secret_values(component.metadata, resolved)
        try:
            await asyncio.wait_for(component.driver.init(component.metadata), spec.init_timeout or 30.0)
        except (MetadataError, ValueError) as exc:
            problem, reason = f"{spec.source}: component {spec.name!r} ({spec.type}): {exc}", "metadata"
        except Exception as exc:  # a driver's own failure (server down, timeout …)
            problem = f"{spec.source}: component {spec.name!r} ({spec.type}) failed to initialise: {exc!r}"
            reason = "init"
        else:
            return True
        if not spec.ignore_errors:
            raise StartupError(problem) from None
        log.warning("ignoring component that failed to start: %s", problem)
        self.observability.metrics.component_init_fail.inc(spec.name, reason)
        self.components.remove(component)
        return False

    async def _init_resolver(self) -> NameResolver:
        assert self.resolver is not None and self._resolver_metadata is not None
        try:
            await self.resolver.init(self._resolver_metadata)
        except (MetadataError, ValueError) as exc:
            raise StartupError(f"name resolution ({self._resolver_metadata.type}): {exc}") from None
        return self.resolver

    async def announce(self, address: Address, http_port: int) -> None:
        """Register with name resolution once the internal port serves."""
        self.blocks.actors.serve_at(f"{address.host}:{address.port}")
        assert self.resolver is not None
        await self.resolver.register(SelfRegistration(
            self.config.app_id, self.config.namespace, address, http_port, os.getpid()))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def on_shutdown_request(self, callback: Callable[[], None]) -> None:
        self._shutdown = callback

    def request_shutdown(self) -> None:
        """Ask the server to stop gracefully (``POST /v1.0/shutdown``)."""
        self._shutdown()

    async def close(self) -> None:
        for block in getattr(self, "blocks", ()):
            try:
                await block.close()
            except Exception as exc:  # closing must go on for the others
                log.warning("%s failed to close: %r", type(block).__name__, exc)
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
        if self.app.channel is not None:
            await self.app.channel.close()
        if self._session is not None:
            await self._session.close()
        for component in reversed(self.components):
            try:
                await component.driver.close()
            except Exception as exc:  # closing must go on for the others
                log.warning("component %s failed to close: %r", component.name, exc)
        await self.observability.close()


def _source(component: LoadedComponent) -> str:
    return component.spec.source if component.spec is not None else "(built in code)"
