"""The ``tandem.plugins`` entry point: the Redis component types, registered like any third party's."""
from __future__ import annotations

from tandem.sidecar import ComponentFactory, hookimpl
from tandem.sidecar.components.fields import with_fields

from .fields import FIELDS


@hookimpl
def tandem_component_factories() -> list[ComponentFactory]:
    from .binding import RedisBinding
    from .lock import RedisLockStore
    from .placement import RedisPlacementStore
    from .pubsub import RedisPubSub
    from .state import RedisStateStore

    return with_fields([
        ComponentFactory("state.redis", RedisStateStore, description="Redis hashes in Dapr's layout"),
        ComponentFactory("pubsub.redis", RedisPubSub, description="Redis Streams with consumer groups"),
        ComponentFactory("lock.redis", RedisLockStore, description="SET NX EX locks on Redis"),
        ComponentFactory("placement.redis", RedisPlacementStore,
                         description="actor membership, claims and reminders on Redis (beside state.redis)"),
        ComponentFactory("bindings.redis", RedisBinding, description="output binding on plain Redis keys"),
    ], FIELDS)
