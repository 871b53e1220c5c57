"""Built-in state stores beyond the conformance kit (test_conformance_builtin.py): their ETag
formats, Dapr's TTL metadata, atomic bulk writes, binary values, and SQLite specifics."""
from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.state import (
    Concurrency,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    SetRequest,
    StateError,
    StateStore,
)
from tandem.sidecar.drivers.memory_state import MemoryStateStore
from tandem.sidecar.drivers.sqlite_state import SqliteStateStore

pytestmark = pytest.mark.anyio

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
FIRST = Concurrency.FIRST_WRITE


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def meta(type_: str, **props: str) -> ComponentMetadata:
    return ComponentMetadata(name="statestore", type=type_, properties=props)


async def open_sqlite(path: Path, **props: str) -> SqliteStateStore:
    store = SqliteStateStore()
    await store.init(meta("state.sqlite", connectionString=str(path), **props))
    return store


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    s: StateStore
    if request.param == "memory":
        s = MemoryStateStore()
        await s.init(meta("state.in-memory"))
    else:
        s = await open_sqlite(tmp_path / "state.db")
    yield s
    await s.close()


def bogus_etag(store: StateStore) -> str:
    """A well-formed ETag the store could have issued, but did not."""
    return "999999" if isinstance(store, MemoryStateStore) else "00000000-0000-4000-8000-000000000000"


async def put(store: StateStore, key: str, value: bytes, *, etag: str | None = None,
              ttl: int | None = None) -> str:
    """Set, then return the new ETag."""
    await store.set(SetRequest(key=key, value=value, etag=etag, ttl=ttl))
    got = await store.get(GetRequest(key))
    assert got is not None and got.etag
    new: str = got.etag
    return new


# -- both built-in stores ------------------------------------------------------------


async def test_features(store: StateStore) -> None:
    assert store.features() == frozenset({"ETAG", "TRANSACTIONAL", "TTL", "QUERY_API"})


@pytest.mark.parametrize("etag", ["12ab", "{x}", " 1"])
async def test_etag_formats(store: StateStore, etag: str) -> None:
    """Integer ETags in memory, UUIDs in SQLite (as Dapr's): the other store's kind is invalid."""
    current = await put(store, "k", b"1")
    assert current.isdigit() if isinstance(store, MemoryStateStore) else len(current) == 36
    other = "12345" if isinstance(store, SqliteStateStore) else "8a0f7b4e-3a4f-4a43-9d7c-3a1b2c3d4e5f"
    for bad in (etag, other):
        with pytest.raises(ETagInvalid):
            await store.set(SetRequest("k", b"2", etag=bad))
        with pytest.raises(ETagInvalid):
            await store.delete(DeleteRequest("k", etag=bad))
    with pytest.raises(ETagMismatch):  # well-formed but never issued for this key
        await store.set(SetRequest("k", b"2", etag=bogus_etag(store)))


async def test_empty_etag_means_none(store: StateStore) -> None:
    await put(store, "k", b"1")
    await store.set(SetRequest("k", b"2", etag=""))
    await store.delete(DeleteRequest("k", etag=""))
    assert await store.get(GetRequest("k")) is None


async def test_no_metadata_without_ttl(store: StateStore) -> None:
    await put(store, "k", b"1")
    got = await store.get(GetRequest("k"))
    assert got is not None and dict(got.metadata) == {}


async def test_ttl_expire_time_metadata(store: StateStore) -> None:
    await put(store, "k", b"1", ttl=100)
    got = await store.get(GetRequest("k"))
    assert got is not None
    stamp = got.metadata["ttlExpireTime"]
    assert RFC3339.fullmatch(stamp)
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    assert abs(when - (time.time() + 100)) < 3
    item = (await store.bulk_get([GetRequest("k")]))[0]
    assert item.metadata["ttlExpireTime"] == stamp


@pytest.mark.parametrize("ttl", [None, -1, 0])
async def test_set_without_ttl_clears_expiry(store: StateStore, ttl: int | None) -> None:
    await put(store, "k", b"1", ttl=100)
    await store.set(SetRequest("k", b"2", ttl=ttl))
    got = await store.get(GetRequest("k"))
    assert got is not None and got.data == b"2" and "ttlExpireTime" not in got.metadata


async def test_invalid_ttl(store: StateStore) -> None:
    with pytest.raises(StateError):
        await store.set(SetRequest("k", b"1", ttl=-2))
    assert await store.get(GetRequest("k")) is None


