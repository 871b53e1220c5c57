"""Fixtures of the tandem-redis tests: the shared Redis (skipped when absent, fatal on CI), private servers."""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from redis_helpers import PrivateRedis, shared_redis_address


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    """Skip locally; on CI a missing server is a broken machine, so fail."""
    if _on_ci():
        pytest.fail(f"{reason} (CI=true: the Redis tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[redis.Redis]:
    """A client of the shared Redis (``REDIS_URL``); the test is skipped (failed on CI) if it does not answer."""
    host, port = shared_redis_address()
    client = redis.Redis(host=host, port=port, socket_timeout=5, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        _unavailable(f"no Redis at {host}:{port} (set REDIS_URL): {exc}")
    yield client
    client.close()


@pytest.fixture
def prefix(shared_redis: redis.Redis) -> Iterator[str]:
    """A key prefix of this test; every key under it is deleted afterwards (never FLUSHALL)."""
    value = f"tandem-redis-test-{uuid.uuid4().hex}"
    yield value
    keys = list(shared_redis.scan_iter(match=f"{value}*", count=1000))
    if keys:
        shared_redis.delete(*keys)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., PrivateRedis]]:
    """Factory: ``private_redis(persistent=False)`` starts a redis-server of this test on a free port."""
    if not shutil.which("redis-server"):
        _unavailable("redis-server is not installed")
    servers: list[PrivateRedis] = []

    def start(persistent: bool = False) -> PrivateRedis:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = PrivateRedis(directory, persistent)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.kill()
