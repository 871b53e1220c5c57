"""What every ``tandem-redis`` driver shares: a client made from the metadata, checked at ``init``, closed once.

A driver subclasses :class:`RedisComponent` before its contract
(``class RedisLockStore(RedisComponent, LockStore)``), names its contract's
error class and the Lua scripts it runs, and reads its own fields in
:meth:`RedisComponent.configure`. ``init`` then connects, loads the scripts
(or pings when there are none), and closes again if that fails, so a bad
``redisHost`` stops the sidecar at start-up with the contract's error.
"""
from __future__ import annotations

from typing import ClassVar

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from tandem.sidecar.components.base import Component, ComponentMetadata, DriverError

from .connection import RedisSettings, parse_settings, translate

__all__ = ["RedisComponent"]


class RedisComponent(Component):
    """The lifecycle of a Redis-backed driver."""

    #: The contract's error class, raised for connection failures and for use before ``init``.
    error: ClassVar[type[DriverError]] = DriverError
    #: How messages name the driver ("redis lock store").
    label: ClassVar[str] = "redis component"
    #: Lua scripts the driver runs, loaded at ``init``; reach them with :meth:`script`.
    scripts: ClassVar[tuple[str, ...]] = ()
    #: Whether the state-store-only connection fields are accepted.
    state_fields: ClassVar[bool] = False

    _settings: RedisSettings | None = None
    _client: aioredis.Redis | None = None
    _scripts: dict[str, AsyncScript]

    async def init(self, metadata: ComponentMetadata) -> None:
        settings = self._settings = parse_settings(metadata, state=self.state_fields)
        self.configure(metadata, settings)
        client = self._client = settings.client()
        self._scripts = {source: client.register_script(source) for source in self.scripts}
        try:
            with translate(self.error, f"{self.label} {metadata.name}", settings):
                await self.connect(client)
        except BaseException:
            await self.close()
            raise

    def configure(self, metadata: ComponentMetadata, settings: RedisSettings) -> None:  # noqa: B027 - optional
        """Read and validate the driver's own metadata fields (before connecting)."""

    async def connect(self, client: aioredis.Redis) -> None:
        """The start-up check: load the scripts, or ping when there are none."""
        for source in self.scripts:
            await client.script_load(source)
        if not self.scripts:
            await client.ping()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        if self._settings is not None:
            self._settings.cleanup()

    def connection(self) -> tuple[RedisSettings, aioredis.Redis]:
        """The settings and client; the contract's error before ``init`` or after ``close``."""
        if self._settings is None or self._client is None:
            raise self.error(f"{self.label} is not initialised or closed")
        return self._settings, self._client

    def script(self, source: str) -> AsyncScript:
        return self._scripts[source]
