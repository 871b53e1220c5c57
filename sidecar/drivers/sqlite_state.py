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
import concurrent.futures
import contextlib
import logging
import math
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from ..components.base import ComponentMetadata, MetadataError
from ..components.state import (
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
    StateStore,
    TransactionOp,
)
from ..components.state_query import QueryRow, run_query

__all__ = ["SqliteStateStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_FEATURES = frozenset({StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value, StateFeature.TTL.value,
                       StateFeature.QUERY_API.value})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PRAGMA = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(\s*([A-Za-z0-9_.+-]*)\s*\))?\s*")
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


def _identifier(md: ComponentMetadata, key: str, default: str) -> str:
    """Table names are interpolated into SQL, so only plain identifiers are allowed."""
    value = md.get(key) or default
    if not _IDENTIFIER.fullmatch(value):
        raise MetadataError(f"metadata field {key!r}: invalid table name {value!r} (use letters, digits, _)")
    return value


def _seconds(md: ComponentMetadata, key: str, alias: str, default: float) -> float:
    """A Go duration, or a bare number of seconds; also read from Dapr's legacy ``...InSeconds`` alias."""
    return md.get_duration(key if md.get(key) not in (None, "") else alias, default, bare_unit=1.0)


def _parse_connection_string(text: str) -> tuple[str, bool, bool, tuple[str, ...]]:
    """Turn Dapr's connection string into an SQLite URI: ``(uri, memory, read_only, pragmas)``.

    Dapr's Go driver takes ``_pragma=name(value)`` and ``_txlock`` query options;
    pragmas are run after connecting, other ``_`` options are driver-specific and
    dropped (writes here always use ``BEGIN IMMEDIATE``). SQLite's own URI
    parameters (``mode``, ``immutable``, ``vfs`` ...) pass through.
    """
    base, _, query = text.strip().partition("?")
    lowered = base.lower()
    memory = lowered.startswith((":memory:", "file::memory:"))
    pragmas: list[str] = []
    params: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "_pragma":
            match = _PRAGMA.fullmatch(value)
            if not match:
                raise MetadataError(f"metadata field 'connectionString': unsupported _pragma {value!r}")
            pragma, arg = match.groups()
            pragmas.append(f"PRAGMA {pragma}" if arg is None else f"PRAGMA {pragma}({arg})")
        elif not name.startswith("_") and not (memory and name in ("cache", "mode")):
            params.append((name, value))
    read_only = ("mode", "ro") in params or ("immutable", "1") in params
    if memory:
        return "file::memory:", True, False, tuple(pragmas)
    path = base[5:] if lowered.startswith("file:") else quote(base, safe="/")
    uri = "file:" + path + ("?" + urlencode(params) if params else "")
    return uri, False, read_only, tuple(pragmas)


def _parse_config(md: ComponentMetadata) -> _Config:
    conn = md.get("connectionString") or md.get("url")
    if not conn:
        raise MetadataError("metadata field 'connectionString' is required (a file path such as data.db)")
    table = _identifier(md, "tableName", "state")
    metadata_table = _identifier(md, "metadataTableName", "metadata")
    if table.lower() == metadata_table.lower():
        raise MetadataError("metadata fields 'tableName' and 'metadataTableName' must differ")
    timeout = _seconds(md, "timeout", "timeoutInSeconds", 20.0)
    if timeout < 1.0:
        raise MetadataError("metadata field 'timeout': must be at least 1s")
    busy_timeout = md.get_duration("busyTimeout", 2.0)
    cleanup = _seconds(md, "cleanupInterval", "cleanupIntervalInSeconds", 3600.0)
    wal = not md.get_bool("disableWAL")
    md.get_bool("actorStateStore")  # validated here; the runtime acts on it, not the driver
    uri, memory, read_only, pragmas = _parse_connection_string(conn)
    return _Config(uri, memory, read_only, table, metadata_table, timeout, busy_timeout, cleanup, wal, pragmas)


