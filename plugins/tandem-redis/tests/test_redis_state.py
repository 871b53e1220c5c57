"""``state.redis``: the conformance suite, Dapr's storage layout, TTLs, metadata and script behaviour."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis

from redis_helpers import PrivateRedis, component_yaml, redis_host
from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.state import (
    Concurrency,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    SetRequest,
    StateError,
    StateStore,
)
from tandem.sidecar.conformance import open_component
from tandem.sidecar.conformance.state import StateStoreConformance
from tandem_redis import scripts
from tandem_redis.state import RedisStateStore

pytestmark = pytest.mark.anyio


def dapr_statestore(**extra: str) -> str:
    """The ``statestore.yaml`` that ``dapr init`` writes, pointed at the shared Redis."""
    return component_yaml("statestore", "state.redis",
                          {"redisHost": redis_host(), "redisPassword": "", "actorStateStore": "true", **extra})


class TestRedisStateConformance(StateStoreConformance):
    @pytest.fixture
    async def store(self, shared_redis: redis.Redis) -> AsyncIterator[StateStore]:
        async with open_component(dapr_statestore(), StateStore, app_id="myapp") as store:
            yield store


@pytest.fixture
async def store(shared_redis: redis.Redis) -> AsyncIterator[StateStore]:
    async with open_component(dapr_statestore(), StateStore, app_id="myapp") as driver:
        yield driver


async def test_layout_is_daprs_hash_with_data_and_version(store: StateStore, shared_redis: redis.Redis,
                                                          prefix: str) -> None:
    key = f"{prefix}||k"
    await store.set(SetRequest(key, b'{"a":1}'))
    assert shared_redis.type(key) == b"hash"
    assert shared_redis.hgetall(key) == {b"data": b'{"a":1}', b"version": b"1"}
    await store.set(SetRequest(key, b'{"a":2}'))
    assert shared_redis.hgetall(key) == {b"data": b'{"a":2}', b"version": b"2"}
    got = await store.get(GetRequest(key))
    assert got is not None and (got.data, got.etag, dict(got.metadata)) == (b'{"a":2}', "2", {})


async def test_value_written_by_another_program_is_read_with_its_etag(store: StateStore, shared_redis: redis.Redis,
                                                                      prefix: str) -> None:
    key = f"{prefix}||other"
    shared_redis.hset(key, mapping={"data": '{"from":"dapr"}', "version": 7})
    got = await store.get(GetRequest(key))
    assert got is not None and (got.data, got.etag) == (b'{"from":"dapr"}', "7")
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key, b"1", etag="6"))
    await store.set(SetRequest(key, b'"mine"', etag="7"))
    assert shared_redis.hgetall(key) == {b"data": b'"mine"', b"version": b"8"}


async def test_plain_string_keys_are_read_without_etag_and_replaced_by_a_hash(
    store: StateStore, shared_redis: redis.Redis, prefix: str
) -> None:
    key = f"{prefix}||legacy"
    shared_redis.set(key, b'"old"')
    got = await store.get(GetRequest(key))
    assert got is not None and (got.data, got.etag) == (b'"old"', None)
    await store.set(SetRequest(key, b'"new"'))
    assert shared_redis.hgetall(key) == {b"data": b'"new"', b"version": b"1"}


async def test_other_redis_types_are_reported_clearly(store: StateStore, shared_redis: redis.Redis,
                                                      prefix: str) -> None:
    key = f"{prefix}||list"
    shared_redis.rpush(key, b"x")
    with pytest.raises(StateError, match="holds a redis list"):
        await store.get(GetRequest(key))
    [item] = await store.bulk_get([GetRequest(key)])
    assert item.error and "list" in item.error
    await store.set(SetRequest(key, b"1"))  # a save replaces it, as Dapr's script does
    assert shared_redis.hgetall(key) == {b"data": b"1", b"version": b"1"}


async def test_hash_without_version_is_an_error(store: StateStore, shared_redis: redis.Redis, prefix: str) -> None:
    key = f"{prefix}||half"
    shared_redis.hset(key, "data", "1")
    with pytest.raises(StateError, match="'data' or 'version'"):
        await store.get(GetRequest(key))


async def test_values_are_stored_verbatim(store: StateStore, shared_redis: redis.Redis, prefix: str) -> None:
    key = f"{prefix}||bin"
    value = bytes(range(256)) + b'  {"x" : 1.50}\n'
    await store.set(SetRequest(key, value))
    assert shared_redis.hget(key, "data") == value
    got = await store.get(GetRequest(key))
    assert got is not None and got.data == value


async def test_first_write_marks_the_hash_like_dapr(store: StateStore, shared_redis: redis.Redis,
                                                    prefix: str) -> None:
    key = f"{prefix}||fw"
    await store.set(SetRequest(key, b"1", concurrency=Concurrency.FIRST_WRITE))
    assert shared_redis.hgetall(key) == {b"data": b"1", b"first-write": b"0", b"version": b"1"}
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key, b"2", concurrency=Concurrency.FIRST_WRITE))


async def test_etags_follow_go_atoi(store: StateStore, prefix: str) -> None:
    key = f"{prefix}||atoi"
    await store.set(SetRequest(key, b"1"))
    await store.set(SetRequest(key, b"2", etag="+1"))  # Atoi("+1") == 1
    for bad in ("1.0", "abc", " 2", "0x2"):
        with pytest.raises(ETagInvalid):
            await store.set(SetRequest(key, b"3", etag=bad))


async def test_etag_on_missing_key_can_follow_dapr(shared_redis: redis.Redis, prefix: str) -> None:
    """``etagOnMissingKey: accept``: Dapr's Redis store lets an ETag for an absent key write it."""
    async with open_component(dapr_statestore(etagOnMissingKey="accept"), StateStore) as store:
        key = f"{prefix}||ghost"
        await store.set(SetRequest(key, b"1", etag="5"))  # absent: accepted
        assert shared_redis.hgetall(key) == {b"data": b"1", b"version": b"1"}
        with pytest.raises(ETagMismatch):  # a stored version still has to match
            await store.set(SetRequest(key, b"2", etag="3"))
        await store.delete(DeleteRequest(key, etag="1"))
        await store.delete(DeleteRequest(key, etag="5"))  # absent again: accepted


