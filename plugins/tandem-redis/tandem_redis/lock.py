"""``lock.redis``: Dapr's Redis distributed lock (spec §6.5).

A lock is the plain key ``resourceId`` holding the owner, written with
``SET NX EX`` so taking it is one atomic command and it expires by itself;
unlocking is a Lua script (``GET`` = owner → ``DEL``) so nobody can release
a lock that another owner took after it expired. The resource id arrives as
the runtime builds it and is used verbatim, as Dapr does.
"""
from __future__ import annotations

from tandem.sidecar.components.lock import LockError, LockStore, TryLockRequest, UnlockRequest, UnlockStatus

from . import scripts
from .component import RedisComponent
from .connection import translate

__all__ = ["RedisLockStore"]

_UNLOCK_STATUS = {1: UnlockStatus.SUCCESS, -1: UnlockStatus.LOCK_DOES_NOT_EXIST,
                  -2: UnlockStatus.LOCK_BELONGS_TO_OTHERS}


class RedisLockStore(RedisComponent, LockStore):
    """One key per locked resource; its value is the owner."""

    error = LockError
    label = "redis lock store"
    scripts = (scripts.LOCK_UNLOCK,)

    async def try_lock(self, request: TryLockRequest) -> bool:
        settings, client = self.connection()
        if request.expiry_seconds <= 0:
            raise LockError(f"expiry must be positive, got {request.expiry_seconds}")
        with translate(LockError, f"lock {request.resource_id!r}", settings):
            taken = await client.set(request.resource_id, request.lock_owner, nx=True, ex=request.expiry_seconds)
        return bool(taken)

    async def unlock(self, request: UnlockRequest) -> UnlockStatus:
        settings, client = self.connection()
        unlock = self.script(scripts.LOCK_UNLOCK)
        with translate(LockError, f"unlock {request.resource_id!r}", settings):
            reply = await unlock(keys=[request.resource_id], args=[request.lock_owner], client=client)
        return _UNLOCK_STATUS.get(int(reply), UnlockStatus.INTERNAL_ERROR)
