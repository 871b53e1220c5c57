"""Conformance suite for ``state.*`` drivers (the contract in :mod:`tandem.sidecar.components.state`).

Subclass :class:`StateStoreConformance` under a ``Test…`` name and define:

``store`` (fixture, required)
    Yields an *initialised* :class:`~tandem.sidecar.components.state.StateStore`
    and closes it afterwards. It may be function-scoped (a fresh store per test)
    or reuse one shared server: every test writes only keys under its own
    prefix (``conformance-state-<uuid>||``) and deletes them when it ends.

Class attributes a subclass may set:

``invalid_etag`` (``"not-an-etag"``)
    A string this store could never have issued as an ETag; the store must
    answer it with :class:`~tandem.sidecar.components.state.ETagInvalid`.
``ttl_grace`` (``0.5``)
    Seconds past a key's TTL after which it must be gone (clock granularity).

Tests of a feature the store does not declare in ``features()`` are skipped:
ETags and first-write need ``ETAG``, :meth:`transact` needs ``TRANSACTIONAL``
(its all-or-nothing test also ``ETAG``), expiry needs ``TTL`` and the Query API
``QUERY_API``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import ClassVar

import anyio
import pytest

from ..components.state import (
    Concurrency,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    SetRequest,
    StateFeature,
    StateStore,
)
from ..components.state_query import QueryItem, parse_query
from . import ConformanceSuite, unique

__all__ = ["StateStoreConformance"]

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
FIRST_WRITE = Concurrency.FIRST_WRITE


class StateStoreConformance(ConformanceSuite):
    """The state store contract as tests; see the module docstring for the fixture and attributes."""

    invalid_etag: ClassVar[str] = "not-an-etag"
    ttl_grace: ClassVar[float] = 0.5

    _prefix: str
    _written: set[str]

    @pytest.fixture
    def store(self) -> StateStore:
        pytest.fail(f"{type(self).__name__} must define a 'store' fixture yielding an initialised StateStore")

    @pytest.fixture(autouse=True)
    async def _conformance_state_keys(self, store: StateStore) -> AsyncIterator[None]:
        """A fresh key prefix per test; the keys written under it are deleted afterwards."""
        self._prefix = unique("state") + "||"
        self._written = set()
        yield
        for key in sorted(self._written):
            with contextlib.suppress(Exception):
                await store.delete(DeleteRequest(key))

    # -- helpers --------------------------------------------------------------------

    def key(self, name: str) -> str:
        """A key of this test (``<prefix>||name``), deleted when the test ends."""
        key = self._prefix + name
        self._written.add(key)
        return key

    @staticmethod
    def require(store: StateStore, *features: StateFeature) -> None:
        """Skip the test unless ``store`` declares every feature."""
        missing = [f.value for f in features if f.value not in store.features()]
        if missing:
            pytest.skip(f"{type(store).__name__} does not declare {', '.join(missing)}")

    @staticmethod
    async def put(store: StateStore, key: str, value: bytes, *, etag: str | None = None, ttl: int | None = None,
                  concurrency: Concurrency | None = None) -> str | None:
        """Set ``key``, then return its ETag as read back."""
        await store.set(SetRequest(key, value, etag=etag, ttl=ttl, concurrency=concurrency))
        got = await store.get(GetRequest(key))
        assert got is not None, f"{key!r} is missing right after it was set"
        return got.etag

    async def etag_of(self, store: StateStore, key: str, value: bytes, *, etag: str | None = None,
                      concurrency: Concurrency | None = None) -> str:
        """Like :meth:`put`, for ``ETAG`` stores: the ETag must be a non-empty string."""
        new = await self.put(store, key, value, etag=etag, concurrency=concurrency)
        assert isinstance(new, str) and new, f"an ETAG store returned no etag for {key!r}: {new!r}"
        return new

    @staticmethod
    async def data(store: StateStore, key: str) -> bytes | None:
        got = await store.get(GetRequest(key))
        return None if got is None else got.data

    # -- reads and writes -----------------------------------------------------------

    async def test_get_missing_key_returns_none(self, store: StateStore) -> None:
        assert await store.get(GetRequest(self.key("never-written"))) is None

    @pytest.mark.parametrize("value", [
        b'{"a": [1, 2.50, "\xc3\xa9", "\\u00e9"], "b": null}',
        b'"a JSON string"',
        b'  {"spaced" :  1 }\n',
        b"12345678901234567890.5",
        b'"' + b"x" * 100_000 + b'"',
    ], ids=["object", "string", "whitespace", "number", "100kB"])
    async def test_set_then_get_returns_the_exact_bytes(self, store: StateStore, value: bytes) -> None:
        key = self.key("k")
        await store.set(SetRequest(key, value))
        got = await store.get(GetRequest(key))
        assert got is not None and got.data == value

    async def test_set_without_etag_overwrites(self, store: StateStore) -> None:
        key = self.key("k")
        await store.set(SetRequest(key, b'"one"'))
        await store.set(SetRequest(key, b'"two"'))
        assert await self.data(store, key) == b'"two"'

    async def test_keys_are_independent(self, store: StateStore) -> None:
        a, b = self.key("a"), self.key("b")
        await store.set(SetRequest(a, b"1"))
        await store.set(SetRequest(b, b"2"))
        await store.delete(DeleteRequest(a))
        assert await self.data(store, a) is None and await self.data(store, b) == b"2"

    async def test_delete_without_etag(self, store: StateStore) -> None:
        key = self.key("k")
        await store.delete(DeleteRequest(self.key("missing")))  # a missing key is not an error
        await store.set(SetRequest(key, b"1"))
        await store.delete(DeleteRequest(key))
        assert await store.get(GetRequest(key)) is None
        await store.delete(DeleteRequest(key))  # twice is fine too

    # -- ETags --------------------------------------------------------------------------

    async def test_etag_changes_on_every_write(self, store: StateStore) -> None:
        self.require(store, StateFeature.ETAG)
        key = self.key("k")
        first = await self.etag_of(store, key, b"1")
        second = await self.etag_of(store, key, b"1")  # the same value: still a new etag
        third = await self.etag_of(store, key, b"2", etag=second)
        assert len({first, second, third}) == 3
        got = await store.get(GetRequest(key))
        assert got is not None and got.etag == third  # reading does not change it

    async def test_set_with_current_etag_succeeds_and_stale_etag_fails(self, store: StateStore) -> None:
        self.require(store, StateFeature.ETAG)
        key = self.key("k")
        stale = await self.etag_of(store, key, b"1")
        current = await self.etag_of(store, key, b"2", etag=stale)
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key, b"3", etag=stale))
        got = await store.get(GetRequest(key))
        assert got is not None and (got.data, got.etag) == (b"2", current)  # untouched by the failed write

    async def test_etag_on_missing_key_is_a_mismatch(self, store: StateStore) -> None:
        self.require(store, StateFeature.ETAG)
        issued = await self.etag_of(store, self.key("other"), b"1")  # well-formed, but not this key's
        missing = self.key("missing")
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(missing, b"1", etag=issued))
        with pytest.raises(ETagMismatch):
            await store.delete(DeleteRequest(missing, etag=issued))
        assert await store.get(GetRequest(missing)) is None

    async def test_etag_of_a_deleted_key_is_a_mismatch(self, store: StateStore) -> None:
        self.require(store, StateFeature.ETAG)
        key = self.key("k")
        etag = await self.etag_of(store, key, b"1")
        await store.delete(DeleteRequest(key))
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key, b"2", etag=etag))
        assert await store.get(GetRequest(key)) is None

    async def test_invalid_etag_is_rejected(self, store: StateStore) -> None:
        self.require(store, StateFeature.ETAG)
        key = self.key("k")
        etag = await self.etag_of(store, key, b"1")
        with pytest.raises(ETagInvalid):
            await store.set(SetRequest(key, b"2", etag=self.invalid_etag))
        with pytest.raises(ETagInvalid):
            await store.delete(DeleteRequest(key, etag=self.invalid_etag))
        got = await store.get(GetRequest(key))
        assert got is not None and (got.data, got.etag) == (b"1", etag)

    async def test_delete_with_etag(self, store: StateStore) -> None:
        self.require(store, StateFeature.ETAG)
        key = self.key("k")
        stale = await self.etag_of(store, key, b"1")
        current = await self.etag_of(store, key, b"2")
        with pytest.raises(ETagMismatch):
            await store.delete(DeleteRequest(key, etag=stale))
        assert await self.data(store, key) == b"2"
        await store.delete(DeleteRequest(key, etag=current))
        assert await store.get(GetRequest(key)) is None

    async def test_first_write(self, store: StateStore) -> None:
        self.require(store, StateFeature.ETAG)
        key = self.key("k")
        await store.set(SetRequest(key, b"1", concurrency=FIRST_WRITE))  # missing: allowed
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key, b"2", concurrency=FIRST_WRITE))  # exists now
        assert await self.data(store, key) == b"1"
        current = await self.etag_of(store, key, b"3")  # last-write (the default) still overwrites
        stale = current
        current = await self.etag_of(store, key, b"4", etag=current, concurrency=FIRST_WRITE)  # etag decides
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key, b"5", etag=stale, concurrency=FIRST_WRITE))
        got = await store.get(GetRequest(key))
        assert got is not None and (got.data, got.etag) == (b"4", current)

    # -- bulk -----------------------------------------------------------------------------

    async def test_bulk_get_returns_every_key_in_order(self, store: StateStore) -> None:
        x, y, z = self.key("x"), self.key("y"), self.key("z")
        await store.set(SetRequest(x, b"1"))
        await store.set(SetRequest(z, b"3"))
        items = await store.bulk_get([GetRequest(z), GetRequest(y), GetRequest(x)])
        assert [(i.key, i.data, i.error) for i in items] == [(z, b"3", None), (y, None, None), (x, b"1", None)]
        if StateFeature.ETAG.value in store.features():
            single = await store.get(GetRequest(x))
            assert single is not None and items[2].etag == single.etag and items[2].etag
            assert items[1].etag is None
        assert await store.bulk_get([]) == []

    async def test_bulk_set_and_bulk_delete(self, store: StateStore) -> None:
        keys = [self.key(f"k{i}") for i in range(5)]
        await store.bulk_set([SetRequest(k, f'"{i}"'.encode()) for i, k in enumerate(keys)])
        items = await store.bulk_get([GetRequest(k) for k in keys])
        assert [i.data for i in items] == [f'"{i}"'.encode() for i in range(5)]
        await store.bulk_delete([DeleteRequest(k) for k in keys[:3]])
        items = await store.bulk_get([GetRequest(k) for k in keys])
        assert [i.data for i in items] == [None, None, None, b'"3"', b'"4"']

    # -- transactions ---------------------------------------------------------------------

    async def test_transaction_applies_every_operation(self, store: StateStore) -> None:
        self.require(store, StateFeature.TRANSACTIONAL)
        a, b, gone, tmp = self.key("a"), self.key("b"), self.key("gone"), self.key("tmp")
        etag = await self.put(store, a, b"1")  # None unless the store has ETags
        await store.set(SetRequest(gone, b"x"))
        await store.transact([
            SetRequest(a, b"2", etag=etag), SetRequest(b, b"new"), DeleteRequest(gone),
            SetRequest(tmp, b"t"), DeleteRequest(tmp),  # later operations see earlier ones
        ])
        items = await store.bulk_get([GetRequest(k) for k in (a, b, gone, tmp)])
        assert [i.data for i in items] == [b"2", b"new", None, None]

    async def test_transaction_is_all_or_nothing(self, store: StateStore) -> None:
        self.require(store, StateFeature.TRANSACTIONAL, StateFeature.ETAG)
        a, b, c = self.key("a"), self.key("b"), self.key("c")
        await store.set(SetRequest(a, b"1"))
        await store.set(SetRequest(c, b"1"))
        stale = await self.etag_of(store, b, b"1")
        await store.set(SetRequest(b, b"2"))
        before = [(i.data, i.etag) for i in await store.bulk_get([GetRequest(k) for k in (a, b, c)])]
        for bad in (SetRequest(b, b"3", etag=stale), DeleteRequest(b, etag=stale),
                    SetRequest(self.key("new"), b"3", etag=stale)):
            with pytest.raises(ETagMismatch):
                await store.transact([SetRequest(a, b"changed"), DeleteRequest(c), bad])
        with pytest.raises(ETagInvalid):
            await store.transact([SetRequest(a, b"changed"), DeleteRequest(c),
                                  SetRequest(b, b"3", etag=self.invalid_etag)])
        after = [(i.data, i.etag) for i in await store.bulk_get([GetRequest(k) for k in (a, b, c)])]
        assert after == before
        assert await store.get(GetRequest(self.key("new"))) is None

    # -- TTL ------------------------------------------------------------------------------

    async def test_ttl_expires_keys_and_minus_one_removes_the_expiry(self, store: StateStore) -> None:
        self.require(store, StateFeature.TTL)
        short, kept, long = self.key("short"), self.key("kept"), self.key("long")
        started = time.time()
        await store.set(SetRequest(kept, b'"kept"', ttl=1))
        await store.set(SetRequest(kept, b'"kept2"', ttl=-1))
        await store.set(SetRequest(long, b'"long"', ttl=100))
        etag = await self.put(store, short, b'"short"', ttl=1)
        got = await store.get(GetRequest(long))
        assert got is not None
        if "ttlExpireTime" in got.metadata:  # optional; when reported, Dapr's RFC 3339 form and right
            stamp = got.metadata["ttlExpireTime"]
            assert _RFC3339.fullmatch(stamp), stamp
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()
            assert abs(when - (started + 100)) < 3
            kept_now = await store.get(GetRequest(kept))
            assert kept_now is not None and "ttlExpireTime" not in kept_now.metadata

        await anyio.sleep(1.0 + self.ttl_grace)
        assert await store.get(GetRequest(short)) is None
        assert [i.data for i in await store.bulk_get([GetRequest(short), GetRequest(kept)])] == [None, b'"kept2"']
        if StateFeature.QUERY_API.value in store.features():
            page = await store.query(parse_query({}), self._prefix)
            assert sorted(i.key for i in page.results) == sorted([kept, long])
        if StateFeature.ETAG.value in store.features():
            assert etag
            with pytest.raises(ETagMismatch):  # expired behaves as absent
                await store.set(SetRequest(short, b"2", etag=etag))
            await store.set(SetRequest(short, b'"again"', concurrency=FIRST_WRITE))
            assert await self.data(store, short) == b'"again"'

    # -- Query API ------------------------------------------------------------------------

    async def _people(self, store: StateStore) -> dict[str, bytes]:
        rows = {
            self.key("p1"): b'{"name": "Ann", "city": "Seattle", "age": 31}',
            self.key("p2"): b'{"name": "Bob", "city": "Portland", "age": 25}',
            self.key("p3"): b'{"name": "Cid", "city": "Seattle", "age": 47}',
            self.key("p4"): b'{"name": "Dee", "city": "Seattle", "age": 19}',
            self.key("p5"): b'{"name": "Eve", "city": "Boise", "age": 52}',
        }
        for key, value in rows.items():
            await store.set(SetRequest(key, value))
        return rows

    async def test_query_filters_the_keys_under_the_prefix(self, store: StateStore) -> None:
        self.require(store, StateFeature.QUERY_API)
        rows = await self._people(store)
        outside = unique("state") + "||p1"  # another app's key that would match
        self._written.add(outside)
        await store.set(SetRequest(outside, b'{"name": "Zed", "city": "Seattle", "age": 1}'))
        page = await store.query(parse_query({"filter": {"EQ": {"city": "Seattle"}}}), self._prefix)
        found = {i.key: i.data for i in page.results}
        assert found == {k: v for k, v in rows.items() if b"Seattle" in v}
        assert page.token is None
        if StateFeature.ETAG.value in store.features():
            for item in page.results:
                got = await store.get(GetRequest(item.key))
                assert got is not None and item.etag == got.etag

    async def test_query_sorts_and_pages(self, store: StateStore) -> None:
        self.require(store, StateFeature.QUERY_API)
        rows = await self._people(store)
        query = parse_query({"filter": {"GT": {"age": 20}}, "sort": [{"key": "age", "order": "DESC"}],
                             "page": {"limit": 2}})
        seen: list[QueryItem] = []
        token: str | None = None
        for _ in range(10):
            page = await store.query(dataclasses.replace(query, token=token), self._prefix)
            assert len(page.results) <= 2
            seen.extend(page.results)
            token = page.token
            if token is None:
                break
        ages_52_47_31_25 = ["p5", "p3", "p1", "p2"]
        assert [i.key for i in seen] == [self._prefix + k for k in ages_52_47_31_25]
        assert all(i.data == rows[i.key] for i in seen)
