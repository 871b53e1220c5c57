"""The declared metadata fields of every Redis type cover what its driver reads (``tandem doctor`` relies on them)."""
from __future__ import annotations

import pytest
import redis

from redis_helpers import shared_redis_address
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.fields import KIND_FIELDS
from tandem.sidecar.plugins import component_registry, plugin_manager


class _Recording(dict[str, str]):
    """Metadata properties that remember every field name a driver looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


@pytest.mark.anyio
@pytest.mark.parametrize("ctype", ["state.redis", "pubsub.redis", "lock.redis", "placement.redis", "bindings.redis"])
async def test_the_driver_reads_only_declared_fields(ctype: str, shared_redis: redis.Redis) -> None:
    host, port = shared_redis_address()
    factory = component_registry(plugin_manager()).lookup(ctype)
    assert factory.fields is not None
    props = _Recording({"redisHost": f"{host}:{port}"})
    driver = factory.create()
    await driver.init(ComponentMetadata(name="fields", type=ctype, properties=props, app_id="fields-test"))
    await driver.close()
    known = {n.lower() for f in (*factory.fields, *KIND_FIELDS.get(ctype.split(".")[0], ()))
             for n in (f.name, *f.aliases)}
    assert not {k for k in props.asked if k.lower() not in known}
    assert [f.name for f in factory.fields if f.required] == ["redisHost"]