async def test_bulk_set_and_delete_are_atomic(store: StateStore) -> None:
    await store.bulk_set([SetRequest("a", b"1"), SetRequest("b", b"2")])
    with pytest.raises(ETagMismatch):
        await store.bulk_set([SetRequest("a", b"9"), SetRequest("b", b"9", etag=bogus_etag(store))])
    with pytest.raises(ETagMismatch):
        await store.bulk_delete([DeleteRequest("a"), DeleteRequest("b", etag=bogus_etag(store))])
    items = await store.bulk_get([GetRequest("a"), GetRequest("b")])
    assert [i.data for i in items] == [b"1", b"2"]
    await store.bulk_delete([DeleteRequest("a"), DeleteRequest("b")])
    assert [i.data for i in await store.bulk_get([GetRequest("a"), GetRequest("b")])] == [None, None]


async def test_empty_transaction_and_bulk_get(store: StateStore) -> None:
    await store.transact([])
    await store.bulk_set([])
    assert await store.bulk_get([]) == []


async def test_bulk_get_repeats_duplicate_keys(store: StateStore) -> None:
    await put(store, "x", b"1")
    items = await store.bulk_get([GetRequest("x"), GetRequest("x")])
    assert [(i.key, i.data) for i in items] == [("x", b"1"), ("x", b"1")]


async def test_binary_values_roundtrip(store: StateStore) -> None:
    value = bytes(range(256))
    await put(store, "bin", value)
    got = await store.get(GetRequest("bin"))
    assert got is not None and got.data == value


async def test_memory_sweep_drops_expired() -> None:
    store = MemoryStateStore()
    await store.init(meta("state.in-memory"))
    try:
        await store.set(SetRequest("a", b"1", ttl=5))
        await store.set(SetRequest("b", b"1", ttl=5))
        await store.set(SetRequest("b", b"2"))  # rewritten without ttl: must survive the sweep
        assert store.sweep(time.time() + 10) == 1
        assert await store.get(GetRequest("a")) is None
        assert (await store.get(GetRequest("b"))) is not None
    finally:
        await store.close()


# -- SQLite specifics ----------------------------------------------------------------


async def test_sqlite_binary_stored_as_base64(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "s.db")
    try:
        await store.set(SetRequest("bin", b"\xff\x00\xfe"))
        await store.set(SetRequest("json", b'{"x":1}'))
    finally:
        await store.close()
    with closing(sqlite3.connect(tmp_path / "s.db")) as raw, raw:
        rows = {k: (v, b) for k, v, b in raw.execute("SELECT key, value, is_binary FROM state")}
    assert rows == {"bin": ("/wD+", 1), "json": ('{"x":1}', 0)}


async def test_sqlite_durable_across_reopen(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "d.db")
    etag = await put(store, "k", b'"v"', ttl=100)
    await store.close()
    again = await open_sqlite(tmp_path / "d.db")
    try:
        got = await again.get(GetRequest("k"))
        assert got is not None and got.data == b'"v"' and got.etag == etag and "ttlExpireTime" in got.metadata
        await again.set(SetRequest("k", b'"w"', etag=etag))
    finally:
        await again.close()


async def test_sqlite_two_instances_share_file(tmp_path: Path) -> None:
    a, b = await open_sqlite(tmp_path / "s.db"), await open_sqlite(tmp_path / "s.db")
    try:
        etag = await put(a, "k", b"1")
        got = await b.get(GetRequest("k"))
        assert got is not None and got.data == b"1" and got.etag == etag
        await b.set(SetRequest("k", b"2", etag=etag))
        with pytest.raises(ETagMismatch):
            await a.set(SetRequest("k", b"3", etag=etag))
        with pytest.raises(ETagMismatch):
            await a.set(SetRequest("k", b"3", concurrency=FIRST))
        await a.delete(DeleteRequest("k"))
        assert await b.get(GetRequest("k")) is None
    finally:
        await a.close()
        await b.close()


async def test_sqlite_concurrent_etag_increments(tmp_path: Path) -> None:
    a, b = await open_sqlite(tmp_path / "c.db"), await open_sqlite(tmp_path / "c.db")
    await a.set(SetRequest("counter", b"0"))

    async def increment(store: StateStore) -> None:
        while True:
            got = await store.get(GetRequest("counter"))
            assert got is not None
            try:
                await store.set(SetRequest("counter", str(int(got.data) + 1).encode(), etag=got.etag))
                return
            except ETagMismatch:
                await asyncio.sleep(0)

    try:
        await asyncio.gather(*(increment(a if i % 2 else b) for i in range(100)))
        got = await b.get(GetRequest("counter"))
        assert got is not None and got.data == b"100"
    finally:
        await a.close()
        await b.close()


