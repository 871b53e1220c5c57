"""``RedisComponent``: the lifecycle every Redis driver shares, and pubsub.redis on the toolkit's loop."""
from __future__ import annotations

import pytest
import redis

from tandem.sidecar.components.base import ComponentMetadata, DriverError
from tandem.sidecar.components.bindings import BindingError
from tandem.sidecar.components.lock import LockError
from tandem.sidecar.components.placement import PlacementError
from tandem.sidecar.components.pubsub import PubSubError, SubscribeRequest
from tandem.sidecar.components.state import StateError
from tandem.sidecar.components.subscription_loop import SubscriptionLoop
from tandem_redis.binding import RedisBinding
from tandem_redis.component import RedisComponent
from tandem_redis.lock import RedisLockStore
from tandem_redis.placement import RedisPlacementStore
from tandem_redis.pubsub import RedisPubSub
from tandem_redis.state import RedisStateStore

pytestmark = pytest.mark.anyio

DRIVERS: list[tuple[type[RedisComponent], type[DriverError]]] = [
    (RedisStateStore, StateError), (RedisPubSub, PubSubError), (RedisLockStore, LockError),
    (RedisBinding, BindingError), (RedisPlacementStore, PlacementError),
]


def md(**props: str) -> ComponentMetadata:
    return ComponentMetadata("c", "x.redis", properties={"redisHost": "localhost:6379", **props}, app_id="app")


@pytest.mark.parametrize(("driver", "error"), DRIVERS, ids=lambda d: getattr(d, "__name__", ""))
async def test_use_before_init_is_the_contracts_error(driver: type[RedisComponent], error: type[Exception]) -> None:
    assert issubclass(driver, RedisComponent)
    with pytest.raises(error, match="not initialised or closed"):
        driver().connection()


@pytest.mark.parametrize(("driver", "error"), DRIVERS, ids=lambda d: getattr(d, "__name__", ""))
async def test_an_unreachable_server_fails_init_with_the_contracts_error(driver: type[RedisComponent],
                                                                       error: type[Exception]) -> None:
    instance = driver()
    with pytest.raises(error):
        await instance.init(md(redisHost="127.0.0.1:1", dialTimeout="200ms", redisMaxRetries="0"))
    with pytest.raises(error, match="not initialised or closed"):
        instance.connection()  # closed again after the failed start


@pytest.mark.parametrize(("driver", "error"), DRIVERS, ids=lambda d: getattr(d, "__name__", ""))
async def test_init_connects_and_close_disconnects(shared_redis: redis.Redis, driver: type[RedisComponent],
                                                   error: type[Exception]) -> None:
    instance = driver()
    await instance.init(md())
    _, client = instance.connection()
    assert await client.ping()
    await instance.close()
    with pytest.raises(error):
        instance.connection()


async def test_pubsub_redis_delivers_through_the_toolkits_loop(shared_redis: redis.Redis, prefix: str) -> None:
    bus = RedisPubSub()
    await bus.init(md())
    try:
        subscription = await bus.subscribe(SubscribeRequest(f"{prefix}topic", "g"), _ignore)
        assert isinstance(subscription, SubscriptionLoop)
        await subscription.close()
    finally:
        await bus.close()
        shared_redis.delete(f"{prefix}topic")


async def _ignore(message: object) -> None:
    return None
