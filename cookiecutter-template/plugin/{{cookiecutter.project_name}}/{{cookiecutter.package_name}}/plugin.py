"""The ``tandem.plugins`` entry point (see setup.cfg): the component types this distribution provides."""
from __future__ import annotations

from tandem.sidecar import ComponentFactory, hookimpl

from . import COMPONENT_TYPE

DESCRIPTION = "in-memory {{ cookiecutter.kind }} component (the template's skeleton)"


@hookimpl
def tandem_component_factories() -> list[ComponentFactory]:
{%- if cookiecutter.kind == "state" %}
    from .state import MemoryStore as Driver
{%- elif cookiecutter.kind == "pubsub" %}
    from .pubsub import MemoryPubSub as Driver
{%- else %}
    from .binding import MemoryBinding as Driver
{%- endif %}

    return [ComponentFactory(COMPONENT_TYPE, Driver, description=DESCRIPTION)]