async def test_sqlite_schema_matches_dapr(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "s.db", tableName="mystate", metadataTableName="mymeta")
    await store.close()
    with closing(sqlite3.connect(tmp_path / "s.db")) as raw, raw:
        cols = [(r[1], r[2].upper()) for r in raw.execute("PRAGMA table_info(mystate)")]
        meta_cols = [r[1] for r in raw.execute("PRAGMA table_info(mymeta)")]
        migrations = raw.execute("SELECT value FROM mymeta WHERE key = 'migrations'").fetchone()
        mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
    assert cols == [("key", "TEXT"), ("value", "TEXT"), ("is_binary", "BOOLEAN"), ("etag", "TEXT"),
                    ("expiration_time", "TIMESTAMP"), ("update_time", "TIMESTAMP")]
    assert meta_cols == ["key", "value"]
    assert migrations == ("1",)
    assert mode == "wal"


async def test_sqlite_reads_rows_written_by_dapr(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "s.db")
    try:
        with closing(sqlite3.connect(tmp_path / "s.db")) as raw, raw:  # the layout and time format Dapr writes
            etag = "5f0c2a1e-8f5d-4c4e-9a55-0a2f4e6b7c8d"
            raw.execute("INSERT INTO state (key, value, is_binary, etag, update_time, expiration_time) VALUES "
                        "('live', '{\"n\":1}', 0, ?, CURRENT_TIMESTAMP, DATETIME(CURRENT_TIMESTAMP, '+60 seconds'))",
                        (etag,))
            raw.execute("INSERT INTO state (key, value, is_binary, etag, expiration_time) VALUES "
                        "('old', '1', 0, ?, '2000-01-01 00:00:00')", (etag,))
        got = await store.get(GetRequest("live"))
        assert got is not None and got.data == b'{"n":1}' and got.etag == etag
        assert RFC3339.fullmatch(got.metadata["ttlExpireTime"])
        assert await store.get(GetRequest("old")) is None
        assert await store.cleanup_expired() == 1
        assert await store.cleanup_expired() == -1  # claimed moments ago: skipped
        with closing(sqlite3.connect(tmp_path / "s.db")) as raw, raw:
            assert [r[0] for r in raw.execute("SELECT key FROM state")] == ["live"]
            assert raw.execute("SELECT count(*) FROM metadata WHERE key = 'last-cleanup-state'").fetchone() == (1,)
    finally:
        await store.close()


@pytest.mark.parametrize("conn", [":memory:", "file:{dir}/u.db?_pragma=busy_timeout(5000)&_txlock=immediate",
                                  "{dir}/with space.db"])
async def test_sqlite_connection_string_forms(tmp_path: Path, conn: str) -> None:
    store = SqliteStateStore()
    await store.init(meta("state.sqlite", connectionString=conn.format(dir=tmp_path), cleanupInterval="0"))
    try:
        await store.set(SetRequest("k", b"1"))
        assert (await store.get(GetRequest("k"))) is not None
    finally:
        await store.close()


@pytest.mark.parametrize("props", [
    {},
    {"connectionString": ""},
    {"connectionString": "x.db", "tableName": "state; DROP TABLE x"},
    {"connectionString": "x.db", "metadataTableName": "1meta"},
    {"connectionString": "x.db", "timeout": "soon"},
    {"connectionString": "x.db", "timeout": "500ms"},
    {"connectionString": "x.db", "cleanupInterval": "1 hour"},
    {"connectionString": "x.db", "disableWAL": "maybe"},
    {"connectionString": "x.db?_pragma=evil;stuff"},
])
async def test_sqlite_bad_metadata(tmp_path: Path, props: dict[str, str]) -> None:
    with pytest.raises(MetadataError) as info:
        await SqliteStateStore().init(meta("state.sqlite", **props))
    assert "'" in str(info.value)  # names the field


async def test_sqlite_errors_are_state_errors(tmp_path: Path) -> None:
    with pytest.raises(StateError):
        await open_sqlite(tmp_path / "no" / "such" / "dir" / "s.db")
    store = await open_sqlite(tmp_path / "s.db")
    await store.close()
    with pytest.raises(StateError):
        await store.get(GetRequest("k"))