def _ts(moment: datetime) -> str:
    """SQLite's ``CURRENT_TIMESTAMP`` layout plus milliseconds; compares correctly with Dapr's rows."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _rfc3339(stored: object) -> str:
    """Format a stored ``expiration_time`` as Dapr's ``ttlExpireTime`` (RFC 3339, UTC)."""
    text = _text(stored)
    try:
        moment = datetime.strptime(text[:19].replace("T", " "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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


class SqliteStateStore(StateStore):
    """SQLite-backed store; one worker thread and one connection per instance."""

    def __init__(self) -> None:
        self._cfg: _Config | None = None
        self._sql: _Sql | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # used only from the worker thread
        self._deadline = math.inf  # of the operation running in the worker
        self._gc_task: asyncio.Task[None] | None = None

    def features(self) -> frozenset[str]:
        return _FEATURES


    async def init(self, metadata: ComponentMetadata) -> None:
        cfg = self._cfg = _parse_config(metadata)
        self._sql = _Sql(cfg.table, cfg.metadata_table)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"tandem-sqlite-{metadata.name}")
        try:
            await self._run(self._open)
        except BaseException:
            await self.close()
            raise
        if cfg.cleanup_interval > 0:
            self._gc_task = asyncio.get_running_loop().create_task(self._gc_loop(cfg.cleanup_interval))

    async def close(self) -> None:
        if self._gc_task is not None:
            self._gc_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gc_task
            self._gc_task = None
        executor, self._executor = self._executor, None
        if executor is not None:
            # Runs after any queued operation, in the thread that owns the connection.
            await asyncio.get_running_loop().run_in_executor(executor, self._close_connection)
            executor.shutdown(wait=False)

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _open(self) -> None:
        cfg, sql = self._require()
        conn = sqlite3.connect(cfg.uri, uri=True, isolation_level=None, timeout=max(cfg.busy_timeout, 0.0),
                               cached_statements=64)
        self._conn = conn
        conn.text_factory = bytes  # values come back as bytes with no decode/encode round trip
        if cfg.memory:
            conn.execute("PRAGMA journal_mode = MEMORY").fetchall()
        elif not cfg.read_only:
            mode = conn.execute(f"PRAGMA journal_mode = {'WAL' if cfg.wal else 'DELETE'}").fetchone()
            if cfg.wal and (not mode or _text(mode[0]).lower() != "wal"):
                log.warning("sqlite state store %s: WAL journal mode unavailable (got %r)", cfg.uri, mode)
        for pragma in cfg.pragmas:
            conn.execute(pragma).fetchall()
        # Aborts a statement once its operation's deadline (``timeout``) has passed.
        conn.set_progress_handler(lambda: time.monotonic() > self._deadline, 10_000)
        tables = conn.execute(sql.tables, (cfg.table, cfg.metadata_table)).fetchone()[0]
        if tables == 2 and conn.execute(sql.migrated).fetchone()[0]:
            return  # already set up: no write lock needed at startup
        self._write(lambda c: [c.execute(stmt) for stmt in sql.schema])


    def _require(self) -> tuple[_Config, _Sql]:
        if self._cfg is None or self._sql is None:
            raise StateError("sqlite state store is not initialised")
        return self._cfg, self._sql

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StateError("sqlite state store is closed")
        return self._conn

    async def _run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the worker thread, bounded by the ``timeout`` metadata."""
        cfg, _ = self._require()
        if self._executor is None:
            raise StateError("sqlite state store is closed")
        deadline = time.monotonic() + cfg.timeout
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn, deadline)
        except RuntimeError as exc:  # executor shut down under us
            raise StateError(f"sqlite state store is closed: {exc}") from None

    def _call(self, fn: Callable[[], T], deadline: float) -> T:
        if time.monotonic() > deadline:
            raise StateError("sqlite state store: timed out waiting for earlier operations")
        self._deadline = deadline
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "interrupt" in str(exc):
                raise StateError("sqlite state store: operation timed out") from None
            raise StateError(f"sqlite state store: {exc}") from exc
        except sqlite3.Error as exc:
            raise StateError(f"sqlite state store: {exc}") from exc
        finally:
            self._deadline = math.inf

    def _write(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock is held from the first read."""
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(conn)
            self._deadline = math.inf  # never interrupt a COMMIT half-way
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result


    async def get(self, request: GetRequest) -> GetResponse | None:
        _, sql = self._require()

        def op() -> GetResponse | None:
            now = _ts(datetime.now(timezone.utc))
            row = self._db().execute(sql.get, (request.key, now)).fetchone()
            if row is None:
                return None
            value, is_binary, etag, expires = row
            metadata = {} if expires is None else {"ttlExpireTime": _rfc3339(expires)}
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
                for key, value, is_binary, etag, expires in self._db().execute(stmt, (now, *chunk)):
                    name = _text(key)
                    metadata = {} if expires is None else {"ttlExpireTime": _rfc3339(expires)}
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
            for raw_key, value, is_binary, etag in self._db().execute(sql.scan, (pattern, now)):
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
        if op.ttl is not None and op.ttl < -1:
            raise StateError(f"invalid ttl {op.ttl}: must be -1 or greater")
        text, is_binary = _encode(op.value)
        # No ttl (or -1) stores no expiry: a plain set clears a previous one, as in Dapr.
        expires = _ts(moment + timedelta(seconds=op.ttl)) if op.ttl and op.ttl > 0 else None
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

        await self._run(lambda: self._write(body))

    async def set(self, request: SetRequest) -> None:
        await self._write_ops((request,))

    async def delete(self, request: DeleteRequest) -> None:
        await self._write_ops((request,))

    async def bulk_set(self, requests: Sequence[SetRequest]) -> None:
        """Atomic: one transaction, all items or none."""
        await self._write_ops(requests)

    async def bulk_delete(self, requests: Sequence[DeleteRequest]) -> None:
        """Atomic: one transaction, all items or none."""
        await self._write_ops(requests)

    async def transact(self, operations: Sequence[TransactionOp]) -> None:
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

        return await self._run(lambda: self._write(body))

    async def _gc_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await self.cleanup_expired()
            except StateError as exc:
                log.warning("sqlite state store: expired-row cleanup failed: %s", exc)
                continue
            if removed > 0:
                log.debug("sqlite state store: removed %d expired rows", removed)
