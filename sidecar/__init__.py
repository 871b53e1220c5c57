"""The Tandem sidecar (``tandemd``): Dapr's HTTP API served over pluggable components.

Plugin authors need only this module::

    from tandem.sidecar import hookimpl, ComponentFactory
    from tandem.sidecar.components.state import StateStore
"""
from __future__ import annotations

from .components.base import Component, ComponentMetadata, MetadataError
from .errors import DaprError
from .hookspecs import hookimpl
from .plugins import ComponentFactory

__all__ = ["Component", "ComponentFactory", "ComponentMetadata", "DaprError", "MetadataError", "hookimpl"]
