"""``pubsub.sqlite``: a durable, at-least-once broker in one SQLite file, shared by every process of a machine.

Tables (``P`` = the ``tableName`` prefix)::

    P_messages    seq (AUTOINCREMENT), topic, data, metadata (JSON), content_type, published_at
    P_groups      id, topic, name, created_seq, created_at      -- one consumer group of one topic
    P_deliveries  (group_id, seq), visible_at, lease, attempts  -- what a group has not acknowledged yet
    P_meta        key, value                                     -- the cleanup turn

A publish inserts the message and one delivery row per existing group of its
topic in one ``BEGIN IMMEDIATE`` transaction, committed before it returns, so a
group receives everything published after it was created, subscribed or not.
A subscriber claims visible rows (``lease`` = its token, ``visible_at`` = now +
``processingTimeout``), so a SIGKILLed process's messages come back by
themselves; an ack deletes the row, a nack pushes ``visible_at`` by the back-off.

SQLite calls block, so each store owns one worker thread owning its one
connection. Idle subscribers poll with a cheap read; a publish in this process
wakes this process's subscribers of the topic at once.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote

from ..components.base import ComponentMetadata, MetadataError
from ..components.pubsub import (
    BulkPublishEntry,
    BulkPublishFailure,
    Message,
    MessageHandler,
    PublishRequest,
    PubSub,
    PubSubError,
    PubSubFeature,
    SubscribeRequest,
    Subscription,
)
from ..components.subscription_loop import Backoff, LoopSettings, SubscriptionLoop
from ._sqlite import SqliteWorker, identifier, operation_timeout, parse_connection_string
from ._sqlite_subscription import SqliteSource, wake

__all__ = ["SqlitePubSub"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_CHUNK = 500  # rows per cleanup DELETE and most per claim
_Row = tuple[str, bytes, str, "str | None", float]  # topic, data, metadata JSON, content type, published at


@dataclass(frozen=True)
class _Config:
    uri: str
    key: str  # identifies the database and table prefix within this process
    prefix: str
    processing_timeout: float
    backoff: float
    max_backoff: float
    poll: float
    retention: float
    cleanup_interval: float
    busy_timeout: float
    timeout: float
    pragmas: tuple[str, ...]

    def loop_settings(self, concurrency: int) -> LoopSettings:
        return LoopSettings(concurrency=concurrency, retry=Backoff(self.backoff, self.max_backoff),
                            poll_interval=self.poll, errors=Backoff(self.poll, self.poll * 64),
                            close_timeout=max(5.0, self.timeout))


def _duration(md: ComponentMetadata, key: str, default: float, *, minimum: float = 0.0) -> float:
    value = md.get_duration(key, default)
    if value < minimum:
        raise MetadataError(f"metadata field {key!r}: must be {'positive' if minimum > 0 else 'zero or more'}")
    return value


def _parse_config(md: ComponentMetadata, instance: int) -> _Config:
    conn = md.require("connectionString")
    uri, memory, read_only, pragmas = parse_connection_string(conn)
    if read_only:
        raise MetadataError("metadata field 'connectionString': a broker needs a writable database")
    prefix = identifier(md, "tableName", "pubsub")
    key = f"memory:{instance}" if memory else os.path.realpath(unquote(uri[5:].partition("?")[0]))
    timeout = operation_timeout(md)
    return _Config(
        uri=uri, key=f"{key}|{prefix}", prefix=prefix,
        processing_timeout=_duration(md, "processingTimeout", 60.0, minimum=1e-3),
        backoff=_duration(md, "redeliverBackoff", 0.05),
        max_backoff=_duration(md, "maxRedeliveryBackoff", 5.0),
        poll=_duration(md, "pollInterval", 0.05, minimum=1e-3),
        retention=_duration(md, "retentionPeriod", 3600.0),
        cleanup_interval=_duration(md, "cleanupInterval", 300.0),
        busy_timeout=_duration(md, "busyTimeout", 5.0),
        timeout=timeout, pragmas=pragmas,
    )


class _Sql:
    """The statements for one table prefix (a validated identifier)."""

    def __init__(self, p: str) -> None:
        m, g, d, meta = f"{p}_messages", f"{p}_groups", f"{p}_deliveries", f"{p}_meta"
        self.schema = (
            f"CREATE TABLE IF NOT EXISTS {m} (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
            "data BLOB NOT NULL, metadata TEXT NOT NULL, content_type TEXT, published_at REAL NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {m}_published ON {m} (published_at)",
            f"CREATE TABLE IF NOT EXISTS {g} (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, name TEXT NOT NULL, "
            "created_seq INTEGER NOT NULL, created_at REAL NOT NULL, UNIQUE (topic, name))",
            f"CREATE TABLE IF NOT EXISTS {d} (group_id INTEGER NOT NULL, seq INTEGER NOT NULL, "
            "visible_at REAL NOT NULL, lease TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
            "PRIMARY KEY (group_id, seq)) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {d}_visible ON {d} (group_id, visible_at, seq)",
            f"CREATE INDEX IF NOT EXISTS {d}_seq ON {d} (seq)",
            f"CREATE TABLE IF NOT EXISTS {meta} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
        )
        self.insert = f"INSERT INTO {m} (topic, data, metadata, content_type, published_at) VALUES (?, ?, ?, ?, ?)"
        self.fan_out = f"INSERT INTO {d} (group_id, seq, visible_at) SELECT id, ?, ? FROM {g} WHERE topic = ?"
        self.add_group = (f"INSERT OR IGNORE INTO {g} (topic, name, created_seq, created_at) "
                          f"VALUES (?, ?, (SELECT coalesce(max(seq), 0) FROM {m}), ?)")
        self.group_id = f"SELECT id FROM {g} WHERE topic = ? AND name = ?"
        self.probe = f"SELECT 1 FROM {d} WHERE group_id = ? AND visible_at <= ? LIMIT 1"
        self.due = (f"SELECT seq, attempts FROM {d} WHERE group_id = ? AND visible_at <= ? "
                    "ORDER BY visible_at, seq LIMIT ?")
        self.lease = f"UPDATE {d} SET visible_at = ?, lease = ?, attempts = attempts + 1 WHERE group_id = ? AND seq = ?"
        self.load = f"SELECT seq, topic, data, metadata, content_type FROM {m} WHERE seq IN "
        # A late success still counts unless someone else holds the message now.
        self.ack = f"DELETE FROM {d} WHERE group_id = ? AND seq = ? AND (lease = ? OR lease IS NULL)"
        self.nack = f"UPDATE {d} SET visible_at = ?, lease = NULL WHERE group_id = ? AND seq = ? AND lease = ?"
        self.release = (f"UPDATE {d} SET visible_at = ?, lease = NULL, attempts = attempts - ? "
                        "WHERE group_id = ? AND seq = ? AND lease = ?")
        self.forget = f"DELETE FROM {m} WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM {d} WHERE seq = ?)"
        self.claim_cleanup = (f"INSERT INTO {meta} (key, value) VALUES ('last-cleanup', ?) ON CONFLICT (key) "
                              "DO UPDATE SET value = excluded.value WHERE CAST(value AS REAL) <= ?")
        self.cleanup = (f"DELETE FROM {m} WHERE seq IN (SELECT seq FROM {m} WHERE published_at <= ? AND NOT EXISTS "
                        f"(SELECT 1 FROM {d} WHERE {d}.seq = {m}.seq) LIMIT {_CHUNK})")


class SqlitePubSub(PubSub):
    """SQLite-backed broker; one worker thread and one connection per instance."""

    def __init__(self) -> None:
        self._cfg: _Config | None = None
        self._sql: _Sql | None = None
        self._worker = SqliteWorker(PubSubError, "sqlite pubsub")
        self._full: bool | None = True  # the connection's synchronous mode; None: the user's pragma rules
        self._gc_task: asyncio.Task[None] | None = None
        self._queued: list[tuple[_Row, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None
        self.subscriptions: set[SubscriptionLoop] = set()

    def features(self) -> frozenset[str]:
        return frozenset({PubSubFeature.BULK_PUBLISH.value})

    def _ready(self) -> tuple[_Config, _Sql]:
        if self._cfg is None or self._sql is None:
            raise PubSubError("sqlite pubsub is not initialised")
        return self._cfg, self._sql

    async def init(self, metadata: ComponentMetadata) -> None:
        self._cfg = cfg = _parse_config(metadata, id(self))
        self._sql = _Sql(cfg.prefix)
        await self._worker.start(f"tandem-pubsub-{metadata.name}", cfg.timeout, self._open)
        self._gc_task = self._worker.start_cleanup(cfg.cleanup_interval, self.cleanup_acknowledged, log,
                                                   "cleanup of acknowledged messages", "acknowledged messages")

    async def close(self) -> None:
        """Release every subscription's messages, cancel handler calls still running, close the file."""
        subs, self.subscriptions = list(self.subscriptions), set()
        for sub in subs:
            await sub.close()
        for sub in subs:
            await sub.cancel_handlers()
        if self._gc_task is not None:
            self._gc_task.cancel()
        await asyncio.gather(*(t for t in (self._committer, self._gc_task) if t), return_exceptions=True)
        await self._worker.close()

    def _open(self) -> None:
        cfg, sql = self._ready()

        def prepare(conn: sqlite3.Connection) -> None:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if not mode or str(mode[0]).lower() not in ("wal", "memory"):
                log.warning("sqlite pubsub %s: WAL journal mode unavailable (got %r)", cfg.uri, mode)
            conn.execute("PRAGMA synchronous = FULL")  # a returned publish survives a power cut

        self._worker.connect(cfg.uri, cfg.busy_timeout, cfg.pragmas, prepare)
        # A user's synchronous pragma rules for every transaction.
        self._full = None if any("synchronous" in pragma.lower() for pragma in cfg.pragmas) else True
        self.write(lambda c: [c.execute(stmt) for stmt in sql.schema])

    @property
    def open(self) -> bool:
        return self._worker.open

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the worker thread, bounded by the ``timeout`` metadata."""
        return await self._worker.run(fn)

    def write(self, body: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """One ``BEGIN IMMEDIATE`` transaction (worker thread only).

        Only publishes need ``durable``: a claim or an ack lost to a power cut
        just means one more delivery, so those skip the fsync of their commit.
        """
        conn = self._worker.db()
        if self._full is not None and self._full != durable:
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._full = durable
        return self._worker.write(body)

    # -- publishing ---------------------------------------------------------------

    @staticmethod
    def _row(request: PublishRequest, now: float) -> _Row:
        if not isinstance(request.data, (bytes, bytearray, memoryview)):
            raise PubSubError("message data must be bytes")
        if not request.topic:
            raise PubSubError("a topic is required")
        return request.topic, bytes(request.data), json.dumps(dict(request.metadata)), request.content_type, now

    async def _insert(self, rows: Sequence[_Row]) -> None:
        """Each message, and one delivery per group its topic has now; then wake this process's subscribers."""
        cfg, sql = self._ready()

        def body(conn: sqlite3.Connection) -> None:
            for row in rows:
                seq = conn.execute(sql.insert, row).lastrowid
                conn.execute(sql.fan_out, (seq, row[4], row[0]))

        await self.run(functools.partial(self.write, body))
        wake(cfg.key, {row[0] for row in rows})

    async def publish(self, request: PublishRequest) -> None:
        """Group commit: publishes arriving while a commit runs share the next transaction (and fsync)."""
        row = self._row(request, time.time())
        waiter = asyncio.get_running_loop().create_future()
        self._queued.append((row, waiter))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.get_running_loop().create_task(self._commit_loop())
        await waiter

    async def _commit_loop(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            error: PubSubError | None = None
            try:
                await self._insert([row for row, _ in batch])
            except PubSubError as exc:
                error = exc
            for _, waiter in batch:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    async def bulk_publish(self, entries: Sequence[BulkPublishEntry]) -> list[BulkPublishFailure]:
        """All valid entries in one transaction: they all fail or none does."""
        now = time.time()
        rows, failed = [], []
        for entry in entries:
            try:
                rows.append(self._row(entry.request, now))
            except PubSubError as exc:
                failed.append(BulkPublishFailure(entry.entry_id, str(exc)))
        if not rows:
            return failed
        try:
            await self._insert(rows)
        except PubSubError as exc:
            return [BulkPublishFailure(entry.entry_id, str(exc)) for entry in entries]
        return failed

    # -- consuming (called by subscriptions) -------------------------------------

    async def subscribe(self, request: SubscribeRequest, handler: MessageHandler) -> Subscription:
        _, sql = self._ready()

        def body(conn: sqlite3.Connection) -> int:
            conn.execute(sql.add_group, (request.topic, request.consumer_group, time.time()))
            group_id: int = conn.execute(sql.group_id, (request.topic, request.consumer_group)).fetchone()[0]
            return group_id

        # Created before returning: every message published from now on is the group's.
        group_id = await self.run(lambda: self.write(body))
        cfg, _ = self._ready()
        source = SqliteSource(self, request.topic, group_id)
        source.loop = SubscriptionLoop(source, handler, cfg.loop_settings(request.concurrency),
                                       f"sqlite pubsub {request.topic}/{request.consumer_group}")
        self.subscriptions.add(source.loop)
        return source.loop.start()

    async def claim(self, group_id: int, token: str, limit: int) -> list[Message]:
        """Lease up to ``limit`` visible messages of the group (``Message.id`` is the seq)."""
        cfg, sql = self._ready()

        def body(conn: sqlite3.Connection) -> list[Message]:
            now = time.time()
            due = dict(conn.execute(sql.due, (group_id, now, min(limit, _CHUNK))).fetchall())
            conn.executemany(sql.lease, [(now + cfg.processing_timeout, token, group_id, seq) for seq in due])
            rows = conn.execute(sql.load + f"({','.join('?' * len(due))})", list(due)) if due else ()
            return [Message(topic=topic, data=bytes(data), metadata=json.loads(meta), content_type=content_type,
                            id=str(seq), redeliveries=due[seq]) for seq, topic, data, meta, content_type in rows]

        def op() -> list[Message]:
            # A read first: idle polls never take the write lock.
            if self._worker.db().execute(sql.probe, (group_id, time.time())).fetchone() is None:
                return []
            return self.write(body, durable=False)

        return await self.run(op)

    async def settle(self, group_id: int, token: str, acks: Sequence[int] = (),
                     nacks: Sequence[tuple[int, float]] = (), releases: Sequence[tuple[int, int]] = ()) -> None:
        """Acks, nacks ``(seq, delay)`` and releases ``(seq, undo)`` of one subscription, in one transaction."""
        cfg, sql = self._ready()

        def body(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.executemany(sql.ack, [(group_id, seq, token) for seq in acks])
            if cfg.retention == 0:
                conn.executemany(sql.forget, [(seq, seq) for seq in acks])
            conn.executemany(sql.nack, [(now + delay, group_id, seq, token) for seq, delay in nacks])
            conn.executemany(sql.release, [(now, undo, group_id, seq, token) for seq, undo in releases])

        await self.run(lambda: self.write(body, durable=False))

    async def cleanup_acknowledged(self) -> int:
        """Delete acknowledged messages older than ``retentionPeriod``; -1 if another process did so lately."""
        cfg, sql = self._ready()

        def op() -> int:
            now = time.time()
            # A little slack so timer jitter does not make every other turn a skip.
            turn = self.write(lambda c: c.execute(sql.claim_cleanup, (now, now - cfg.cleanup_interval * 0.9)).rowcount)
            if not turn:
                return -1
            total = 0
            while True:
                removed: int = self.write(lambda c: c.execute(sql.cleanup, (now - cfg.retention,)).rowcount)
                total += removed
                if removed < _CHUNK:
                    return total

        return await self.run(op)