async def test_ttl_uses_expire_and_persist(store: StateStore, shared_redis: redis.Redis, prefix: str) -> None:
    key = f"{prefix}||ttl"
    before = time.time()
    await store.set(SetRequest(key, b"1", ttl=100))
    assert 95 <= shared_redis.ttl(key) <= 100
    got = await store.get(GetRequest(key))
    assert got is not None and "ttlExpireTime" in got.metadata
    await store.set(SetRequest(key, b"2", ttl=-1))
    assert shared_redis.ttl(key) == -1
    await store.set(SetRequest(key, b"3", ttl=50))
    await store.set(SetRequest(key, b"4"))  # a save without TTL stores no expiry
    assert shared_redis.ttl(key) == -1
    assert time.time() - before < 5


async def test_component_default_ttl(shared_redis: redis.Redis, prefix: str) -> None:
    async with open_component(dapr_statestore(ttlInSeconds="120"), StateStore) as store:
        key = f"{prefix}||default-ttl"
        await store.set(SetRequest(key, b"1"))
        assert 115 <= shared_redis.ttl(key) <= 120
        await store.set(SetRequest(key, b"1", ttl=-1))  # the request's own TTL wins
        assert shared_redis.ttl(key) == -1
        await store.transact([SetRequest(key, b"2")])
        assert 115 <= shared_redis.ttl(key) <= 120


async def test_bulk_set_items_are_independent_like_dapr(store: StateStore, shared_redis: redis.Redis,
                                                        prefix: str) -> None:
    a, b = f"{prefix}||a", f"{prefix}||b"
    await store.set(SetRequest(a, b"1"))
    with pytest.raises(ETagMismatch):
        await store.bulk_set([SetRequest(a, b"2", etag="9"), SetRequest(b, b"2")])
    assert shared_redis.hget(a, "data") == b"1" and shared_redis.hget(b, "data") == b"2"


async def test_transaction_is_one_script_and_names_the_failing_operation(
    store: StateStore, shared_redis: redis.Redis, prefix: str
) -> None:
    a, b = f"{prefix}||a", f"{prefix}||b"
    await store.set(SetRequest(a, b"1"))
    with pytest.raises(ETagMismatch, match="operation 1"):
        await store.transact([SetRequest(b, b"x"), DeleteRequest(a, etag="2")])
    assert shared_redis.exists(b) == 0
    await store.transact([SetRequest(a, b"2", etag="1"), SetRequest(a, b"3", etag="2"), SetRequest(b, b"y")])
    assert shared_redis.hgetall(a) == {b"data": b"3", b"version": b"3"}


async def test_scripts_are_loaded_once_on_the_server(store: StateStore, shared_redis: redis.Redis) -> None:
    shas = [shared_redis.script_load(s) for s in (scripts.STATE_GET, scripts.STATE_WRITE)]
    assert shared_redis.script_exists(*shas) == [True, True]
    assert isinstance(store, RedisStateStore)


async def test_unreachable_redis_is_a_state_error_quickly() -> None:
    store = RedisStateStore()
    started = time.monotonic()
    md = ComponentMetadata("statestore", "state.redis", properties={"redisHost": "127.0.0.1:1", "dialTimeout": "1s"})
    with pytest.raises(StateError, match=r"cannot reach redis at 127\.0\.0\.1:1"):
        await store.init(md)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("props, message", [
    ({}, "redisHost"),
    ({"redisHost": "localhost:6379", "redisType": "cluster"}, "not supported yet"),
    ({"redisHost": "localhost:6379", "failover": "true"}, "Sentinel"),
    ({"redisHost": "a:1,b:2"}, "cluster"),
    ({"redisHost": "localhost:notaport"}, "bad port"),
    ({"redisHost": "localhost:6379", "dialTimeout": "soon"}, "dialTimeout"),
    ({"redisHost": "localhost:6379", "etagOnMissingKey": "maybe"}, "etagOnMissingKey"),
    ({"redisHost": "localhost:6379", "ttlInSeconds": "1h"}, "ttlInSeconds"),
])
async def test_bad_metadata_is_a_clear_error(props: dict[str, str], message: str) -> None:
    store = RedisStateStore()
    with pytest.raises(MetadataError, match=message):
        await store.init(ComponentMetadata("statestore", "state.redis", properties=props))


async def test_acl_user_without_info_permission(private_redis: Callable[..., PrivateRedis]) -> None:
    """``redisUsername``/``redisPassword`` reach Redis; a user that may not run INFO still works."""
    server = private_redis()
    with server.client() as admin:
        admin.acl_setuser("tandem", enabled=True, passwords=["+s3cret"], keys=["*"], categories=["+@all"],
                          commands=["-info"])
    props = {"redisHost": server.host, "redisUsername": "tandem", "redisPassword": "s3cret"}
    async with open_component(component_yaml("statestore", "state.redis", props), StateStore) as store:
        await store.set(SetRequest("app||k", b"1"))
        got = await store.get(GetRequest("app||k"))
        assert got is not None and got.etag == "1"
    bad = component_yaml("statestore", "state.redis", {**props, "redisPassword": "wrong"})
    with pytest.raises(StateError, match="redis at 127.0.0.1"):
        async with open_component(bad, StateStore):
            pass
