"""``placement.sqlite``: actor membership, claims and reminders in an SQLite file.

Used beside ``state.sqlite`` (same ``connectionString``, own tables), so every
sidecar of one machine that shares the actor state file shares placement too.
A claim and the liveness check of its holder happen in one ``BEGIN IMMEDIATE``
transaction, which is what makes "never active in two places" hold.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence

from ..components.base import ComponentMetadata
from ..components.placement import HostInfo, PlacementError, PlacementStore, ReminderRecord
from ._sqlite import SqliteWorker, operation_timeout, parse_connection_string

__all__ = ["SqlitePlacementStore"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tandem_actor_hosts (
        host_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, app_id TEXT NOT NULL, address TEXT NOT NULL,
        types TEXT NOT NULL, pid INTEGER NOT NULL, expires REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tandem_actor_claims (
        namespace TEXT NOT NULL, actor_key TEXT NOT NULL, host_id TEXT NOT NULL,
        PRIMARY KEY (namespace, actor_key))""",
    "CREATE INDEX IF NOT EXISTS tandem_actor_claims_host ON tandem_actor_claims (host_id)",
    """CREATE TABLE IF NOT EXISTS tandem_actor_reminders (
        namespace TEXT NOT NULL, actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, name TEXT NOT NULL,
        record TEXT NOT NULL, next_fire REAL NOT NULL,
        PRIMARY KEY (namespace, actor_type, actor_id, name))""",
    "CREATE INDEX IF NOT EXISTS tandem_actor_reminders_due "
    "ON tandem_actor_reminders (namespace, actor_type, next_fire)",
)


