"""``bindings.redis``: Dapr's operations on plain string keys of the shared Redis, errors, and one tandemd run."""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis

from redis_helpers import PrivateRedis, Tandemd, component_yaml, http, redis_host, start_tandemd
from tandem.sidecar.components.bindings import BindingError, InvokeRequest, InvokeResponse, OutputBinding
from tandem.sidecar.conformance import open_component, unique
from tandem.sidecar.conformance.bindings import OutputBindingConformance, RequestCheck
from tandem.sidecar.plugins import component_registry, plugin_manager
from tandem_redis.binding import RedisBinding

pytestmark = pytest.mark.anyio

BINDING = component_yaml("redisbinding", "bindings.redis", {"redisHost": redis_host(), "redisPassword": ""})


@pytest.fixture
async def binding(shared_redis: redis.Redis) -> AsyncIterator[OutputBinding]:
    async with open_component(BINDING, OutputBinding) as driver:
        yield driver


async def call(driver: OutputBinding, operation: str, key: str | None, data: bytes = b"",
               **metadata: str) -> InvokeResponse | None:
    md = dict(metadata) if key is None else {"key": key, **metadata}
    return await driver.invoke(InvokeRequest(operation, data, md))


def test_registered_through_the_entry_point() -> None:
    assert isinstance(component_registry(plugin_manager()).lookup("bindings.redis").create(), RedisBinding)


async def test_operations_are_daprs(binding: OutputBinding) -> None:
    assert set(binding.operations()) == {"create", "get", "delete", "increment"}
    assert "OUTPUT_BINDING" in binding.features()


async def test_create_get_delete_use_a_plain_string_key(binding: OutputBinding, shared_redis: redis.Redis,
                                                        prefix: str) -> None:
    key = f"{prefix}-k"
    assert await call(binding, "create", key, b'{"Hello":"World"}') is None
    assert shared_redis.type(key) == b"string" and shared_redis.get(key) == b'{"Hello":"World"}'
    assert shared_redis.ttl(key) == -1
    answer = await call(binding, "get", key)
    assert answer is not None and answer.data == b'{"Hello":"World"}'
    # A value another program SET is read as it is, binary included.
    shared_redis.set(key, b"\x00\xffraw")
    answer = await call(binding, "get", key)
    assert answer is not None and answer.data == b"\x00\xffraw"
    assert await call(binding, "delete", key) is None
    assert shared_redis.exists(key) == 0
    assert await call(binding, "delete", key) is None  # deleting a missing key succeeds
    answer = await call(binding, "get", key)
    assert answer is not None and answer.data == b""  # Dapr answers an empty body for a missing key


async def test_get_with_delete_removes_the_key(binding: OutputBinding, shared_redis: redis.Redis,
                                               prefix: str) -> None:
    key = f"{prefix}-once"
    shared_redis.set(key, b"v")
    answer = await call(binding, "get", key, delete="true")
    assert answer is not None and answer.data == b"v" and shared_redis.exists(key) == 0


async def test_ttl_on_create_and_increment(binding: OutputBinding, shared_redis: redis.Redis, prefix: str) -> None:
    await call(binding, "create", f"{prefix}-t", b"1", ttlInSeconds="100")
    assert 95 <= shared_redis.ttl(f"{prefix}-t") <= 100
    await call(binding, "increment", f"{prefix}-c", ttlInSeconds="50")
    assert shared_redis.get(f"{prefix}-c") == b"1" and 45 <= shared_redis.ttl(f"{prefix}-c") <= 50
    for bad in ("x", "0", "-1"):
        with pytest.raises(BindingError, match="ttlInSeconds"):
            await call(binding, "create", f"{prefix}-bad", b"1", ttlInSeconds=bad)
    assert shared_redis.exists(f"{prefix}-bad") == 0  # checked before anything is written


async def test_increment_counts_from_zero(binding: OutputBinding, shared_redis: redis.Redis, prefix: str) -> None:
    key = f"{prefix}-n"
    for _ in range(3):
        assert await call(binding, "increment", key) is None
    assert shared_redis.get(key) == b"3" and shared_redis.ttl(key) == -1
    await call(binding, "create", key, b"41")
    await call(binding, "increment", key)
    assert shared_redis.get(key) == b"42"
    await call(binding, "create", key, b'"text"')
    with pytest.raises(BindingError, match="not an integer"):
        await call(binding, "increment", key)


