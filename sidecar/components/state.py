"""The state store contract: what ``state.*`` drivers implement.

Keys arrive already prefixed (``myapp||order``): key prefixing is the state
building block's job, so drivers store keys verbatim. Values are the JSON
bytes the app sent. ETags are opaque strings that the driver issues; a driver
raises :class:`ETagInvalid` for one it could never have issued and
:class:`ETagMismatch` for a stale one.
"""
from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .base import Component, DriverError
from .state_query import Query, QueryItem, QueryPage

__all__ = [
    "AtomicStateStore", "BulkGetItem", "Concurrency", "Consistency", "DeleteRequest", "ETagInvalid", "ETagMismatch",
    "GetRequest", "GetResponse", "Query", "QueryItem", "QueryPage", "SetRequest", "StateError", "StateFeature",
    "StateStore", "TransactionOp", "expire_time_metadata",
]


class StateFeature(str, enum.Enum):
    """Capabilities a state store may declare (Dapr's names)."""

    ETAG = "ETAG"
    TRANSACTIONAL = "TRANSACTIONAL"
    TTL = "TTL"
    QUERY_API = "QUERY_API"
    #: Set by the runtime on the store marked ``actorStateStore: "true"``.
    ACTOR = "ACTOR"


class Concurrency(str, enum.Enum):
    FIRST_WRITE = "first-write"
    LAST_WRITE = "last-write"


class Consistency(str, enum.Enum):
    STRONG = "strong"
    EVENTUAL = "eventual"


class StateError(DriverError):
    """A store failure that is not about ETags."""


class ETagMismatch(StateError):
    """The ETag given does not match the stored one (or the key is gone)."""


class ETagInvalid(StateError):
    """The ETag given is not one this store could have issued."""


@dataclass(frozen=True)
class GetRequest:
    key: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    consistency: Consistency | None = None


@dataclass(frozen=True)
class GetResponse:
    data: bytes
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SetRequest:
    """Write ``value``. ``ttl``: seconds to live; ``None`` keeps no expiry, ``-1`` removes one."""

    key: str
    value: bytes
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    concurrency: Concurrency | None = None
    consistency: Consistency | None = None
    ttl: int | None = None

    @property
    def first_write(self) -> bool:
        return self.concurrency is Concurrency.FIRST_WRITE

    def expires_in(self, default: int | None = None) -> int | None:
        """Seconds until the value expires, or ``None`` for no expiry; the one TTL check of every driver.

        ``default`` (a store's ``ttlInSeconds``) applies when the request sets none; ``0`` and ``-1``
        store no expiry, so a plain save clears one that an earlier save set, as in Dapr.
        """
        ttl = self.ttl if self.ttl is not None else default
        if ttl is not None and ttl < -1:
            raise StateError(f"invalid ttl {ttl}: must be -1 or greater")
        return ttl if ttl is not None and ttl > 0 else None


@dataclass(frozen=True)
class DeleteRequest:
    key: str
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    concurrency: Concurrency | None = None
    consistency: Consistency | None = None


TransactionOp = SetRequest | DeleteRequest


def expire_time_metadata(expires: datetime | float | None) -> dict[str, str]:
    """``{"ttlExpireTime": …}`` as Dapr reports it (Go's RFC 3339 in UTC, whole seconds); ``{}`` for no expiry.

    ``expires`` is an aware or UTC-naive datetime, or seconds since the epoch.
    """
    if expires is None:
        return {}
    if not isinstance(expires, datetime):
        expires = datetime.fromtimestamp(expires, tz=timezone.utc)
    elif expires.tzinfo is not None:
        expires = expires.astimezone(timezone.utc)
    return {"ttlExpireTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


@dataclass(frozen=True)
class BulkGetItem:
    key: str
    data: bytes | None = None
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


class StateStore(Component):
    """A key/value store with optional ETags, transactions and TTL.

    Semantics every driver follows (the conformance tests check them):

    * ``set`` with an ``etag`` succeeds only if the key exists with that ETag;
      with ``first-write`` and no ETag, only if the key does not exist;
      otherwise it always succeeds (last write wins).
    * ``delete`` of a missing key without an ETag succeeds; with one, it is a
      mismatch.
    * Expired keys are never returned.
    """

    kind = "state"

    @abc.abstractmethod
    async def get(self, request: GetRequest) -> GetResponse | None:
        """The live value of ``request.key``, or ``None``."""

    @abc.abstractmethod
    async def set(self, request: SetRequest) -> None:
        """Write one key under the rules above; raise ETagMismatch/ETagInvalid/StateError."""

    @abc.abstractmethod
    async def delete(self, request: DeleteRequest) -> None:
        """Delete one key under the rules above."""

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[BulkGetItem]:
        """Read many keys; a failure of one key is reported in its item."""

        async def one(req: GetRequest) -> BulkGetItem:
            try:
                found = await self.get(req)
            except StateError as exc:
                return BulkGetItem(key=req.key, error=str(exc))
            if found is None:
                return BulkGetItem(key=req.key)
            return BulkGetItem(key=req.key, data=found.data, etag=found.etag, metadata=found.metadata)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def bulk_set(self, requests: Sequence[SetRequest]) -> None:
        """Write many keys; not atomic unless a driver says so. Raises the first error."""
        for req in requests:
            await self.set(req)

    async def bulk_delete(self, requests: Sequence[DeleteRequest]) -> None:
        for req in requests:
            await self.delete(req)

    async def transact(self, operations: Sequence[TransactionOp]) -> None:
        """Apply all operations atomically, or none. Only for ``TRANSACTIONAL`` stores."""
        raise NotImplementedError(f"{type(self).__name__} does not support transactions")

    async def query(self, query: Query, key_prefix: str) -> QueryPage:
        """Run the Query API over live keys starting with ``key_prefix``. Only for ``QUERY_API`` stores.

        ``key_prefix`` is the app's whole prefix including the separator
        (``"myapp||"``), or ``""`` for a store without one; keys come back
        as stored. Stores without a query engine of their own pass their
        live ``(key, value, etag)`` rows to :func:`.state_query.run_query`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support queries")


class AtomicStateStore(StateStore):
    """The toolkit's base for a store that can apply a list of operations atomically.

    A driver writes ``get`` and ``transact`` (and ``bulk_get`` if it can beat one
    ``get`` per key); ``set``, ``delete``, ``bulk_set`` and ``bulk_delete`` are
    ``transact`` of those operations, so the ETag, first-write and TTL rules live
    in one place of the driver and bulk writes are all-or-nothing. Declare
    ``TRANSACTIONAL`` in ``features``. TTLs come from :meth:`SetRequest.expires_in`;
    expiry times go out through :func:`expire_time_metadata`.
    """

    @abc.abstractmethod
    async def transact(self, operations: Sequence[TransactionOp]) -> None:
        """Apply every operation in order (a later one sees the earlier ones), or none; raise the first failure."""

    async def set(self, request: SetRequest) -> None:
        await self.transact((request,))

    async def delete(self, request: DeleteRequest) -> None:
        await self.transact((request,))

    async def bulk_set(self, requests: Sequence[SetRequest]) -> None:
        """Atomic: every item is written or none."""
        if requests:
            await self.transact(requests)

    async def bulk_delete(self, requests: Sequence[DeleteRequest]) -> None:
        """Atomic: every item is deleted or none."""
        if requests:
            await self.transact(requests)
