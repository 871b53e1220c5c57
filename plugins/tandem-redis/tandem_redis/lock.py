"""``lock.redis``: Dapr's Redis distributed lock (spec §6.5).

A lock is the plain key ``resourceId`` holding the owner, written with
``SET NX EX`` so taking it is one atomic command and it expires by itself;
unlocking is a Lua script (``GET`` = owner → ``DEL``) so nobody can release
a lock that another owner took after it expired. The resource id arrives as
the runtime builds it and is used verbatim, as Dapr does.
"""
from __future__ import annotations

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.lock import LockError, LockStore, TryLockRequest, UnlockRequest, UnlockStatus

from . import scripts
from .connection import RedisSettings, parse_settings, translate

__all__ = ["RedisLockStore"]

_UNLOCK_STATUS = {1: UnlockStatus.SUCCESS, -1: UnlockStatus.LOCK_DOES_NOT_EXIST,
                  -2: UnlockStatus.LOCK_BELONGS_TO_OTHERS}


class RedisLockStore(LockStore):
    """One key per locked resource; its value is the owner."""

    def __init__(self) -> None:
        self._settings: RedisSettings | None = None
        self._client: aioredis.Redis | None = None
        self._unlock: AsyncScript | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        settings = self._settings = parse_settings(metadata)
        client = self._client = settings.client()
        self._unlock = client.register_script(scripts.LOCK_UNLOCK)
        try:
            with translate(LockError, f"lock store {metadata.name}", settings):
                await client.script_load(scripts.LOCK_UNLOCK)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        if self._settings is not None:
            self._settings.cleanup()

    def _ready(self) -> tuple[RedisSettings, aioredis.Redis, AsyncScript]:
        if self._settings is None or self._client is None or self._unlock is None:
            raise LockError("redis lock store is not initialised or closed")
        return self._settings, self._client, self._unlock

    async def try_lock(self, request: TryLockRequest) -> bool:
        settings, client, _ = self._ready()
        if request.expiry_seconds <= 0:
            raise LockError(f"expiry must be positive, got {request.expiry_seconds}")
        with translate(LockError, f"lock {request.resource_id!r}", settings):
            taken = await client.set(request.resource_id, request.lock_owner, nx=True, ex=request.expiry_seconds)
        return bool(taken)

    async def unlock(self, request: UnlockRequest) -> UnlockStatus:
        settings, client, unlock = self._ready()
        with translate(LockError, f"unlock {request.resource_id!r}", settings):
            reply = await unlock(keys=[request.resource_id], args=[request.lock_owner], client=client)
        return _UNLOCK_STATUS.get(int(reply), UnlockStatus.INTERNAL_ERROR)
