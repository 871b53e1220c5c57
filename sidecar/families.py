"""Which distribution provides each driver family the core does not ship, and what to say when none does.

A message for an unknown component type must never send a user to ``pip install`` a
package that does not exist: a family whose plugin is not written yet is listed
with ``None`` and the message points to the plugin guide instead. When a plugin is
published, its family moves from ``None`` to its distribution name here (a test
checks that every name in this table is a plugin of this repository).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["DISTRIBUTIONS", "PLUGIN_GUIDE", "unknown_type_hint"]

#: Where a plugin author starts: the guide in Tandem's source tree, and the project template.
PLUGIN_GUIDE = "the plugin guide (docs/plugins.md in Tandem's source tree; `tandem new plugin` starts one)"

#: Driver family (the part of ``spec.type`` after the kind) -> its distribution, or None: not yet available.
DISTRIBUTIONS: Mapping[str, str | None] = {
    "redis": "tandem-redis",
    "postgresql": None, "postgres": None,
    "mysql": None, "mariadb": None,
    "rabbitmq": None,
    "mqtt": None, "mqtt3": None,
    "jetstream": None, "nats": None,
    "kafka": None,
    "mongodb": None,
}


def unknown_type_hint(ctype: str, installed: Iterable[str]) -> str:
    """What to tell someone whose ``spec.type`` no installed plugin provides."""
    family = ctype.split(".", 1)[-1].split(".")[0]
    if family in DISTRIBUTIONS:
        dist = DISTRIBUTIONS[family]
        if dist is not None:
            return f"the {dist} plugin provides it: pip install {dist}"
        return (f"no Tandem plugin for {family} exists yet (not yet available); "
                f"to write one, see {PLUGIN_GUIDE}")
    return (f"no installed plugin provides it and no Tandem plugin is known to (installed types: "
            f"{', '.join(installed)}); to write one, see {PLUGIN_GUIDE}")
