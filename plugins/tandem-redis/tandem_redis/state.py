"""``state.redis``: Dapr's Redis state store layout, so Tandem and Dapr sidecars can share one Redis.

Each key is a hash ``{data, version}`` (plus ``first-write = 0`` after a
first-write save, as Dapr writes it); the ETag is ``version``, bumped with
``HINCRBY`` from 1. Every write is one Lua script run on the server
(:data:`.scripts.STATE_WRITE`), so ETag checks and the write, the TTL
included, are atomic; a transaction is a single script too, so it is
all-or-nothing (Dapr's ``MULTI`` of per-key scripts is not).

Semantics: a stored version must equal the ETag given; a non-integer ETag is
invalid; no ETag means last write wins; first-write without an ETag refuses an
existing key. An ETag given for a key that does not exist is a mismatch, as
Tandem's state contract (and its conformance suite) requires; Dapr's Redis
store accepts it, and ``etagOnMissingKey: accept`` restores that (spec §2.5).
Reads fall back to plain string keys (no ETag) as Dapr's ``GET`` fallback does.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.state import (
    AtomicStateStore,
    BulkGetItem,
    Consistency,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    GetResponse,
    SetRequest,
    StateError,
    StateFeature,
    TransactionOp,
    expire_time_metadata,
)

from . import scripts
from .component import RedisComponent
from .connection import RedisSettings, translate

__all__ = ["RedisStateStore"]

log = logging.getLogger(__name__)

_FEATURES = frozenset({StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value, StateFeature.TTL.value})
_ETAG = re.compile(r"[+-]?[0-9]{1,19}")
_CHUNK = 1000  # keys per script call for bulk reads and bulk writes (bounds the time Redis is busy)


def _etag(etag: str | None) -> str:
    """The expected version as the script compares it (``""`` for none); Go's ``Atoi`` rules."""
    if not etag:
        return ""
    if not _ETAG.fullmatch(etag):
        raise ETagInvalid(f"invalid etag {etag!r}: the redis state store issues integer etags")
    return str(int(etag))


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _expire_time(pttl: object) -> dict[str, str]:
    """Dapr's ``ttlExpireTime`` from ``PTTL`` milliseconds."""
    if not isinstance(pttl, int) or pttl <= 0:
        return {}
    return expire_time_metadata(time.time() + pttl / 1000)


def _decode(key: str, row: object) -> GetResponse | None:
    """One reply of :data:`.scripts.STATE_GET`."""
    if row is None:
        return None
    if not isinstance(row, list) or len(row) != 4:
        raise StateError(f"unexpected reply for key {key!r}: {row!r}")
    kind, data, version, pttl = row
    kind = _text(kind)
    if kind == "h":
        if data is None or version is None:
            raise StateError(f"key {key!r}: required hash field 'data' or 'version' was not found")
        return GetResponse(data=bytes(data), etag=_text(version), metadata=_expire_time(pttl))
    if kind == "s":
        return GetResponse(data=bytes(data), metadata=_expire_time(pttl))
    if kind == "j":  # written by Dapr with contentType application/json on a server with RedisJSON
        try:
            doc = json.loads(data)
            value = json.dumps(doc["data"], separators=(",", ":"), ensure_ascii=False).encode()
        except (ValueError, TypeError, KeyError) as exc:
            raise StateError(f"key {key!r}: unreadable RedisJSON document: {exc}") from None
        version = doc.get("version")
        return GetResponse(data=value, etag=None if version is None else str(version), metadata=_expire_time(pttl))
    raise StateError(f"key {key!r} holds a redis {_text(data)}, not a state value")


