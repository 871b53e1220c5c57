"""Registration through the entry point, and the shared connection metadata (spec §8.1)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.plugins import component_registry, plugin_manager
from tandem_redis.connection import parse_settings
from tandem_redis.lock import RedisLockStore
from tandem_redis.pubsub import RedisPubSub
from tandem_redis.state import RedisStateStore


def md(**props: str) -> ComponentMetadata:
    return ComponentMetadata("c", "state.redis", properties={"redisHost": "localhost:6379", **props}, app_id="app")


def test_types_are_registered_through_the_entry_point() -> None:
    registry = component_registry(plugin_manager())
    made = {t: type(registry.lookup(t).create()) for t in ("state.redis", "pubsub.redis", "lock.redis")}
    assert made == {"state.redis": RedisStateStore, "pubsub.redis": RedisPubSub, "lock.redis": RedisLockStore}
    assert registry.lookup("state.redis", "v1").version == "v1"


def test_the_core_does_not_import_the_plugin() -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    assert "state.redis" not in registry.types()


def test_defaults_follow_dapr_and_go_redis() -> None:
    s = parse_settings(md())
    assert (s.host, s.port, s.db, s.username, s.password, s.tls) == ("localhost", 6379, 0, None, None, False)
    assert (s.dial_timeout, s.read_timeout, s.write_timeout) == (5.0, 3.0, 3.0)
    assert (s.max_retries, s.min_retry_interval, s.max_retry_interval) == (3, 0.008, 0.512)
    assert s.pool_size == 10 * (os.cpu_count() or 1) and s.pool_timeout == 4.0


def test_durations_are_go_strings_or_milliseconds() -> None:
    s = parse_settings(md(dialTimeout="1500", readTimeout="2s", writeTimeout="250ms", redisMaxRetryInterval="1s",
                          redisMinRetryInterval="-1", idleTimeout="5m"))
    assert (s.dial_timeout, s.read_timeout, s.write_timeout) == (1.5, 2.0, 0.25)
    assert (s.min_retry_interval, s.max_retry_interval, s.socket_timeout) == (0.0, 1.0, 2.0)


def test_connection_fields_reach_redis_py() -> None:
    s = parse_settings(md(redisHost="[::1]:6380", redisDB="3", redisUsername="u", redisPassword="p",
                          redisMaxRetries="-1", poolSize="7", enableTLS="true"))
    client = s.client()
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["username"], kwargs["password"]) == (
        "::1", 6380, 3, "u", "p")
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"], kwargs["ssl_cert_reqs"]) == (5.0, 3.0, "none")
    assert client.connection_pool.max_connections == 7 and s.max_retries == 0
    assert s.address == "[::1]:6380"


def test_state_store_reads_the_legacy_retry_fields() -> None:
    s = parse_settings(md(maxRetries="5", maxRetryBackoff="3s"), state=True)
    assert (s.max_retries, s.max_retry_interval) == (5, 3.0)
    assert parse_settings(md(maxRetries="5", redisMaxRetries="1"), state=True).max_retries == 1


def test_client_certificates_given_as_pem_text_become_private_files() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    s = parse_settings(md(enableTLS="true", clientCert=pem, clientKey=pem.replace("CERTIFICATE", "PRIVATE KEY")))
    kwargs = s.client().connection_pool.connection_kwargs
    assert Path(kwargs["ssl_certfile"]).read_text() == pem
    assert os.stat(kwargs["ssl_keyfile"]).st_mode & 0o077 == 0
    s.cleanup()
    assert not os.path.exists(kwargs["ssl_certfile"])


@pytest.mark.parametrize("props, message", [
    ({"redisType": "weird"}, "redisType"),
    ({"useEntraID": "true"}, "Entra"),
    ({"redisDB": "-1"}, "redisDB"),
    ({"poolSize": "0"}, "poolSize"),
    ({"clientCert": "x"}, "together"),
    ({"redisHost": "redis://localhost:6379"}, "host:port"),
    ({"readTimeout": "0"}, "readTimeout"),
])
def test_bad_connection_metadata(props: dict[str, str], message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_settings(md(**props))
