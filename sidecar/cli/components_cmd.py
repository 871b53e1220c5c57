"""``tandem components``: every component type the installed plugins provide, and who provides it.

The plugins are found exactly as ``tandemd`` finds them (built-ins, ``tandem.plugins``
entry points, ``TANDEM_PLUGINS``), so the list is what a component file can use.
"""
from __future__ import annotations

import functools
import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click
import pluggy

from ..plugins import PluginError, component_registry, plugin_manager

__all__ = ["ComponentRow", "collect", "components", "render_table"]

_COLUMNS = ("TYPE", "VERSION", "KIND", "PLUGIN", "DISTRIBUTION", "DESCRIPTION")
_BUILTIN_PLUGIN = "tandem.builtin"
_CORE_DISTRIBUTION = "tandem"


@dataclass(frozen=True)
class ComponentRow:
    """One component type; ``distribution`` is ``""`` when no installed distribution holds the plugin."""

    type: str
    version: str
    kind: str
    plugin: str
    distribution: str
    distribution_version: str
    description: str

    @property
    def provided_by(self) -> str:
        return f"{self.distribution} {self.distribution_version}".strip() or "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type, "version": self.version, "kind": self.kind, "plugin": self.plugin,
            "distribution": self.distribution or None, "distributionVersion": self.distribution_version or None,
            "description": self.description,
        }

    def cells(self) -> tuple[str, ...]:
        return (self.type, self.version, self.kind, self.plugin, self.provided_by, self.description)


def _version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


@functools.cache
def _top_level_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution(
    pm: pluggy.PluginManager, name: str, from_entry_points: Mapping[str, tuple[str, str]]
) -> tuple[str, str]:
    """``(distribution, version)`` holding plugin ``name``, or ``("", "")``."""
    if name == _BUILTIN_PLUGIN:
        return _CORE_DISTRIBUTION, _version_of(_CORE_DISTRIBUTION)
    if name in from_entry_points:
        return from_entry_points[name]
    module = getattr(pm.get_plugin(name), "__name__", "") or ""
    top = module.split(".", 1)[0]
    if not top:
        return "", ""
    candidates = _top_level_distributions().get(top, [])
    if not candidates:
        return "", ""
    return candidates[0], _version_of(candidates[0])


def collect(env: Mapping[str, str] | None = None) -> list[ComponentRow]:
    """The component types of the built-ins and every installed plugin, sorted by type and version."""
    pm = plugin_manager(env=env)
    registry = component_registry(pm)
    from_entry_points = {
        pm.get_name(plugin) or "": (dist.project_name, dist.version) for plugin, dist in pm.list_plugin_distinfo()
    }
    rows = []
    for factory in registry.factories.values():
        plugin = registry.provider(factory)
        distribution, version = _distribution(pm, plugin, from_entry_points)
        rows.append(ComponentRow(
            type=factory.type, version=factory.version, kind=factory.kind, plugin=plugin,
            distribution=distribution, distribution_version=version, description=factory.description,
        ))
    return sorted(rows, key=lambda r: (r.type, r.version))


def render_table(rows: list[ComponentRow]) -> str:
    table = [_COLUMNS, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table)


@click.command("components")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
def components(output: str) -> None:
    """List the component types the built-ins and installed plugins provide."""
    try:
        rows = collect()
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    if output == "json":
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        click.echo(render_table(rows))
