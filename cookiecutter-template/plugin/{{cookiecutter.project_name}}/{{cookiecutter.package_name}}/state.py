"""``{{ cookiecutter.component_type }}``: a state store, here kept in this process's memory.

This skeleton passes Tandem's state store conformance suite; replace the dictionary with
calls to your database and keep the tests green. Declared features: ``ETAG`` and
``TRANSACTIONAL`` (add ``TTL`` or ``QUERY_API`` once you implement them: the suite then
tests them too).

Built on Tandem's toolkit: :class:`~tandem.sidecar.components.state.AtomicStateStore`
derives ``set``, ``delete``, ``bulk_set`` and ``bulk_delete`` from ``transact``, so a
driver writes only ``get`` and ``transact`` (and ``bulk_get`` when it can read many keys
in one round trip). For TTLs use ``SetRequest.expires_in()`` and report
``expire_time_metadata(...)``, as the built-in stores do.

Metadata (the component file's ``spec.metadata``):

``keyPrefix`` (optional)
    Prepended to every key in the underlying store, e.g. to share one database.

``transact`` runs without an ``await`` between reading and writing, so a whole
transaction is atomic with respect to other coroutines.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.state import (
    AtomicStateStore,
    BulkGetItem,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    GetResponse,
    SetRequest,
    StateError,
    StateFeature,
    TransactionOp,
)

__all__ = ["MemoryStore"]


@dataclass(frozen=True)
class _Item:
    value: bytes
    etag: str


class MemoryStore(AtomicStateStore):
    """In-memory state store with ETags and transactions."""

    def __init__(self) -> None:
        self._items: dict[str, _Item] = {}
        self._etags = itertools.count(1)
        self._prefix = ""

    async def init(self, metadata: ComponentMetadata) -> None:
        self._prefix = metadata.get("keyPrefix", "") or ""

    async def close(self) -> None:
        self._items.clear()

    def features(self) -> frozenset[str]:
        return frozenset({StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value})

    async def get(self, request: GetRequest) -> GetResponse | None:
        item = self._items.get(self._prefix + request.key)
        return None if item is None else GetResponse(data=item.value, etag=item.etag)

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[BulkGetItem]:
        """Optional: the base's default calls ``get`` per key; a database does better in one query."""
        found = [(r.key, self._items.get(self._prefix + r.key)) for r in requests]
        return [BulkGetItem(key) if item is None else BulkGetItem(key, data=item.value, etag=item.etag)
                for key, item in found]

    async def transact(self, operations: Sequence[TransactionOp]) -> None:
        """Check every operation against the state the earlier ones leave, then apply all or none."""
        pending: dict[str, _Item | None] = {}
        for op in operations:
            key = self._prefix + op.key
            current = pending[key] if key in pending else self._items.get(key)
            etag = _valid_etag(op.etag)
            if etag is not None and (current is None or current.etag != etag):
                raise ETagMismatch(f"etag mismatch for key {op.key!r}")
            if isinstance(op, SetRequest):
                if etag is None and op.first_write and current is not None:
                    raise ETagMismatch(f"first-write: key {op.key!r} exists already")
                pending[key] = _Item(bytes(op.value), str(next(self._etags)))
            elif isinstance(op, DeleteRequest):
                pending[key] = None
            else:
                raise StateError(f"unsupported operation {type(op).__name__}")
        for key, item in pending.items():
            if item is None:
                self._items.pop(key, None)
            else:
                self._items[key] = item


def _valid_etag(etag: str | None) -> str | None:
    """This store issues decimal integers; anything else could never match."""
    if not etag:
        return None
    if not etag.isdigit():
        raise ETagInvalid(f"invalid etag {etag!r}")
    return etag
