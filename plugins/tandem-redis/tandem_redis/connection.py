"""Dapr's shared Redis connection metadata (spec §8.1), turned into a redis-py asyncio client.

Every component of this plugin reads the same fields with the same defaults as
Dapr's ``common/component/redis`` settings (go-redis defaults where Dapr has
none), so a Dapr user's component file connects the same way. Durations are Go
strings (``5s``) or bare integers in milliseconds.

Errors: redis-py raises its own exceptions; :func:`translate` turns them (and
socket errors) into the component's error class with the server's address in
the message, so nothing raw escapes to the runtime. Every call is bounded: the
socket connect and read timeouts come from the metadata, and only connection
errors (never timeouts) are retried, a bounded number of times.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool, Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from tandem.sidecar.components.base import ComponentMetadata, MetadataError

__all__ = ["RedisSettings", "parse_settings", "translate", "is_connection_error"]

_DEFAULT_PORT = 6379


@dataclass(frozen=True)
class RedisSettings:
    """The connection part of a component's metadata, validated."""

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    client_cert: str = ""
    client_key: str = ""
    dial_timeout: float = 5.0
    read_timeout: float = 3.0
    write_timeout: float = 3.0
    pool_size: int = 10
    pool_timeout: float = 4.0
    min_idle_conns: int = 0
    max_retries: int = 3
    min_retry_interval: float = 0.008
    max_retry_interval: float = 0.512
    client_name: str = ""
    _files: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def socket_timeout(self) -> float:
        """redis-py has one timeout for reads and writes: the larger of Dapr's two."""
        return max(self.read_timeout, self.write_timeout)

    def client(self, *, block: float = 0.0, max_connections: int | None = None) -> aioredis.Redis:
        """A client with its own pool; ``block`` adds room for ``BLOCK`` commands to the read timeout."""
        if self.max_retries > 0:
            backoff = (ExponentialBackoff(cap=self.max_retry_interval, base=self.min_retry_interval)
                       if self.min_retry_interval > 0 else NoBackoff())
            retry = Retry(backoff, self.max_retries, supported_errors=(RedisConnectionError,))
        else:
            retry = Retry(NoBackoff(), 0, supported_errors=(RedisConnectionError,))
        kwargs: dict[str, Any] = {
            "host": self.host, "port": self.port, "db": self.db,
            "username": self.username, "password": self.password,
            "socket_connect_timeout": self.dial_timeout,
            "socket_timeout": self.socket_timeout + block,
            "socket_keepalive": True,
            "retry": retry,
            "client_name": self.client_name or None,
        }
        connection_class: type[Connection] = Connection
        if self.tls:
            connection_class = SSLConnection
            # Dapr's enableTLS skips certificate verification (InsecureSkipVerify).
            kwargs.update(ssl_cert_reqs="none", ssl_check_hostname=False)
            if self.client_cert and self.client_key:
                kwargs.update(ssl_certfile=self._pem_file(self.client_cert),
                              ssl_keyfile=self._pem_file(self.client_key))
        pool = BlockingConnectionPool(
            max_connections=max_connections or self.pool_size, timeout=self.pool_timeout,
            connection_class=connection_class, **kwargs,
        )
        return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() disconnects it

    def _pem_file(self, value: str) -> str:
        """Dapr passes PEM text; redis-py wants a file. A path is used as it is."""
        if "-----BEGIN" not in value:
            return value
        fd, path = tempfile.mkstemp(prefix="tandem-redis-", suffix=".pem")
        with os.fdopen(fd, "w") as out:
            out.write(value)
        self._files.append(path)
        return path

    def cleanup(self) -> None:
        """Remove the PEM files written for mTLS."""
        while self._files:
            with contextlib.suppress(OSError):
                os.unlink(self._files.pop())


def _split_host(value: str) -> tuple[str, int]:
    text = value.strip()
    for scheme in ("redis://", "rediss://"):
        if text.startswith(scheme):
            raise MetadataError(f"metadata field 'redisHost': use host:port, not a URL ({value!r})")
    if "," in text:
        raise MetadataError("metadata field 'redisHost': several hosts need redisType cluster, "
                            "which tandem-redis does not support yet")
    if text.startswith("["):  # [::1]:6379
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise MetadataError(f"metadata field 'redisHost': no host in {value!r}")
    if not port_text:
        return host, _DEFAULT_PORT
    try:
        port = int(port_text)
    except ValueError:
        raise MetadataError(f"metadata field 'redisHost': bad port in {value!r}") from None
    if not 0 < port < 65536:
        raise MetadataError(f"metadata field 'redisHost': port out of range in {value!r}")
    return host, port


