"""``state.in-memory``: a process-local state store with ETags, transactions and TTL.

Every operation is plain synchronous Python with no ``await`` inside, so each
one (including a whole transaction) is atomic with respect to other coroutines
without any lock. Expired keys behave as absent everywhere; they are dropped
lazily on access and by a periodic sweep driven by a heap of expiry times.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..components.base import ComponentMetadata
from ..components.state import (
    AtomicStateStore,
    BulkGetItem,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    GetResponse,
    Query,
    QueryPage,
    SetRequest,
    StateError,
    StateFeature,
    TransactionOp,
    expire_time_metadata,
)
from ..components.state_query import run_query

__all__ = ["MemoryStateStore"]

log = logging.getLogger(__name__)

_FEATURES = frozenset({StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value, StateFeature.TTL.value,
                       StateFeature.QUERY_API.value})
_ETAG = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class _Entry:
    value: bytes
    etag: str
    expires: float | None  # wall-clock seconds (time.time()), None = never

    def alive(self, now: float) -> bool:
        return self.expires is None or self.expires > now


def _check_etag(etag: str | None) -> str | None:
    """Normalise an ETag: empty means none; anything not a decimal integer is invalid."""
    if not etag:
        return None
    if not _ETAG.fullmatch(etag):
        raise ETagInvalid(f"invalid etag {etag!r}: this store issues integer etags")
    return etag


class MemoryStateStore(AtomicStateStore):
    """Dict-backed store; ETags are a per-store increasing integer."""

    def __init__(self) -> None:
        self._data: dict[str, _Entry] = {}
        self._versions = itertools.count(1)
        self._expiries: list[tuple[float, str, str]] = []  # (expires, key, etag) min-heap
        self._sweep_interval = 1.0
        self._sweeper: asyncio.Task[None] | None = None

    async def init(self, metadata: ComponentMetadata) -> None:
        self._sweep_interval = metadata.get_duration("cleanupInterval", 1.0, bare_unit=1.0)
        if self._sweep_interval > 0:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_loop(), name=f"tandem-memory-state-sweep-{metadata.name}"
            )

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    def features(self) -> frozenset[str]:
        return _FEATURES

    # -- reads ---------------------------------------------------------------

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if not entry.alive(now):
            del self._data[key]  # lazy cleanup
            return None
        return entry

    @staticmethod
    def _response_metadata(entry: _Entry) -> Mapping[str, str]:
        return expire_time_metadata(entry.expires)

    async def get(self, request: GetRequest) -> GetResponse | None:
        entry = self._live(request.key, time.time())
        if entry is None:
            return None
        return GetResponse(data=entry.value, etag=entry.etag, metadata=self._response_metadata(entry))

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[BulkGetItem]:
        now = time.time()
        items: list[BulkGetItem] = []
        for req in requests:
            entry = self._live(req.key, now)
            if entry is None:
                items.append(BulkGetItem(key=req.key))
            else:
                items.append(BulkGetItem(key=req.key, data=entry.value, etag=entry.etag,
                                         metadata=self._response_metadata(entry)))
        return items

    async def query(self, query: Query, key_prefix: str) -> QueryPage:
        """A full scan: fine for the test-and-demo store this is."""
        now = time.time()
        rows = [(key, entry.value, entry.etag) for key, entry in self._data.items()
                if key.startswith(key_prefix) and entry.alive(now)]
        return run_query(query, rows)

    # -- writes --------------------------------------------------------------

    def _apply(self, ops: Sequence[TransactionOp]) -> None:
        """Validate and apply ``ops`` in order, all or nothing.

        Changes go to an overlay first so a later op sees earlier ones (as in a
        SQL transaction); the overlay is merged only if every op succeeded.
        """
        now = time.time()
        overlay: dict[str, _Entry | None] = {}

        def current(key: str) -> _Entry | None:
            if key in overlay:
                return overlay[key]
            return self._live(key, now)

        for op in ops:
            etag = _check_etag(op.etag)
            existing = current(op.key)
            if etag is not None and (existing is None or existing.etag != etag):
                raise ETagMismatch(f"etag mismatch for key {op.key!r}")
            if isinstance(op, SetRequest):
                if etag is None and op.first_write and existing is not None:
                    raise ETagMismatch(f"first-write: key {op.key!r} already exists")
                if not isinstance(op.value, (bytes, bytearray, memoryview)):
                    raise StateError(f"value for key {op.key!r} must be bytes")
                ttl = op.expires_in()
                overlay[op.key] = _Entry(bytes(op.value), str(next(self._versions)), None if ttl is None else now + ttl)
            elif isinstance(op, DeleteRequest):
                overlay[op.key] = None  # deleted by this transaction
            else:
                raise StateError(f"unsupported transaction operation {type(op).__name__}")

        for key, entry in overlay.items():
            if entry is None:
                self._data.pop(key, None)
                continue
            self._data[key] = entry
            if entry.expires is not None:
                heapq.heappush(self._expiries, (entry.expires, key, entry.etag))

    async def transact(self, operations: Sequence[TransactionOp]) -> None:
        self._apply(operations)

    # -- expiry --------------------------------------------------------------

    def sweep(self, now: float | None = None) -> int:
        """Drop entries whose expiry has passed; returns how many were removed."""
        now = time.time() if now is None else now
        removed = 0
        heap = self._expiries
        while heap and heap[0][0] <= now:
            _, key, etag = heapq.heappop(heap)
            entry = self._data.get(key)
            # Only if the heap item still describes the stored entry (not rewritten since).
            if entry is not None and entry.etag == etag and not entry.alive(now):
                del self._data[key]
                removed += 1
        return removed

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                self.sweep()
            except Exception:  # never let the sweeper die silently
                log.exception("in-memory state sweep failed")
