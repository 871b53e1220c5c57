"""Every hook a Tandem plugin can implement, in one place.

A plugin is a module (or object) with functions marked ``@hookimpl``; a
third-party distribution exposes it through the ``tandem.plugins`` entry-point
group. Tandem's own drivers are registered through these same hooks.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .plugins import ComponentFactory

__all__ = ["hookspec", "hookimpl", "PROJECT"]

PROJECT = "tandem"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def tandem_component_factories() -> list[ComponentFactory]:
    """Return the component types this plugin provides.

    Called once per sidecar when its component registry is built, before any
    component file is read. The lists of all plugins are joined; two plugins
    providing the same ``type`` and ``version`` stop the sidecar at start-up.
    Return factories, not instances: the runtime creates one instance per
    component document.
    """
    raise NotImplementedError