def _positive_duration(md: ComponentMetadata, key: str, default: float) -> float:
    value = md.get_duration(key, default)
    if value <= 0:
        raise MetadataError(f"metadata field {key!r}: must be a positive duration")
    return value


def _retry_interval(md: ComponentMetadata, key: str, default: float) -> float:
    """Go-redis reads -1 as "no back-off"; a bare number is milliseconds."""
    value = md.get_duration(key, default)
    return 0.0 if value < 0 else value


def parse_settings(md: ComponentMetadata, *, state: bool = False) -> RedisSettings:
    """Validate the shared connection fields; ``state`` applies the state store's legacy retry fields."""
    redis_type = (md.get("redisType") or "node").strip().lower()
    if redis_type == "cluster":
        raise MetadataError("metadata field 'redisType': cluster is not supported yet by tandem-redis "
                            "(use node)")
    if redis_type not in ("node", ""):
        raise MetadataError(f"metadata field 'redisType': must be node or cluster, not {redis_type!r}")
    if md.get_bool("failover"):
        raise MetadataError("metadata field 'failover': Redis Sentinel is not supported yet by tandem-redis")
    if md.get_bool("useEntraID"):
        raise MetadataError("metadata field 'useEntraID': Azure Entra ID authentication is not supported "
                            "by tandem-redis")
    host, port = _split_host(md.require("redisHost"))
    db = md.get_int("redisDB", 0)
    if db < 0:
        raise MetadataError("metadata field 'redisDB': must be 0 or more")
    read_timeout = _positive_duration(md, "readTimeout", 3.0)
    # Dapr's state store took ``maxRetries``/``maxRetryBackoff`` before the shared names existed.
    legacy_retries = md.get_int("maxRetries", 3) if state else 3
    legacy_backoff = md.get_duration("maxRetryBackoff", 2.0) if state else 0.512
    retries = md.get_int("redisMaxRetries", legacy_retries)
    pool_size = md.get_int("poolSize", 10 * (os.cpu_count() or 1))
    if pool_size <= 0:
        raise MetadataError("metadata field 'poolSize': must be positive")
    min_idle = md.get_int("minIdleConns", 0)
    if min_idle < 0:
        raise MetadataError("metadata field 'minIdleConns': must be 0 or more")
    for key in ("idleTimeout", "idleCheckFrequency", "maxConnAge"):
        md.get_duration(key, 0.0)  # accepted for compatibility; redis-py has no such knobs
    tls = md.get_bool("enableTLS")
    cert, key = md.get("clientCert") or "", md.get("clientKey") or ""
    if bool(cert) != bool(key):
        raise MetadataError("metadata fields 'clientCert' and 'clientKey' must be given together")
    return RedisSettings(
        host=host, port=port, db=db,
        username=md.get("redisUsername") or None, password=md.get("redisPassword") or None,
        tls=tls, client_cert=cert, client_key=key,
        dial_timeout=_positive_duration(md, "dialTimeout", 5.0),
        read_timeout=read_timeout,
        write_timeout=_positive_duration(md, "writeTimeout", read_timeout),
        pool_size=pool_size,
        pool_timeout=_positive_duration(md, "poolTimeout", read_timeout + 1.0),
        min_idle_conns=min_idle,
        max_retries=max(retries, 0),
        min_retry_interval=_retry_interval(md, "redisMinRetryInterval", 0.008),
        max_retry_interval=_retry_interval(md, "redisMaxRetryInterval", legacy_backoff),
        # Shown by CLIENT LIST; Redis refuses spaces and newlines in it.
        client_name=re.sub(r"[^\w.:-]", "_", f"tandem-{md.app_id}-{md.name}" if md.app_id else f"tandem-{md.name}"),
    )


def is_connection_error(exc: BaseException) -> bool:
    """Lost or refused connection, or a timeout: worth retrying later."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError))


@contextlib.contextmanager
def translate(error: type[Exception], what: str, settings: RedisSettings) -> Iterator[None]:
    """Re-raise redis-py and socket errors as ``error`` with a message naming the server."""
    try:
        yield
    except RedisError as exc:
        kind = "cannot reach" if is_connection_error(exc) else "error from"
        raise error(f"{what}: {kind} redis at {settings.address}: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise error(f"{what}: cannot reach redis at {settings.address}: {exc!r}") from exc
