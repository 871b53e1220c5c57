"""The distributed-lock contract: what ``lock.*`` drivers implement (spec §6.5).

A lock is held by one owner for at most ``expiry_seconds``; only its owner can
release it before that. Drivers make ``try_lock`` and ``unlock`` atomic on the
server, so two sidecars can never both hold one resource.
"""
from __future__ import annotations

import abc
import enum
from dataclasses import dataclass

from .base import Component, DriverError

__all__ = ["LockError", "LockStore", "TryLockRequest", "UnlockRequest", "UnlockStatus"]


class LockError(DriverError):
    """The store could not be asked (connection lost …)."""


class UnlockStatus(enum.IntEnum):
    """Dapr's numeric answer to an unlock."""

    SUCCESS = 0
    LOCK_DOES_NOT_EXIST = 1
    LOCK_BELONGS_TO_OTHERS = 2
    INTERNAL_ERROR = 3


@dataclass(frozen=True)
class TryLockRequest:
    resource_id: str
    lock_owner: str
    expiry_seconds: int


@dataclass(frozen=True)
class UnlockRequest:
    resource_id: str
    lock_owner: str


class LockStore(Component):
    kind = "lock"

    @abc.abstractmethod
    async def try_lock(self, request: TryLockRequest) -> bool:
        """Take the lock if nobody holds it (or its holder's time ran out); ``True`` when taken."""

    @abc.abstractmethod
    async def unlock(self, request: UnlockRequest) -> UnlockStatus:
        """Release the lock if ``request.lock_owner`` holds it."""
