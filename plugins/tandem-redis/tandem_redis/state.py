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
from datetime import datetime, timezone

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.state import (
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
    StateStore,
    TransactionOp,
)

from . import scripts
from .connection import RedisSettings, parse_settings, translate

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
    """Dapr's ``ttlExpireTime`` (RFC 3339, UTC) from ``PTTL`` milliseconds."""
    if not isinstance(pttl, int) or pttl <= 0:
        return {}
    moment = datetime.fromtimestamp(time.time() + pttl / 1000, tz=timezone.utc)
    return {"ttlExpireTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


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


class RedisStateStore(StateStore):
    """Hash-per-key state in Redis, compatible with Dapr's ``state.redis``."""

    def __init__(self) -> None:
        self._settings: RedisSettings | None = None
        self._client: aioredis.Redis | None = None
        self._get: AsyncScript | None = None
        self._write: AsyncScript | None = None
        self._default_ttl: int | None = None
        self._strict = "1"
        self._replicas = 0

    def features(self) -> frozenset[str]:
        return _FEATURES

    async def init(self, metadata: ComponentMetadata) -> None:
        settings = self._settings = parse_settings(metadata, state=True)
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
        client = self._client = settings.client()
        self._get = client.register_script(scripts.STATE_GET)
        self._write = client.register_script(scripts.STATE_WRITE)
        try:
            with translate(StateError, f"state store {metadata.name}", settings):
                await client.script_load(scripts.STATE_GET)
                await client.script_load(scripts.STATE_WRITE)
                self._replicas = await self._count_replicas(client)
        except BaseException:
            await self.close()
            raise

    @staticmethod
    async def _count_replicas(client: aioredis.Redis) -> int:
        """Replicas to ``WAIT`` for on strong writes; 0 when an ACL user may not run ``INFO``."""
        try:
            info = await client.info("replication")
        except ResponseError as exc:
            log.info("redis state store: INFO replication refused (%s); strong writes will not wait", exc)
            return 0
        return int(info.get("connected_slaves", 0) or 0) if isinstance(info, dict) else 0

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        if self._settings is not None:
            self._settings.cleanup()

    def _ready(self) -> tuple[RedisSettings, aioredis.Redis, AsyncScript, AsyncScript]:
        if self._settings is None or self._client is None or self._get is None or self._write is None:
            raise StateError("redis state store is not initialised or closed")
        return self._settings, self._client, self._get, self._write

    # -- reads ---------------------------------------------------------------

    async def _read(self, keys: Sequence[str]) -> list[object]:
        settings, client, get, _ = self._ready()
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
        ttl = op.ttl if op.ttl is not None else self._default_ttl
        if ttl is not None and ttl < -1:
            raise StateError(f"invalid ttl {ttl}: must be -1 or greater")
        # No TTL at all stores no expiry: a plain save clears one an earlier save set.
        ttl_arg = str(ttl) if ttl is not None and ttl > 0 else "0"
        return ["set", _etag(op.etag), bytes(op.value), "1" if op.first_write else "0", ttl_arg]

    async def _run(self, mode: str, ops: Sequence[TransactionOp]) -> object:
        settings, client, _, write = self._ready()
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

    async def set(self, request: SetRequest) -> None:
        await self._each((request,))

    async def delete(self, request: DeleteRequest) -> None:
        await self._each((request,))

    async def bulk_set(self, requests: Sequence[SetRequest]) -> None:
        """Each item on its own, as Dapr's bulk save: a failed ETag does not stop the others."""
        await self._each(requests)

    async def bulk_delete(self, requests: Sequence[DeleteRequest]) -> None:
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