@pytest.mark.parametrize("operation", ["create", "get", "delete", "increment"])
async def test_missing_key_is_a_clear_error(binding: OutputBinding, operation: str) -> None:
    with pytest.raises(BindingError, match="missing key in request metadata"):
        await call(binding, operation, None, b"1")
    with pytest.raises(BindingError, match="missing key"):
        await call(binding, operation, "", b"1")


async def test_redis_down_is_a_binding_error(private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis()
    doc = component_yaml("down", "bindings.redis", {"redisHost": server.host, "dialTimeout": "1s",
                                                    "readTimeout": "1s", "redisMaxRetries": "1"})
    async with open_component(doc, OutputBinding) as driver:
        server.kill()
        for operation in ("create", "get", "delete", "increment"):
            with pytest.raises(BindingError, match=f"cannot reach redis at {server.host}") as caught:
                await call(driver, operation, "k", b"1")
            assert not isinstance(caught.value, redis.RedisError)
    with pytest.raises(BindingError, match="cannot reach redis"):  # init pings, as Dapr does
        async with open_component(doc, OutputBinding):
            pass



class TestRedisBindingConformance(OutputBindingConformance):
    unknown_operation_metadata = {"key": unique("binding")}  # past the key check, to the operation check

    @pytest.fixture
    async def output_binding(self, binding: OutputBinding, shared_redis: redis.Redis) -> AsyncIterator[OutputBinding]:
        self._keys: list[str] = []
        yield binding
        if self._keys:
            shared_redis.delete(*self._keys)

    def requests(self) -> list[RequestCheck]:
        key = unique("binding")
        self._keys.append(key)

        def answer(data: bytes) -> Callable[[InvokeResponse | None], None]:
            def check(response: InvokeResponse | None) -> None:
                assert response is not None and response.data == data, response
            return check

        def none(response: InvokeResponse | None) -> None:
            assert response is None, response

        return [
            (InvokeRequest("create", b'{"a":1}', {"key": key}), none),
            (InvokeRequest("get", metadata={"key": key}), answer(b'{"a":1}')),
            (InvokeRequest("delete", metadata={"key": key}), none),
            (InvokeRequest("get", metadata={"key": key}), answer(b"")),
        ]


# -- through a real tandemd --------------------------------------------------------------


@pytest.fixture
def sidecar(tmp_path: Path, shared_redis: redis.Redis) -> Iterator[Tandemd]:
    started = start_tandemd(tmp_path, f"bindapp-{uuid.uuid4().hex[:12]}", BINDING)
    yield started
    started.stop()


@pytest.mark.e2e
def test_bindings_api_round_trip(sidecar: Tandemd, shared_redis: redis.Redis, prefix: str) -> None:
    url = sidecar.url + "/v1.0/bindings/redisbinding"
    key = f"{prefix}-e2e"
    status, _, body = http("POST", url, {"operation": "create", "metadata": {"key": key},
                                         "data": {"Hello": "World"}})
    assert status == 204, body
    assert shared_redis.get(key) == b'{"Hello":"World"}'
    status, _, body = http("POST", url, {"operation": "get", "metadata": {"key": key}})
    assert (status, json.loads(body)) == (200, {"Hello": "World"})
    assert http("POST", url, {"operation": "delete", "metadata": {"key": key}})[0] == 204
    assert shared_redis.exists(key) == 0
    counter = f"{prefix}-e2e-count"
    for _ in range(2):
        assert http("PUT", url, {"operation": "increment", "metadata": {"key": counter}})[0] == 204
    assert http("POST", url, {"operation": "get", "metadata": {"key": counter}})[2] == b"2"
    status, _, body = http("POST", url, {"operation": "get", "metadata": {}})
    assert status == 500 and "missing key" in json.loads(body)["message"], body
    status, _, body = http("POST", url, {"operation": "list", "metadata": {"key": key}})
    assert status == 500 and "does not support operation list" in json.loads(body)["message"], body