class RedisStateStore(RedisComponent, AtomicStateStore):
    """Hash-per-key state in Redis, compatible with Dapr's ``state.redis``."""

    error = StateError
    label = "redis state store"
    scripts = (scripts.STATE_GET, scripts.STATE_WRITE)
    state_fields = True
    _default_ttl: int | None = None
    _strict = "1"
    _replicas = 0

    def features(self) -> frozenset[str]:
        return _FEATURES

    def configure(self, metadata: ComponentMetadata, settings: RedisSettings) -> None:
        raw_ttl = metadata.get("ttlInSeconds")
        if raw_ttl not in (None, ""):
            self._default_ttl = metadata.get_int("ttlInSeconds", 0)
        metadata.get_bool("actorStateStore")  # validated here; the runtime acts on it
        on_missing = (metadata.get("etagOnMissingKey") or "mismatch").strip().lower()
        if on_missing not in ("mismatch", "accept"):
            raise MetadataError(f"metadata field 'etagOnMissingKey': use mismatch or accept, not {on_missing!r}")
        self._strict = "1" if on_missing == "mismatch" else "0"
        if (metadata.get("queryIndexes") or "").strip():
            log.warning("state store %s: queryIndexes is ignored; the Query API over RediSearch is not "
                        "supported by tandem-redis", metadata.name)

    async def connect(self, client: aioredis.Redis) -> None:
        await super().connect(client)
        self._replicas = await self._count_replicas(client)

    @staticmethod
    async def _count_replicas(client: aioredis.Redis) -> int:
        """Replicas to ``WAIT`` for on strong writes; 0 when an ACL user may not run ``INFO``."""
        try:
            info = await client.info("replication")
        except ResponseError as exc:
            log.info("redis state store: INFO replication refused (%s); strong writes will not wait", exc)
            return 0
        return int(info.get("connected_slaves", 0) or 0) if isinstance(info, dict) else 0

    # -- reads ---------------------------------------------------------------

    async def _read(self, keys: Sequence[str]) -> list[object]:
        settings, client = self.connection()
        get = self.script(scripts.STATE_GET)
        rows: list[object] = []
        with translate(StateError, "get", settings):
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start:start + _CHUNK])
                reply = await get(keys=chunk, client=client)
                rows.extend(reply)
        return rows

    async def get(self, request: GetRequest) -> GetResponse | None:
        (row,) = await self._read([request.key])
        return _decode(request.key, row)

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[BulkGetItem]:
        keys = [req.key for req in requests]
        if not keys:
            return []
        rows = await self._read(keys)
        items: list[BulkGetItem] = []
        for key, row in zip(keys, rows, strict=True):
            try:
                found = _decode(key, row)
            except StateError as exc:
                items.append(BulkGetItem(key=key, error=str(exc)))
                continue
            if found is None:
                items.append(BulkGetItem(key=key))
            else:
                items.append(BulkGetItem(key=key, data=found.data, etag=found.etag, metadata=found.metadata))
        return items

    # -- writes --------------------------------------------------------------

    def _args(self, op: TransactionOp) -> list[bytes | str]:
        """The five script arguments of one operation."""
        if isinstance(op, DeleteRequest):
            return ["del", _etag(op.etag), b"", "0", ""]
        if not isinstance(op, SetRequest):
            raise StateError(f"unsupported transaction operation {type(op).__name__}")
        if not isinstance(op.value, (bytes, bytearray, memoryview)):
            raise StateError(f"value for key {op.key!r} must be bytes")
        ttl = op.expires_in(self._default_ttl)
        ttl_arg = "0" if ttl is None else str(ttl)  # 0: no expiry (a plain save clears an earlier one)
        return ["set", _etag(op.etag), bytes(op.value), "1" if op.first_write else "0", ttl_arg]

    async def _run(self, mode: str, ops: Sequence[TransactionOp]) -> object:
        settings, client = self.connection()
        write = self.script(scripts.STATE_WRITE)
        keys = [op.key for op in ops]
        args: list[bytes | str] = [mode, self._strict]
        for op in ops:
            args.extend(self._args(op))
        with translate(StateError, "save" if mode == "each" else "transaction", settings):
            try:
                reply = await write(keys=keys, args=args, client=client)
            except ResponseError as exc:
                _raise_script_error(str(exc), ops)
                raise
        if self._replicas and any(op.consistency is Consistency.STRONG for op in ops):
            await self._wait_replicas(client, settings)
        return reply

    async def _wait_replicas(self, client: aioredis.Redis, settings: RedisSettings) -> None:
        """Dapr's strong consistency: wait (at most 1 s) for the replicas to acknowledge."""
        with translate(StateError, f"waiting for {self._replicas} replicas", settings):
            await client.wait(self._replicas, 1000)

    async def _each(self, ops: Sequence[TransactionOp]) -> None:
        """Independent operations in one round trip per chunk; raise the first failure."""
        for start in range(0, len(ops), _CHUNK):
            chunk = ops[start:start + _CHUNK]
            replies = await self._run("each", chunk)
            if not isinstance(replies, list):
                raise StateError(f"unexpected reply from redis: {replies!r}")
            for reply in replies:
                text = _text(reply)
                if text:
                    _raise_script_error(text, chunk)
                    raise StateError(text)

    async def bulk_set(self, requests: Sequence[SetRequest]) -> None:
        """Each item on its own, as Dapr's bulk save: a failed ETag does not stop the others."""
        await self._each(requests)

    async def bulk_delete(self, requests: Sequence[DeleteRequest]) -> None:
        """Each item on its own, as ``bulk_set``."""
        await self._each(requests)

    async def transact(self, operations: Sequence[TransactionOp]) -> None:
        """One script: every ETag is checked before anything is written, so all or nothing."""
        if operations:
            await self._run("all", operations)


def _raise_script_error(text: str, ops: Sequence[TransactionOp]) -> None:
    """Turn the script's ``TANDEM_*`` error into the contract's exception; other texts are left alone."""
    code, _, rest = text.partition(" ")
    index, _, message = rest.partition(" ")
    if code not in ("TANDEM_MISMATCH", "TANDEM_INVALID") or not index.isdigit():
        return
    op = ops[min(int(index), len(ops)) - 1]
    if len(ops) > 1:
        message = f"operation {int(index) - 1}: {message}"
    if code == "TANDEM_MISMATCH" or isinstance(op, DeleteRequest):
        raise ETagMismatch(message)  # every failed delete is a mismatch, as in Dapr
    raise StateError(message)
