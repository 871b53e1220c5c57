"""Plugin discovery and the registry of component factories.

Environment switches (read when :func:`plugin_manager` is called, never at import):

* ``TANDEM_DISABLE_PLUGIN_AUTOLOAD`` — do not load ``tandem.plugins`` entry points.
* ``TANDEM_DISABLE_PLUGINS`` — comma-separated plugin names never registered (as pytest's
  ``-p no:name``): entry-point names, ``TANDEM_PLUGINS`` modules, or ``tandem.builtin``.
* ``TANDEM_PLUGINS`` — comma-separated module names to register explicitly.
* ``TANDEM_PLUGIN_TRACE`` (or its older name ``TANDEM_DEBUG_PLUGINS``) — trace every hook call
  to stderr, with pluggy's own tracer.

A plugin whose ``@hookimpl`` names no hook of :mod:`.hookspecs` (a misspelt hook) is refused
when it is loaded, with a :class:`PluginError` naming the plugin.
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
    "BUILTIN_PLUGIN", "ENTRY_POINT_GROUP", "ComponentFactory", "ComponentRegistry", "PluginError", "UnknownComponentType",
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


BUILTIN_PLUGIN = "tandem.builtin"


def _names(value: str) -> list[str]:
    return [name for name in (part.strip() for part in value.split(",")) if name]


def _validation_error(exc: pluggy.PluginValidationError, pm: pluggy.PluginManager) -> PluginError:
    """Pluggy's message, led by the plugin's registered name (its module path alone can be obscure)."""
    name = pm.get_name(exc.plugin) or getattr(exc.plugin, "__name__", repr(exc.plugin))
    return PluginError(f"plugin {name!r} is invalid: {exc}")


def plugin_manager(
    extra: Iterable[object] = (), env: Mapping[str, str] | None = None, disabled: Iterable[str] = (),
) -> pluggy.PluginManager:
    """A plugin manager with the built-in drivers, entry points and ``extra`` plugins.

    ``disabled`` (plus ``TANDEM_DISABLE_PLUGINS``) names plugins that are never registered.
    """
    env = os.environ if env is None else env
    from .drivers import builtin

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in [*_names(env.get("TANDEM_DISABLE_PLUGINS", "")), *disabled]:
        pm.set_blocked(name)
    try:
        pm.register(builtin, BUILTIN_PLUGIN)
        if not env.get("TANDEM_DISABLE_PLUGIN_AUTOLOAD"):
            try:
                pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            except pluggy.PluginValidationError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"a plugin of the {ENTRY_POINT_GROUP!r} entry-point group failed to load: {exc!r}"
                ) from exc
        for name in _names(env.get("TANDEM_PLUGINS", "")):
            if pm.get_plugin(name) is None and not pm.is_blocked(name):
                try:
                    module = importlib.import_module(name)
                except ImportError as exc:
                    raise PluginError(f"TANDEM_PLUGINS names {name!r}, which cannot be imported: {exc}") from exc
                pm.register(module, name)
        for plugin in extra:
            pm.register(plugin)
        pm.check_pending()  # a misspelt hook is an error now, not a silently ignored function
    except pluggy.PluginValidationError as exc:
        raise _validation_error(exc, pm) from exc
    if env.get("TANDEM_PLUGIN_TRACE") or env.get("TANDEM_DEBUG_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def component_registry(pm: pluggy.PluginManager) -> ComponentRegistry:
    """Ask every plugin for its factories and index them."""
    registry = ComponentRegistry()
    dists = {id(plugin): f"{dist.project_name} {dist.version}" for plugin, dist in pm.list_plugin_distinfo()}
    for name, plugin in pm.list_name_plugin():
        if plugin is not None:  # blocked names are listed with ``None``
            registry.plugins[name] = dists.get(id(plugin), "tandem (built-in)" if name == BUILTIN_PLUGIN else "")
    plugins = [plugin for _, plugin in pm.list_name_plugin() if plugin is not None]
    for impl in reversed(pm.hook.tandem_component_factories.get_hookimpls()):
        # One pluggy call per plugin (tracing and monitoring see it), so a factory is credited to
        # the plugin that returned it and a failure names that plugin.
        caller = pm.subset_hook_caller("tandem_component_factories", [p for p in plugins if p is not impl.plugin])
        try:
            for factories in caller():
                for factory in cast("Iterable[ComponentFactory]", factories or ()):
                    registry.add(factory, impl.plugin_name)
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} failed to register its components: {exc!r}") from exc
    return registry
