"""``state.sqlite``: durable state in one SQLite file, compatible with Dapr's ``state.sqlite``.

Metadata names, table layout, value encoding (JSON text, or base64 with
``is_binary``), UUID ETags and ``expiration_time`` timestamps match Dapr's
component, so a Dapr user's component files and database files keep working.

Several ``tandemd`` processes may share one file: it runs in WAL mode and
every write is one ``BEGIN IMMEDIATE`` transaction, so a read-check-write
(ETag guard, first-write) is atomic across processes. SQLite calls block, so
each store owns one worker thread that owns its one connection; every
operation (a whole transaction included) runs there as one synchronous call.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from ..components.base import ComponentMetadata, MetadataError
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
from ..components.state_query import QueryRow, run_query
from ._sqlite import SqliteWorker, identifier, operation_timeout, parse_connection_string, seconds

__all__ = ["SqliteStateStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_FEATURES = frozenset({StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value, StateFeature.TTL.value,
                       StateFeature.QUERY_API.value})
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit


@dataclass(frozen=True)
class _Config:
    uri: str
    memory: bool
    read_only: bool
    table: str
    metadata_table: str
    timeout: float
    busy_timeout: float
    cleanup_interval: float
    wal: bool
    pragmas: tuple[str, ...]


def _parse_config(md: ComponentMetadata) -> _Config:
    conn = md.get("connectionString") or md.get("url")
    if not conn:
        raise MetadataError("metadata field 'connectionString' is required (a file path such as data.db)")
    table = identifier(md, "tableName", "state")
    metadata_table = identifier(md, "metadataTableName", "metadata")
    if table.lower() == metadata_table.lower():
        raise MetadataError("metadata fields 'tableName' and 'metadataTableName' must differ")
    timeout = operation_timeout(md)
    busy_timeout = md.get_duration("busyTimeout", 2.0)
    cleanup = seconds(md, "cleanupInterval", "cleanupIntervalInSeconds", 3600.0)
    wal = not md.get_bool("disableWAL")
    md.get_bool("actorStateStore")  # validated here; the runtime acts on it, not the driver
    uri, memory, read_only, pragmas = parse_connection_string(conn)
    return _Config(uri, memory, read_only, table, metadata_table, timeout, busy_timeout, cleanup, wal, pragmas)


def _ts(moment: datetime) -> str:
    """SQLite's ``CURRENT_TIMESTAMP`` layout plus milliseconds; compares correctly with Dapr's rows."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _expire_metadata(stored: object) -> dict[str, str]:
    """A stored ``expiration_time`` (UTC) as Dapr's ``ttlExpireTime``."""
    if stored is None:
        return {}
    text = _text(stored)
    try:
        moment = datetime.strptime(text[:19].replace("T", " "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return {"ttlExpireTime": text}
    return expire_time_metadata(moment)


def _encode(value: bytes) -> tuple[str, int]:
    """JSON text as-is (``is_binary`` 0); anything not UTF-8 as base64 (``is_binary`` 1)."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise StateError("state values must be bytes")
    raw = bytes(value)
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), 1


def _decode(value: object, is_binary: object) -> bytes:
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    if not is_binary or is_binary in (b"0", b"false"):
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise StateError("stored binary value is not valid base64") from None


def _like_escape(text: str) -> str:
    """``text`` as a literal LIKE pattern (with ``ESCAPE '\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    if not _UUID.fullmatch(etag):
        raise ETagInvalid(f"invalid etag {etag!r}: this store issues UUID etags")
    return etag


class _Sql:
    """The statements for one table pair, built once (names are validated identifiers)."""

    def __init__(self, table: str, meta: str) -> None:
        live = "(expiration_time IS NULL OR expiration_time > ?)"
        cols = "value, is_binary, etag, expiration_time"
        self.schema = (
            f"CREATE TABLE IF NOT EXISTS {meta} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
            (f"CREATE TABLE IF NOT EXISTS {table} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL, "
             "is_binary BOOLEAN NOT NULL, etag TEXT NOT NULL, expiration_time TIMESTAMP DEFAULT NULL, "
             "update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"),
            f"CREATE INDEX IF NOT EXISTS idx_{table}_expiration_time ON {table} (expiration_time)",
            # Dapr's migration level: without it Dapr would try to re-create the table.
            f"INSERT OR IGNORE INTO {meta} (key, value) VALUES ('migrations', '1')",
        )
        self.tables = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)"
        self.migrated = f"SELECT count(*) FROM {meta} WHERE key = 'migrations'"
        self.get = f"SELECT {cols} FROM {table} WHERE key = ? AND {live}"
        self.bulk = f"SELECT key, {cols} FROM {table} WHERE {live} AND key IN "
        self.scan = f"SELECT key, value, is_binary, etag FROM {table} WHERE key LIKE ? ESCAPE '\\' AND {live}"
        self.exists = f"SELECT 1 FROM {table} WHERE key = ? AND {live}"
        self.upsert = (f"INSERT OR REPLACE INTO {table} (key, value, is_binary, etag, update_time, expiration_time) "
                       "VALUES (?, ?, ?, ?, ?, ?)")
        self.update = (f"UPDATE {table} SET value = ?, is_binary = ?, etag = ?, update_time = ?, "
                       f"expiration_time = ? WHERE key = ? AND etag = ? AND {live}")
        self.delete = f"DELETE FROM {table} WHERE key = ?"
        self.delete_etag = f"DELETE FROM {table} WHERE key = ? AND etag = ? AND {live}"
        # Claim the cleanup turn: succeeds (1 row) only if nobody cleaned this table recently.
        self.claim_cleanup = (
            f"INSERT INTO {meta} (key, value) VALUES ('last-cleanup-{table}', CURRENT_TIMESTAMP) "
            "ON CONFLICT (key) DO UPDATE SET value = CURRENT_TIMESTAMP WHERE strftime('%s', value) IS NULL "
            "OR (strftime('%s', CURRENT_TIMESTAMP) - strftime('%s', value)) * 1000 >= ?"
        )
        self.delete_expired = f"DELETE FROM {table} WHERE expiration_time IS NOT NULL AND expiration_time <= ?"


class SqliteStateStore(AtomicStateStore):
    """SQLite-backed store; one worker thread and one connection per instance."""

    def __init__(self) -> None:
        self._cfg: _Config | None = None
        self._sql: _Sql | None = None
        self._worker = SqliteWorker(StateError, "sqlite state store")
        self._gc_task: asyncio.Task[None] | None = None

    def features(self) -> frozenset[str]:
        return _FEATURES


    async def init(self, metadata: ComponentMetadata) -> None:
        cfg = self._cfg = _parse_config(metadata)
        self._sql = _Sql(cfg.table, cfg.metadata_table)
        await self._worker.start(f"tandem-sqlite-{metadata.name}", cfg.timeout, self._open)
        self._gc_task = self._worker.start_cleanup(cfg.cleanup_interval, self.cleanup_expired, log,
                                                   "expired-row cleanup", "expired rows")

    async def close(self) -> None:
        if self._gc_task is not None:
            self._gc_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gc_task
            self._gc_task = None
        await self._worker.close()

    def _open(self) -> None:
        cfg, sql = self._require()

        def prepare(conn: sqlite3.Connection) -> None:
            conn.text_factory = bytes  # values come back as bytes with no decode/encode round trip
            if cfg.memory:
                conn.execute("PRAGMA journal_mode = MEMORY").fetchall()
            elif not cfg.read_only:
                mode = conn.execute(f"PRAGMA journal_mode = {'WAL' if cfg.wal else 'DELETE'}").fetchone()
                if cfg.wal and (not mode or _text(mode[0]).lower() != "wal"):
                    log.warning("sqlite state store %s: WAL journal mode unavailable (got %r)", cfg.uri, mode)

        conn = self._worker.connect(cfg.uri, cfg.busy_timeout, cfg.pragmas, prepare)
        tables = conn.execute(sql.tables, (cfg.table, cfg.metadata_table)).fetchone()[0]
        if tables == 2 and conn.execute(sql.migrated).fetchone()[0]:
            return  # already set up: no write lock needed at startup
        self._worker.write(lambda c: [c.execute(stmt) for stmt in sql.schema])


    def _require(self) -> tuple[_Config, _Sql]:
        if self._cfg is None or self._sql is None:
            raise StateError("sqlite state store is not initialised")
        return self._cfg, self._sql

    async def _run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the worker thread, bounded by the ``timeout`` metadata."""
        self._require()
        return await self._worker.run(fn)


    async def get(self, request: GetRequest) -> GetResponse | None:
        _, sql = self._require()

        def op() -> GetResponse | None:
            now = _ts(datetime.now(timezone.utc))
            row = self._worker.db().execute(sql.get, (request.key, now)).fetchone()
            if row is None:
                return None
            value, is_binary, etag, expires = row
            metadata = _expire_metadata(expires)
            return GetResponse(data=_decode(value, is_binary), etag=_text(etag), metadata=metadata)

        return await self._run(op)

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[BulkGetItem]:
        _, sql = self._require()
        keys = list(dict.fromkeys(req.key for req in requests))
        if not keys:
            return []

        def op() -> dict[str, BulkGetItem]:
            now = _ts(datetime.now(timezone.utc))
            found: dict[str, BulkGetItem] = {}
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                stmt = sql.bulk + "(" + ",".join("?" * len(chunk)) + ")"
                for key, value, is_binary, etag, expires in self._worker.db().execute(stmt, (now, *chunk)):
                    name = _text(key)
                    metadata = _expire_metadata(expires)
                    try:
                        found[name] = BulkGetItem(key=name, data=_decode(value, is_binary), etag=_text(etag),
                                                  metadata=metadata)
                    except StateError as exc:
                        found[name] = BulkGetItem(key=name, error=str(exc))
            return found

        found = await self._run(op)
        return [found.get(req.key) or BulkGetItem(key=req.key) for req in requests]


    async def query(self, query: Query, key_prefix: str) -> QueryPage:
        """Fetch the app's live rows and evaluate them in Python, all in the worker thread.

        Evaluating in Python keeps the semantics identical to the in-memory store
        (and needs no JSON1); the worker keeps the event loop free meanwhile.
        """
        _, sql = self._require()
        pattern = _like_escape(key_prefix) + "%"

        def op() -> QueryPage:
            now = _ts(datetime.now(timezone.utc))
            rows: list[QueryRow] = []
            for raw_key, value, is_binary, etag in self._worker.db().execute(sql.scan, (pattern, now)):
                key = _text(raw_key)
                if not key.startswith(key_prefix):  # LIKE ignores ASCII case
                    continue
                try:
                    data = _decode(value, is_binary)
                except StateError:  # corrupt base64: return the stored text, don't fail the query
                    data = value if isinstance(value, bytes) else str(value).encode()
                rows.append((key, data, _text(etag)))
            return run_query(query, rows)

        return await self._run(op)

    def _apply(self, conn: sqlite3.Connection, op: TransactionOp, moment: datetime) -> None:
        _, sql = self._require()
        now = _ts(moment)
        etag = _check_etag(op.etag)
        if isinstance(op, DeleteRequest):
            if etag is None:
                conn.execute(sql.delete, (op.key,))
            elif conn.execute(sql.delete_etag, (op.key, etag, now)).rowcount == 0:
                raise ETagMismatch(f"etag mismatch for key {op.key!r}")
            return
        if not isinstance(op, SetRequest):
            raise StateError(f"unsupported transaction operation {type(op).__name__}")
        ttl = op.expires_in()
        text, is_binary = _encode(op.value)
        expires = None if ttl is None else _ts(moment + timedelta(seconds=ttl))
        new_etag = str(uuid.uuid4())
        if etag is not None:
            params = (text, is_binary, new_etag, now, expires, op.key, etag, now)
            if conn.execute(sql.update, params).rowcount == 0:
                raise ETagMismatch(f"etag mismatch for key {op.key!r}")
            return
        if op.first_write and conn.execute(sql.exists, (op.key, now)).fetchone() is not None:
            raise ETagMismatch(f"first-write: key {op.key!r} already exists")
        conn.execute(sql.upsert, (op.key, text, is_binary, new_etag, now, expires))

    async def _write_ops(self, ops: Sequence[TransactionOp]) -> None:
        if not ops:
            return

        def body(conn: sqlite3.Connection) -> None:
            moment = datetime.now(timezone.utc)
            for op in ops:
                self._apply(conn, op, moment)

        await self._run(lambda: self._worker.write(body))

    async def transact(self, operations: Sequence[TransactionOp]) -> None:
        """One ``BEGIN IMMEDIATE`` transaction: atomic across the processes sharing the file."""
        await self._write_ops(operations)


    async def cleanup_expired(self) -> int:
        """Delete expired rows unless another process did so within ``cleanupInterval``; -1 if skipped."""
        cfg, sql = self._require()
        # A little slack so timer jitter does not make every other turn a skip.
        threshold_ms = int(cfg.cleanup_interval * 1000 * 0.9)

        def body(conn: sqlite3.Connection) -> int:
            if conn.execute(sql.claim_cleanup, (threshold_ms,)).rowcount == 0:
                return -1
            now = _ts(datetime.now(timezone.utc))
            return conn.execute(sql.delete_expired, (now,)).rowcount

        return await self._run(lambda: self._worker.write(body))
