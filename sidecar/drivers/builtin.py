"""The core's own plugin: registers the built-in drivers exactly as a third party would."""
from __future__ import annotations

from ..components.fields import with_fields
from ..hookspecs import hookimpl
from ..plugins import ComponentFactory
from .builtin_fields import BUILTIN_FIELDS


@hookimpl
def tandem_component_factories() -> list[ComponentFactory]:
    from .cron_binding import CronBinding
    from .env_secrets import EnvSecretStore
    from .http_binding import HttpBinding
    from .local_resolver import LocalResolver
    from .localfile_secrets import LocalFileSecretStore
    from .localstorage_binding import LocalStorageBinding
    from .memory_lock import MemoryLockStore
    from .memory_placement import MemoryPlacementStore
    from .memory_pubsub import MemoryPubSub
    from .memory_state import MemoryStateStore
    from .sqlite_placement import SqlitePlacementStore
    from .sqlite_pubsub import SqlitePubSub
    from .sqlite_state import SqliteStateStore

    return with_fields([
        ComponentFactory("state.in-memory", MemoryStateStore, description="process-local state, for tests"),
        ComponentFactory("state.sqlite", SqliteStateStore, description="embedded durable state (SQLite, WAL)"),
        ComponentFactory("pubsub.in-memory", MemoryPubSub, description="process-local pub/sub, for tests"),
        ComponentFactory("pubsub.sqlite", SqlitePubSub, description="embedded durable pub/sub (SQLite, WAL)"),
        ComponentFactory("lock.in-memory", MemoryLockStore, description="locks within one sidecar"),
        ComponentFactory("secretstores.local.file", LocalFileSecretStore,
                         description="secrets from a JSON file, for development"),
        ComponentFactory("secretstores.local.env", EnvSecretStore,
                         description="environment variables as secrets, for development"),
        ComponentFactory("bindings.cron", CronBinding, description="input: fires on a cron schedule"),
        ComponentFactory("bindings.http", HttpBinding, description="output: calls an HTTP endpoint"),
        ComponentFactory("bindings.localstorage", LocalStorageBinding,
                         description="output: files under a root folder"),
        ComponentFactory("placement.in-memory", MemoryPlacementStore,
                         description="actor placement for one sidecar (beside state.in-memory)"),
        ComponentFactory("placement.sqlite", SqlitePlacementStore,
                         description="actor placement in the state.sqlite file (one machine)"),
        ComponentFactory("nameresolution.local", LocalResolver, description="sidecars of one machine"),
        # Dapr's self-hosted default; here it finds the sidecars of this machine.
        ComponentFactory("nameresolution.mdns", LocalResolver, description="alias of nameresolution.local"),
    ], BUILTIN_FIELDS)
