"""Plugin discovery and the registry of component factories.

Environment switches (read when :func:`plugin_manager` is called, never at import):

* ``TANDEM_DISABLE_PLUGIN_AUTOLOAD`` — do not load ``tandem.plugins`` entry points.
* ``TANDEM_PLUGINS`` — comma-separated module names to register explicitly.
* ``TANDEM_DEBUG_PLUGINS`` — trace every hook call to stderr.
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

import pluggy

from . import hookspecs
from .components.base import Component
from .components.fields import MetadataField
from .families import unknown_type_hint

__all__ = [
    "ENTRY_POINT_GROUP", "ComponentFactory", "ComponentRegistry", "PluginError", "UnknownComponentType",
    "plugin_manager", "component_registry",
]

ENTRY_POINT_GROUP = "tandem.plugins"

_EQUIVALENT_VERSIONS = ("", "v0", "v1")


@dataclass(frozen=True)
class ComponentFactory:
    """How to make one component type: ``create()`` returns a fresh, un-initialised driver."""

    type: str
    create: Callable[[], Component]
    version: str = "v1"
    description: str = ""
    #: The metadata fields the driver reads, for checking component files; None: not declared (not checked).
    fields: tuple[MetadataField, ...] | None = None

    @property
    def kind(self) -> str:
        return self.type.split(".", 1)[0]


class PluginError(Exception):
    """A plugin could not be loaded or failed in a hook; the message names it."""


class UnknownComponentType(LookupError):
    """No installed plugin provides a type; the message says which distribution would."""


@dataclass
class ComponentRegistry:
    """Factories by ``(type, version)``, built once from the plugin hooks."""

    factories: dict[tuple[str, str], ComponentFactory] = field(default_factory=dict)
    #: Plugin name -> ``"<distribution> <version>"`` providing it (``""`` when unknown).
    plugins: dict[str, str] = field(default_factory=dict)
    #: ``(type, version)`` -> name of the plugin that registered the factory.
    providers: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, factory: ComponentFactory, plugin: str = "") -> None:
        key = (factory.type, _version_key(factory.version))
        if key in self.factories:
            raise ValueError(f"two plugins provide {factory.type}/{factory.version}")
        self.factories[key] = factory
        self.providers[key] = plugin

    def provider(self, factory: ComponentFactory) -> str:
        """The name of the plugin that registered ``factory`` (``""`` if added without one)."""
        return self.providers.get((factory.type, _version_key(factory.version)), "")

    def lookup(self, ctype: str, version: str = "v1") -> ComponentFactory:
        found = self.factories.get((ctype, _version_key(version)))
        if found is not None:
            return found
        versions = sorted(v for t, v in self.factories if t == ctype)
        if versions:
            raise UnknownComponentType(
                f"{ctype} has no version {version!r} (available: {', '.join(versions)})"
            )
        raise UnknownComponentType(f"unknown component type {ctype!r}: {unknown_type_hint(ctype, self.types())}")

    def types(self) -> list[str]:
        return sorted({t for t, _ in self.factories})


def _version_key(version: str) -> str:
    return "v1" if version in _EQUIVALENT_VERSIONS else version


def plugin_manager(
    extra: Iterable[object] = (), env: Mapping[str, str] | None = None
) -> pluggy.PluginManager:
    """A plugin manager with the built-in drivers, entry points and ``extra`` plugins."""
    env = os.environ if env is None else env
    from .drivers import builtin

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, "tandem.builtin")
    if not env.get("TANDEM_DISABLE_PLUGIN_AUTOLOAD"):
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(
                f"a plugin of the {ENTRY_POINT_GROUP!r} entry-point group failed to load: {exc!r}"
            ) from exc
    for name in filter(None, (n.strip() for n in env.get("TANDEM_PLUGINS", "").split(","))):
        if pm.get_plugin(name) is None:
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise PluginError(f"TANDEM_PLUGINS names {name!r}, which cannot be imported: {exc}") from exc
            pm.register(module, name)
    for plugin in extra:
        pm.register(plugin)
    if env.get("TANDEM_DEBUG_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def component_registry(pm: pluggy.PluginManager) -> ComponentRegistry:
    """Ask every plugin for its factories and index them."""
    registry = ComponentRegistry()
    dists = {id(plugin): f"{dist.project_name} {dist.version}" for plugin, dist in pm.list_plugin_distinfo()}
    for name, plugin in pm.list_name_plugin():
        registry.plugins[name] = dists.get(id(plugin), "tandem (built-in)" if name == "tandem.builtin" else "")
    for impl in pm.hook.tandem_component_factories.get_hookimpls():
        try:
            factories = cast("Iterable[ComponentFactory]", impl.function() or ())
            for factory in factories:
                registry.add(factory, impl.plugin_name)
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} failed to register its components: {exc!r}") from exc
    return registry