class SqlitePlacementStore(PlacementStore):
    """Placement tables in the SQLite file of ``connectionString``."""

    def __init__(self) -> None:
        self._worker = SqliteWorker(PlacementError, "sqlite placement store")

    async def init(self, metadata: ComponentMetadata) -> None:
        uri, memory, read_only, pragmas = parse_connection_string(metadata.require("connectionString"))
        if read_only:
            raise PlacementError("the actor placement store needs a writable database")
        busy = metadata.get_duration("busyTimeout", 2.0)

        def setup() -> None:
            def prepare(conn: sqlite3.Connection) -> None:
                if not memory:
                    conn.execute("PRAGMA journal_mode = WAL").fetchall()
                    conn.execute("PRAGMA synchronous = NORMAL").fetchall()

            self._worker.connect(uri, busy, pragmas, prepare)
            self._worker.write(lambda c: [c.execute(stmt) for stmt in _SCHEMA])

        await self._worker.start(f"tandem-placement-{metadata.name}", operation_timeout(metadata), setup)

    async def close(self) -> None:
        await self._worker.close()

    # membership
    async def heartbeat(self, host: HostInfo, ttl: float) -> None:
        expires = time.time() + ttl

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tandem_actor_hosts (host_id, namespace, app_id, address, types, pid, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host_id) DO UPDATE SET expires = excluded.expires, "
                "types = excluded.types, address = excluded.address",
                (host.host_id, host.namespace, host.app_id, host.address, json.dumps(list(host.types)),
                 host.pid, expires))
            # Rows of hosts long gone would otherwise pile up.
            conn.execute("DELETE FROM tandem_actor_hosts WHERE expires < ?", (time.time() - 3600,))

        await self._worker.run(lambda: self._worker.write(write))

    async def leave(self, host_id: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM tandem_actor_claims WHERE host_id = ?", (host_id,))
            conn.execute("DELETE FROM tandem_actor_hosts WHERE host_id = ?", (host_id,))

        await self._worker.run(lambda: self._worker.write(write))

    async def live_hosts(self, namespace: str) -> list[HostInfo]:
        def read() -> list[HostInfo]:
            rows = self._worker.db().execute(
                "SELECT host_id, app_id, address, types, namespace, pid FROM tandem_actor_hosts "
                "WHERE namespace = ? AND expires >= ? ORDER BY host_id", (namespace, time.time())).fetchall()
            return [HostInfo(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]) for r in rows]

        return await self._worker.run(read)

    # claims
    async def claim(self, namespace: str, actor_key: str, host_id: str) -> str | None:
        def write(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT c.host_id, h.expires FROM tandem_actor_claims c LEFT JOIN tandem_actor_hosts h "
                "ON h.host_id = c.host_id WHERE c.namespace = ? AND c.actor_key = ?",
                (namespace, actor_key)).fetchone()
            if row is not None and row[0] != host_id and row[1] is not None and row[1] >= time.time():
                return str(row[0])
            conn.execute("INSERT OR REPLACE INTO tandem_actor_claims (namespace, actor_key, host_id) VALUES (?, ?, ?)",
                         (namespace, actor_key, host_id))
            return None

        return await self._worker.run(lambda: self._worker.write(write))

    async def release(self, namespace: str, actor_keys: Sequence[str], host_id: str) -> None:
        if not actor_keys:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM tandem_actor_claims WHERE namespace = ? AND actor_key = ? AND host_id = ?",
                [(namespace, key, host_id) for key in actor_keys])

        await self._worker.run(lambda: self._worker.write(write))

    # reminders
    async def save_reminder(self, record: ReminderRecord) -> None:
        text = record.to_json()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO tandem_actor_reminders "
                "(namespace, actor_type, actor_id, name, record, next_fire) VALUES (?, ?, ?, ?, ?, ?)",
                (record.namespace, record.actor_type, record.actor_id, record.name, text, record.next_fire))

        await self._worker.run(lambda: self._worker.write(write))

    async def get_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> ReminderRecord | None:
        def read() -> ReminderRecord | None:
            row = self._worker.db().execute(
                "SELECT record FROM tandem_actor_reminders WHERE namespace = ? AND actor_type = ? "
                "AND actor_id = ? AND name = ?", (namespace, actor_type, actor_id, name)).fetchone()
            return ReminderRecord.from_json(row[0]) if row else None

        return await self._worker.run(read)

    async def delete_reminder(self, namespace: str, actor_type: str, actor_id: str, name: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM tandem_actor_reminders WHERE namespace = ? AND actor_type = ? "
                         "AND actor_id = ? AND name = ?", (namespace, actor_type, actor_id, name))

        await self._worker.run(lambda: self._worker.write(write))

    async def due_reminders(self, namespace: str, types: Sequence[str], now: float,
                            limit: int) -> list[ReminderRecord]:
        if not types:
            return []
        marks = ",".join("?" * len(types))

        def read() -> list[ReminderRecord]:
            rows = self._worker.db().execute(
                f"SELECT record FROM tandem_actor_reminders WHERE namespace = ? AND actor_type IN ({marks}) "
                "AND next_fire <= ? ORDER BY next_fire LIMIT ?", (namespace, *types, now, limit)).fetchall()
            return [ReminderRecord.from_json(r[0]) for r in rows]

        return await self._worker.run(read)

    async def advance_reminder(self, record: ReminderRecord, next_fire: float | None, fired: int) -> bool:
        return (await self.advance_reminders([(record, next_fire, fired)]))[0]

    async def advance_reminders(self, ticks: Sequence[tuple[ReminderRecord, float | None, int]]) -> list[bool]:
        """Every tick in one transaction: one lock and one commit however many are due."""
        where = "namespace = ? AND actor_type = ? AND actor_id = ? AND name = ? AND next_fire = ?"

        def write(conn: sqlite3.Connection) -> list[bool]:
            done = []
            for record, next_fire, fired in ticks:
                args = (record.namespace, record.actor_type, record.actor_id, record.name, record.next_fire)
                if next_fire is None:
                    cursor = conn.execute(f"DELETE FROM tandem_actor_reminders WHERE {where}", args)
                else:
                    cursor = conn.execute(f"UPDATE tandem_actor_reminders SET record = ?, next_fire = ? WHERE {where}",
                                          (record.to_json(next_fire=next_fire, fired=fired), next_fire, *args))
                done.append(cursor.rowcount == 1)
            return done

        return await self._worker.run(lambda: self._worker.write(write))
